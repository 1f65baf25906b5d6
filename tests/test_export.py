"""Export to sentence-transformers and back: the same embeddings from their encode as from ours, a model
card with the run's numbers, and a run that starts from an exported folder."""

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from dense_scaling import build
from dense_scaling.data.tokenizer import from_pretrained, from_vocab
from dense_scaling.evaluate import evaluate
from dense_scaling.export import main as export_main
from dense_scaling.model.biencoder import BiEncoder, build_biencoder, load_encoder
from dense_scaling.results import RunResults, format_metrics
from dense_scaling.train import run
from tests.helpers.config import compose_config
from tests.helpers.paths import SHARED_DATA
from tests.helpers.tiny import TINY_DATA, TINY_EVAL, TINY_RUN

sentence_transformers = pytest.importorskip("sentence_transformers")
VOCAB = SHARED_DATA / "vocab" / "bert-base-uncased" / "vocab.txt"
ARCH = {"model_type": "bert", "num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 2,
        "intermediate_size": 64, "max_position_embeddings": 128}
WORDS = "the retriever ranks passages by inner products of embeddings learnt from annotated query pairs".split()
# 100 texts of 1 to 70 words: some are cut at 8 query tokens or 24 passage tokens, some are not
TEXTS = [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(1 + (i * 13) % 70)) for i in range(100)]


def _ours(model, tokenizer, texts, max_length):
    batch = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model.eval().encode(batch["input_ids"], batch["attention_mask"])


def _assert_same_embeddings(model, tokenizer, folder, query_length, passage_length):
    theirs = sentence_transformers.SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    for encode, length in ((theirs.encode_query, query_length), (theirs.encode_document, passage_length),
                           (theirs.encode, passage_length)):
        expected = _ours(model, tokenizer, TEXTS, length)
        got = encode(TEXTS, convert_to_tensor=True, batch_size=16)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def tokenizer():
    if not VOCAB.is_file():
        pytest.skip(f"{VOCAB} not found")
    return from_vocab(VOCAB)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
@pytest.mark.parametrize("similarity", ["cos", "dot"])
def test_sentence_transformers_encodes_as_we_do(tmp_path, tokenizer, pooling, similarity):
    torch.manual_seed(0)
    model = BiEncoder(load_encoder("scratch", arch=ARCH, vocab_size=len(tokenizer)), proj_dim=16, pooling=pooling,
                      similarity=similarity, temperature=0.1)
    model.save_sentence_transformer(tmp_path / "st", tokenizer, max_query_length=8, max_passage_length=24)
    _assert_same_embeddings(model, tokenizer, tmp_path / "st", 8, 24)
    theirs = sentence_transformers.SentenceTransformer(str(tmp_path / "st"), device="cpu")
    assert theirs.similarity_fn_name == ("cosine" if similarity == "cos" else "dot")
    assert [type(m).__name__ for m in theirs] == ["Transformer", "Pooling", "Dense"] + (["Normalize"] if similarity == "cos" else [])
    assert theirs[1].pooling_mode == pooling and isinstance(theirs[2].activation_function, torch.nn.Identity)

    back = BiEncoder.from_sentence_transformer(tmp_path / "st")
    assert (back.pooling, back.similarity, back.temperature) == (pooling, similarity, 0.1)
    ours = {k: v for k, v in model.state_dict().items()}
    assert back.state_dict().keys() == ours.keys()
    for key, value in back.state_dict().items():
        torch.testing.assert_close(value, ours[key], atol=0, rtol=0)


