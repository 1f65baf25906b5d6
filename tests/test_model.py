import json

import pytest
import torch

from dense_scaling import build
from dense_scaling.model.biencoder import BiEncoder, build_biencoder, load_encoder


def _bert_non_embedding(layers: int, hidden: int, intermediate: int) -> int:
    """Kaplan's N for BERT: per layer QKV+output (4H^2+4H), FFN (2HI+I+H), two LayerNorms (4H);
    plus the embedding LayerNorm (2H)."""
    per_layer = 4 * hidden * hidden + 4 * hidden + 2 * hidden * intermediate + intermediate + hidden + 4 * hidden
    return layers * per_layer + 2 * hidden


@pytest.mark.parametrize("name, layers, hidden", [("bert_tiny", 2, 128), ("bert_base", 12, 768)]
                         + [(f"micro_L2_H{h}", 2, h) for h in (32, 48, 64, 96, 128)])
def test_non_embedding_parameters_match_the_architecture_formula(compose_train, name, layers, hidden):
    cfg = compose_train(f"model={name}", "init=scratch")
    model = build.biencoder(cfg, 30522)
    expected = _bert_non_embedding(layers, hidden, 4 * hidden)
    assert model.non_embedding_parameters() == expected
    assert model.non_embedding_parameters(include_projection=True) == expected + hidden * 768 + 768
    assert getattr(model.encoder, "pooler", None) is None  # no unused pooler


def test_all_24_miniatures_and_aliases_compose(compose_train):
    for layers in (2, 4, 6, 8, 10, 12):
        for hidden in (128, 256, 512, 768):
            cfg = compose_train(f"model=bert_L{layers}_H{hidden}")
            assert cfg.model.hub_id == f"google/bert_uncased_L-{layers}_H-{hidden}_A-{hidden // 64}"
    assert compose_train("model=bert_mini").model.hub_id == "google/bert_uncased_L-4_H-256_A-4"
    assert compose_train("model=bert_mini").model.name == "bert_mini"


def _tiny_encoder():
    arch = {"model_type": "bert", "num_hidden_layers": 1, "hidden_size": 32, "num_attention_heads": 2,
            "intermediate_size": 64}
    return load_encoder("scratch", arch=arch, vocab_size=50)


def test_mean_pooling_ignores_padding():
    model = BiEncoder(_tiny_encoder(), proj_dim=8).eval()
    ids = torch.tensor([[2, 5, 7, 3]])
    padded = torch.tensor([[2, 5, 7, 3, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    with torch.no_grad():
        plain = model.encode(ids, torch.ones_like(ids))
        with_pad = model.encode(padded, mask)
    torch.testing.assert_close(plain, with_pad, atol=1e-5, rtol=1e-5)


def test_cos_similarity_gives_unit_vectors():
    model = BiEncoder(_tiny_encoder(), proj_dim=8, similarity="cos", temperature=0.05).eval()
    with torch.no_grad():
        vectors = model.encode(torch.tensor([[2, 5, 3], [2, 9, 3]]), torch.ones(2, 3, dtype=torch.long))
    torch.testing.assert_close(vectors.norm(dim=-1), torch.ones(2))
    torch.testing.assert_close(model.score(vectors, vectors), vectors @ vectors.T / 0.05)


def test_pretrained_round_trip_through_a_local_folder(tmp_path):
    original = BiEncoder(_tiny_encoder(), proj_dim=8, pooling="cls", similarity="cos", temperature=0.1).eval()
    original.save_pretrained(tmp_path / "biencoder")
    loaded = BiEncoder.from_pretrained(tmp_path / "biencoder").eval()
    ids, mask = torch.tensor([[2, 5, 7, 3]]), torch.ones(1, 4, dtype=torch.long)
    with torch.no_grad():
        torch.testing.assert_close(original.encode(ids, mask), loaded.encode(ids, mask))
    assert (loaded.pooling, loaded.similarity, loaded.temperature) == ("cls", "cos", 0.1)

    # a Hugging Face encoder folder as model.hub_id with init=pretrained: the same weights
    original.encoder.save_pretrained(tmp_path / "hf")
    rebuilt = build_biencoder("pretrained", hub_id=str(tmp_path / "hf"), proj_dim=8)
    assert all(module.training for module in rebuilt.modules())  # dropout on: Lightning keeps the mode it finds
    rebuilt.eval()
    with torch.no_grad():
        expected = original.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        got = rebuilt.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(expected, got)


def test_uncached_hub_model_offline_says_how_to_proceed(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="init=scratch") as err:
        load_encoder("pretrained", hub_id="google/bert_uncased_L-2_H-128_A-2-not-cached")
    assert "local folder" in str(err.value)


def test_a_model_folder_asking_for_remote_code_does_not_run_it(tmp_path):
    # trust_remote_code stays off: a folder whose config points AutoModel at its own Python file
    # loads the stock architecture of its model_type, and that file is never imported
    _tiny_encoder().save_pretrained(tmp_path / "hf")
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
    (tmp_path / "hf" / "config.json").write_text(json.dumps(config))
    marker = tmp_path / "code_ran"
    (tmp_path / "hf" / "modeling_evil.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\nfrom transformers import BertModel as EvilModel\n"
    )
    encoder = load_encoder("pretrained", hub_id=str(tmp_path / "hf"))
    assert type(encoder).__module__.startswith("transformers.models.bert")
    assert not marker.exists()


def test_unknown_init_is_rejected():
    with pytest.raises(ValueError, match="pretrained, scratch"):
        load_encoder("random")
