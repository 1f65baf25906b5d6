"""Today's evaluation numbers on a fixed tiny model and data, pinned to 1e-6: a refactor of the
evaluation code (material, evaluator, sharding) must leave them, and the run file, unchanged.
The constants were recorded with the code of commit 4bd514c."""
import hashlib

import pytest
from hydra.core.global_hydra import GlobalHydra
from dense_scaling import build
from dense_scaling.evaluate import evaluate, training_run
from dense_scaling.model.biencoder import BiEncoder
from dense_scaling.train import _evaluation_callback
from tests.helpers.config import compose_config
from tests.helpers.pinned import EVAL, READER, pinned_model_dir
from tests.helpers.results import write_result

CE = {"reported": 2.848759035269419, "reported_ci95": [2.810468514462312, 2.883354913194974]}
SIZES = {"K": 16, "R": 3, "pool_size": 200, "num_pairs": 60, "subcorpus_size": 150}
RANKING = {"map@10": 0.027724867724867725, "ndcg@10": 0.043549477929275965, "recall@1000": 0.36666666666666664,
           "mrr@10": 0.027724867724867725}
# The run file's query, passage and rank columns, hashed, and the sum of its scores: a score's last
# float32 bits differ between CPUs (AMD and Intel kernels), so the bytes of the file are not pinned.
RUN_COLUMNS_SHA256 = "906bcaf41dbc30bd00b407c65932861bcbf4b8fd5596eca50af8762354d7bbb2"
RUN_SCORE_SUM, RUN_LINES = 7718.461193561554, 3000


def run_file_pin(path) -> tuple[str, float, int]:
    """sha256 of the run file's (query, passage, rank) columns, the sum of its scores, its line count."""
    rows = [line.split() for line in path.read_text().splitlines()]
    columns = "\n".join(f"{row[0]} {row[2]} {row[3]}" for row in rows)
    return hashlib.sha256(columns.encode()).hexdigest(), sum(float(row[4]) for row in rows), len(rows)


def test_evaluate_gives_the_pinned_ce_metrics_and_run_file(tmp_path):
    model_dir = pinned_model_dir(tmp_path / "cache", tmp_path / "model")
    write_result(tmp_path, 1e4, 64, 2.0, annotation="ict")  # the model's folder says which run trained it
    cfg = compose_config("evaluate", tmp_path / "cache", tmp_path / "out", *READER, *EVAL, f"model_dir={model_dir}")
    GlobalHydra.instance().clear()
    results = evaluate(cfg, tmp_path / "out")
    ce, ranking = results.to_json()["ce"], results.to_json()["ranking"]
    assert ce["reported"] == pytest.approx(CE["reported"], abs=1e-6)
    assert ce["reported_ci95"] == pytest.approx(CE["reported_ci95"], abs=1e-6)
    assert {key: ce[key] for key in SIZES} == SIZES
    assert {key: ranking[key] for key in RANKING} == pytest.approx(RANKING, abs=1e-6)
    assert (ranking["num_queries"], ranking["subcorpus_size"], ranking["top_k"]) == (60, 150, 50)
    assert run_file_pin(tmp_path / "out" / "run.trec") == (RUN_COLUMNS_SHA256, pytest.approx(RUN_SCORE_SUM, abs=1e-3),
                                                          RUN_LINES)
    assert (results.D, results.run.annotation, results.run.trained_run) == (64, "ict", str(tmp_path))


def test_d_is_unknown_without_a_complete_training_run_beside_the_model(tmp_path):
    assert training_run(tmp_path / "model") is None
    write_result(tmp_path, 1e4, 64, 2.0, replace={"complete": False})
    assert training_run(tmp_path / "model") is None
    write_result(tmp_path, 1e4, 64, 2.0)
    assert training_run(tmp_path / "model").D == 64


def test_the_training_callbacks_evaluator_gives_the_pinned_numbers(tmp_path):
    model_dir = pinned_model_dir(tmp_path / "cache", tmp_path / "model")
    cfg = compose_config("train", tmp_path / "cache", tmp_path / "run", *READER, *EVAL, "tokenizer=pretrained",
                         f"tokenizer.name_or_path={model_dir / 'tokenizer'}")
    GlobalHydra.instance().clear()
    datamodule = build.datamodule(cfg)
    datamodule.prepare()
    test = _evaluation_callback(cfg.eval, datamodule, tmp_path / "weights").test
    model = BiEncoder.from_pretrained(model_dir)
    ce = test.contrastive_entropy(model)
    assert (ce.mean, *ce.ci95) == pytest.approx([CE["reported"], *CE["reported_ci95"]], abs=1e-6)
    assert {key: value for key, value in test.ranking(model)[0].means.items()} == pytest.approx(RANKING, abs=1e-6)


def test_bf16_evaluation_stays_near_the_pinned_fp32_numbers(tmp_path):
    model_dir = pinned_model_dir(tmp_path / "cache", tmp_path / "model")
    cfg = compose_config("evaluate", tmp_path / "cache", tmp_path / "out", *READER, *EVAL, f"model_dir={model_dir}",
                         "precision=bf16", "device=cpu")
    GlobalHydra.instance().clear()
    ce = evaluate(cfg, tmp_path / "out").to_json()["ce"]
    assert ce["reported"] == pytest.approx(CE["reported"], abs=2e-2) and ce["reported"] != CE["reported"]