def test_export_refuses_a_folder_that_holds_files(tmp_path, tokenizer):
    model = BiEncoder(load_encoder("scratch", arch=ARCH, vocab_size=len(tokenizer)), proj_dim=16)
    (tmp_path / "st").mkdir()
    (tmp_path / "st" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        model.save_sentence_transformer(tmp_path / "st", tokenizer, 8, 24)
    assert [p.name for p in tmp_path.iterdir()] == ["st"]  # no staging folder left behind


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A tiny quickstart run, evaluated: its folder holds model/ and a results.json with CE and ranking."""
    root = tmp_path_factory.mktemp("export")
    cfg = compose_config("train", root / "cache", root / "run", *TINY_RUN, *TINY_EVAL, "training.max_steps=4",
                         "~logger", "data.max_query_length=12", "data.max_passage_length=40", "proj_dim=24")
    GlobalHydra.instance().clear()
    run(cfg, root / "run")
    return root / "run"


def test_export_command_writes_a_folder_with_equal_embeddings_and_the_runs_numbers(trained_run, tmp_path, capsys):
    assert export_main([str(trained_run / "model"), str(tmp_path / "st")]) == 0
    assert "written:" in capsys.readouterr().out
    model = BiEncoder.from_pretrained(trained_run / "model")
    tokenizer = from_pretrained(str(trained_run / "model" / "tokenizer"))
    _assert_same_embeddings(model, tokenizer, tmp_path / "st", 12, 40)

    results = RunResults.read(trained_run / "results.json")
    card = (tmp_path / "st" / "README.md").read_text()
    assert f"N = {results.N:,} non-embedding" in card and f"D = {results.D:,} training pairs" in card
    assert f"contrastive entropy {results.ce.reported:.4f} [{results.ce.reported_ci95[0]:.4f}," in card
    assert format_metrics(results.ranking.metrics) in card and results.ranking.metrics
    assert f"{results.steps} steps" in card and "batch_size 8, num_negatives 8" in card
    assert "data: quickstart" in card and "from scratch" in card and "queries truncated to 12 tokens" in card


def test_export_command_errors_name_the_fix(trained_run, tmp_path, capsys):
    assert export_main([str(tmp_path / "nowhere"), str(tmp_path / "st")]) == 2
    assert "biencoder.json" in capsys.readouterr().err
    alone = tmp_path / "alone" / "model"  # a model folder without its run's results.json
    BiEncoder.from_pretrained(trained_run / "model").save_pretrained(alone)
    from_pretrained(str(trained_run / "model" / "tokenizer")).save_pretrained(alone / "tokenizer")
    assert export_main([str(alone), str(tmp_path / "st")]) == 2
    assert "--max-query-length and --max-passage-length" in capsys.readouterr().err
    assert export_main([str(alone), str(tmp_path / "st"), "--max-query-length", "8", "--max-passage-length", "16"]) == 0
    assert "## Measured" not in (tmp_path / "st" / "README.md").read_text()


def test_a_run_starts_from_an_exported_folder(trained_run, tmp_path, compose_train):
    export_main([str(trained_run / "model"), str(tmp_path / "st")])
    exported = BiEncoder.from_pretrained(trained_run / "model")
    cfg = compose_train("init=pretrained", f"model.hub_id={tmp_path / 'st'}", "tokenizer=pretrained", "proj_dim=24")
    assert cfg.tokenizer.name_or_path == str(tmp_path / "st")
    started = build.biencoder(cfg, len(from_pretrained(str(tmp_path / "st"))))
    assert all(module.training for module in started.modules())
    assert started.encoder.config.hidden_dropout_prob == cfg.training.dropout
    assert started.state_dict().keys() == exported.state_dict().keys()
    for key, value in started.state_dict().items():
        torch.testing.assert_close(value, exported.state_dict()[key], atol=0, rtol=0)

    with pytest.raises(ValueError, match=r"pooling=mean \(not cls\).*set pooling"):
        build_biencoder("pretrained", str(tmp_path / "st"), proj_dim=24, pooling="cls", similarity="cos")
    with pytest.raises(ValueError, match=r"proj_dim=24 \(not 768\)"):
        build_biencoder("pretrained", str(tmp_path / "st"), proj_dim=768, similarity="cos")


def test_evaluate_scores_the_exported_folder_as_the_run_folder(trained_run, tmp_path):
    export_main([str(trained_run / "model"), str(tmp_path / "st")])
    scored = {}
    for name, model_dir in (("ours", trained_run / "model"), ("exported", tmp_path / "st")):
        cfg = compose_config("evaluate", tmp_path / "cache", tmp_path / name, f"model_dir={model_dir}", *TINY_DATA[1:],
                             *TINY_EVAL, "data.max_query_length=12", "data.max_passage_length=40")
        GlobalHydra.instance().clear()
        scored[name] = evaluate(cfg, tmp_path / name)
    assert scored["ours"].ce.num_pairs > 0
    assert scored["exported"].ce.reported == pytest.approx(scored["ours"].ce.reported, abs=1e-5)
    for metric, value in scored["ours"].ranking.metrics.items():
        assert scored["exported"].ranking.metrics[metric] == pytest.approx(value, abs=1e-6), metric
