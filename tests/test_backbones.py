"""Modern backbones: ModernBERT-architecture encoders (the Ettin ladder) and decoder-only Pythia
(GPT-NeoX) models built from scratch, last-token pooling, and LoRA adapters (peft)."""
import csv
import json

import numpy as np
import pytest
import torch

from dense_scaling import build
from dense_scaling.model import lora
from dense_scaling.model.biencoder import BiEncoder, build_biencoder, load_encoder
from dense_scaling.model.module import ContrastiveRetriever, adamw
from dense_scaling.train import run
from tests.helpers.tiny import TINY_DATA

TINY = ["training.batch_size=8", "training.num_negatives=8", "training.num_workers=0", "trainer.precision=32",
        "eval=none", *TINY_DATA]


def _logged_losses(run_dir) -> list[float]:
    with open(run_dir / "logs" / "metrics.csv") as file:
        return [float(r["train/loss"]) for r in csv.DictReader(file) if r.get("train/loss")]


@pytest.mark.parametrize("model, pooling, kind", [("modernbert_micro", "mean", "ModernBertModel"),
                                                  ("pythia_micro", "last", "GPTNeoXModel")])
def test_a_from_scratch_run_of_each_family_lowers_the_loss(compose_train, tmp_path, model, pooling, kind):
    cfg = compose_train(f"model={model}", "training.max_steps=60", "training.warmup_steps=5", *TINY)
    assert cfg.pooling == pooling  # decoder configs default to last-token pooling
    results = run(cfg, tmp_path / "run")
    losses = _logged_losses(tmp_path / "run")
    assert len(losses) == 6 and np.mean(losses[-2:]) < losses[0] - 0.3, losses
    saved = BiEncoder.from_pretrained(tmp_path / "run" / "model")
    assert type(saved.encoder).__name__ == kind and saved.pooling == pooling
    assert results.N_trainable == results.N_total


def test_the_ladders_have_their_published_sizes(compose_train):
    # built on the meta device (shapes, no weights); N does not depend on the vocabulary
    def shaped(name):
        cfg = compose_train(f"model={name}")
        with torch.device("meta"):
            return cfg, build.biencoder(cfg, 100, {"pad_token_id": 0})

    for name, expected in {"pythia_14m": 1_189_888, "pythia_70m": 18_915_328, "pythia_160m": 85_056_000}.items():
        assert shaped(name)[1].non_embedding_parameters() == expected, name  # Pythia's paper's non-embedding counts
    for size, millions in {"17m": 17, "32m": 32, "68m": 68, "150m": 150, "400m": 400, "1b": 1000}.items():
        _, encoder = shaped(f"ettin_{size}")
        total = encoder.non_embedding_parameters() + 50368 * encoder.encoder.config.hidden_size  # Ettin's vocab
        assert total / 1e6 == pytest.approx(millions, rel=0.03), size  # the size each is named by (1b: 1.03B)
        cfg, decoder = shaped(f"ettin_dec_{size}")  # its paired decoder: the same shape and N, causal, last token
        assert type(decoder.encoder).__name__ == "ModernBertDecoderModel" and cfg.pooling == "last"
        assert decoder.non_embedding_parameters() == encoder.non_embedding_parameters(), size


@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("model_type", ["gpt_neox", "modernbert-decoder"])
def test_last_token_pooling_takes_the_last_real_token(padding_side, model_type):
    torch.manual_seed(0)
    arch = {"model_type": model_type, "num_hidden_layers": 1, "hidden_size": 16, "num_attention_heads": 2,
            "intermediate_size": 32, "use_cache": False}
    encoder = load_encoder("scratch", arch=arch, vocab_size=30, special_tokens={"pad_token_id": 0})
    model = BiEncoder(encoder, proj_dim=8, pooling="last").eval()
    ids, mask = torch.tensor([[5, 6, 7, 0, 0]]), torch.tensor([[1, 1, 1, 0, 0]])
    if padding_side == "left":
        ids, mask = ids.roll(2, 1), mask.roll(2, 1)
    with torch.no_grad():
        hidden = model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        expected = model.projection(hidden[0, 2 if padding_side == "right" else 4])
        torch.testing.assert_close(model.encode(ids, mask)[0], expected)
        # a causal model: the last real token's state equals that of the unpadded text
        unpadded = model.encode(torch.tensor([[5, 6, 7]]), torch.ones(1, 3, dtype=torch.long))
        torch.testing.assert_close(model.encode(ids, mask), unpadded, atol=1e-5, rtol=1e-5)


def test_dropout_reaches_every_familys_own_settings():
    for arch, names in [({"model_type": "modernbert", "hidden_size": 32, "num_attention_heads": 2,
                          "intermediate_size": 48, "num_hidden_layers": 1},
                         ("attention_dropout", "mlp_dropout", "embedding_dropout")),
                        ({"model_type": "gpt_neox", "hidden_size": 32, "num_attention_heads": 2,
                          "intermediate_size": 48, "num_hidden_layers": 1}, ("attention_dropout", "hidden_dropout"))]:
        config = load_encoder("scratch", arch=arch, vocab_size=40, dropout=0.25, special_tokens={"pad_token_id": 0}).config
        assert all(getattr(config, name) == 0.25 for name in names) and config.pad_token_id == 0
    with pytest.raises(ValueError, match="training.dropout=null"):
        load_encoder("scratch", arch={"model_type": "t5", "d_model": 16, "num_layers": 1}, vocab_size=40, dropout=0.1)


BERT = {"model_type": "bert", "num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 2,
        "intermediate_size": 64, "max_position_embeddings": 64}


def _batch(seed=0):
    generator = torch.Generator().manual_seed(seed)
    return {"query_ids": torch.randint(5, 60, (4, 6), generator=generator), "query_mask": torch.ones(4, 6, dtype=torch.long),
            "passage_ids": torch.randint(5, 60, (8, 10), generator=generator),
            "passage_mask": torch.ones(8, 10, dtype=torch.long), "positive_mask": torch.eye(4, 8, dtype=torch.bool)}


def test_lora_trains_only_the_adapters_and_the_projection_and_reloads_them(tmp_path):
    def lora_model(**lora_settings):
        torch.manual_seed(0)
        return build_biencoder("scratch", arch=BERT, vocab_size=60, dropout=0.0, proj_dim=16, similarity="cos",
                               temperature=0.05, lora_settings=lora_settings)

    model, base = lora_model(r=4, alpha=8, dropout=0.0, target_modules=None), lora_model().encoder  # the same base weights
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name or name.startswith("projection.") for name in trainable)
    # peft's default for BERT: query and value, each A [r, 32] and B [32, r], in both layers; plus the projection
    assert model.size_fields()["N_trainable"] == 2 * 2 * (4 * 32 + 32 * 4) + 32 * 16 + 16
    assert model.size_fields()["N"] == lora_model().size_fields()["N"]  # N is the backbone's; adapters are not counted

    module = ContrastiveRetriever(model)
    optimizer = adamw(model, lr=1e-2, weight_decay=0.01)
    for step in range(5):
        module.batch_loss(_batch(step)).backward()
        optimizer.step()
        optimizer.zero_grad()
    for name, p in model.named_parameters():
        changed = not torch.equal(p, before[name])
        assert changed == (name in trainable), name  # the adapters and the projection moved, nothing else

    model.save_pretrained(tmp_path / "model")
    assert json.loads((tmp_path / "model" / "adapter" / "adapter_config.json").read_text())["r"] == 4
    ids, mask = _batch(9)["passage_ids"], _batch(9)["passage_mask"]
    model.eval()
    with torch.no_grad():
        expected = model.encode(ids, mask)
        merged = BiEncoder.from_pretrained(tmp_path / "model").eval()  # encoder/ holds the adapters merged in
        torch.testing.assert_close(merged.encode(ids, mask), expected, atol=1e-5, rtol=1e-5)
        reloaded = BiEncoder(lora.load_adapters(base, tmp_path / "model" / "adapter"), proj_dim=16,
                             similarity="cos", temperature=0.05).eval()  # the untouched base plus the saved adapters
        reloaded.projection.load_state_dict(merged.projection.state_dict())
        torch.testing.assert_close(reloaded.encode(ids, mask), expected, atol=1e-5, rtol=1e-5)


def test_a_lora_run_states_trainable_and_total_parameters(compose_train, tmp_path):
    cfg = compose_train("model=pythia_micro", "training.max_steps=3", "training.warmup_steps=1", "lora.r=2", *TINY)
    results = json.loads(json.dumps(run(cfg, tmp_path / "run").to_json()))
    on_disk = json.loads((tmp_path / "run" / "results.json").read_text())
    assert on_disk == results
    # GPT-NeoX's fused query_key_value (64 -> 192) in 2 layers, rank 2; plus the projection 64 -> 768
    assert on_disk["N_trainable"] == 2 * (2 * 64 + 192 * 2) + 64 * 768 + 768
    assert on_disk["N_total"] > on_disk["N_trainable"] and on_disk["N"] == 100_096
    assert (tmp_path / "run" / "model" / "adapter" / "adapter_config.json").exists()


def test_lora_on_a_model_type_without_peft_defaults_names_its_modules():
    arch = {"model_type": "modernbert", "hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 48,
            "num_hidden_layers": 1}
    with pytest.raises(ValueError, match=r"lora.target_modules.*Wqkv"):
        build_biencoder("scratch", arch=arch, vocab_size=40, special_tokens={"pad_token_id": 0},
                        lora_settings={"r": 2, "alpha": 4})
    model = build_biencoder("scratch", arch=arch, vocab_size=40, proj_dim=8, special_tokens={"pad_token_id": 0},
                            lora_settings={"r": 2, "alpha": 4, "target_modules": ["Wqkv", "Wo"]})
    assert {n.split(".lora_")[0].split(".")[-1] for n, p in model.named_parameters() if "lora_" in n} == {"Wqkv", "Wo"}
    one = build_biencoder("scratch", arch=arch, vocab_size=40, proj_dim=8, special_tokens={"pad_token_id": 0},
                          lora_settings={"r": 2, "alpha": 4, "target_modules": "Wqkv"})  # lora.target_modules=Wqkv
    assert {n.split(".lora_")[0].split(".")[-1] for n, p in one.named_parameters() if "lora_" in n} == {"Wqkv"}
    with pytest.raises(ValueError, match=r"lora.target_modules=\['nope'\]"):
        build_biencoder("scratch", arch=arch, vocab_size=40, special_tokens={"pad_token_id": 0},
                        lora_settings={"r": 2, "alpha": 4, "target_modules": ["nope"]})


def test_a_lora_decoder_exports_to_sentence_transformers_with_equal_embeddings(tmp_path):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    from dense_scaling.data.tokenizer import from_vocab
    from tests.helpers.paths import SHARED_DATA

    vocab = SHARED_DATA / "vocab" / "bert-base-uncased" / "vocab.txt"
    if not vocab.is_file():
        pytest.skip(f"{vocab} not found")
    tokenizer = from_vocab(vocab)
    torch.manual_seed(0)
    arch = {"model_type": "gpt_neox", "num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 2,
            "intermediate_size": 64, "use_cache": False}
    model = build_biencoder("scratch", arch=arch, vocab_size=len(tokenizer), proj_dim=16, pooling="last",
                            similarity="cos", special_tokens={"pad_token_id": tokenizer.pad_token_id},
                            lora_settings={"r": 2, "alpha": 4})
    with torch.no_grad():  # adapters as if trained (peft starts B at zero, which would hide a lost adapter)
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    model.save_sentence_transformer(tmp_path / "st", tokenizer, max_query_length=8, max_passage_length=24)
    texts = ["the retriever ranks passages", "a decoder reads left to right and pools its last token", "short"]
    theirs = sentence_transformers.SentenceTransformer(str(tmp_path / "st"), device="cpu", local_files_only=True)
    assert theirs[1].pooling_mode == "lasttoken"
    batch = tokenizer(texts, truncation=True, max_length=24, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = model.eval().encode(batch["input_ids"], batch["attention_mask"])
    torch.testing.assert_close(theirs.encode_document(texts, convert_to_tensor=True), expected, atol=1e-5, rtol=0)
    assert BiEncoder.from_sentence_transformer(tmp_path / "st").pooling == "last"
    config = BiEncoder.from_sentence_transformer(tmp_path / "st", dropout=0.25).encoder.config  # GPT-NeoX's own names
    assert (config.hidden_dropout, config.attention_dropout) == (0.25, 0.25) and not hasattr(config, "hidden_dropout_prob")
