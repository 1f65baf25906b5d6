"""benchmarks/gpu_check.py: its dry run (every stage at toy sizes on the CPU) and its arithmetic."""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from dense_scaling.model.biencoder import build_biencoder

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
NOT_ON_THE_GPU_MACHINE = ("hydra", "omegaconf", "wandb", "faiss")


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.fixture(scope="module")
def dry_run(gpu_check, tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    status = gpu_check.main(["--dry-run", "--out", str(out)])
    return status, json.loads((out / "gpu_check.json").read_text()), (out / "gpu_check.md").read_text()


def timings(node, key=""):
    """Every number the report holds under a key that names seconds (``*_s``, ``seconds``)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from timings(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from timings(v, key)
    elif key.endswith("_s") or key == "seconds":
        yield key, node


def variants(report):
    return [v for stage in ("train", "compile") for v in report["stages"][stage]["variants"]]


def test_dry_run_measures_every_stage_with_positive_times(dry_run, gpu_check):
    status, report, _ = dry_run
    assert status == 0
    assert report["dry_run"] is True
    assert list(report["stages"]) == list(gpu_check.STAGES)
    assert {name: stage["status"] for name, stage in report["stages"].items()} == dict.fromkeys(gpu_check.STAGES, "done")
    found = list(timings(report))
    assert {"seconds", "median_step_s", "step_times_s", "setup_s", "encode_s", "search_s", "ours_s", "loop_s"} <= {
        k for k, _ in found}
    assert all(isinstance(v, float) and math.isfinite(v) and v > 0 for _, v in found)
    miniatures = report["stages"]["miniatures"]
    per_shape = len(miniatures["variant_names"])  # the default, and the fastest train variant unless it is the default
    assert miniatures["variant_names"][0] == "default" and per_shape in (1, 2)
    assert [r["model"] for r in miniatures["rows"][::per_shape]] == list(
        gpu_check.miniature_archs(gpu_check.full_sizes(gpu_check.paper_protocol())))
    assert len(miniatures["rows"]) == 24 * per_shape


def test_every_variant_passed_its_check_and_the_fastest_is_the_fastest_correct(dry_run, gpu_check):
    _, report, _ = dry_run
    records = variants(report)
    assert [r["name"] for r in records] == ["default", "eager attention", "+ fused AdamW", "+ length bucketing",
                                            "default (again)", "+ torch.compile"]
    for record in records:
        assert record["check"]["passed"], record["name"]
        assert all(record["check"]["differences"][k] <= gpu_check.CHECK_TOLERANCE[k] for k in gpu_check.CHECK_TOLERANCE)
    assert records[0]["check"]["differences"] == dict.fromkeys(gpu_check.CHECK_TOLERANCE, 0.0)
    assert records[1]["attention_used"] == "eager" and records[0]["attention_used"] != "eager"
    assert records[-1]["compile"] and records[3]["bucketing"]
    best = min((r for r in records if not r.get("repeat")), key=lambda r: r["median_step_s"])
    assert report["fastest"]["name"] == best["name"]
    assert report["fastest"]["median_step_s"] == best["median_step_s"]


def test_markdown_has_a_row_per_stage_and_variant(dry_run, gpu_check):
    _, report, markdown = dry_run
    lines = markdown.splitlines()
    assert "Dry run" in markdown
    for stage in gpu_check.STAGES:
        assert any(line.startswith(f"| {stage} | done |") for line in lines), stage
    for record in variants(report):
        assert sum(line.startswith(f"| {record['name']} | {record['attention_used']} |") for line in lines) == 1
    for row in report["stages"]["miniatures"]["rows"]:
        assert f"| {row['model']} | {row['variant']} | {row['N']:,} |" in markdown
    for kernel in report["stages"]["profile"]["kernels"]:
        assert any(line.startswith(f"| {kernel['name']} |") for line in lines)


def test_utilisation_is_flops_over_time_over_the_peak(dry_run, gpu_check):
    _, report, _ = dry_run
    gemm = report["stages"]["gemm"]
    assert gemm["tflops"] == pytest.approx(2 * gemm["size"] ** 3 / gemm["median_s"] / 1e12)
    peak = report["peak_bf16_tflops"]["measured_gemm"] * 1e12
    assert report["peak_bf16_tflops"]["spec"] is None  # a CPU has no spec peak in the table
    for r in variants(report) + report["stages"]["miniatures"]["rows"]:
        assert r["tflops"] == pytest.approx(r["flops_per_step"] / r["median_step_s"] / 1e12)
        assert r["mfu_gemm"] == pytest.approx(r["flops_per_step"] / r["median_step_s"] / peak)
        assert r["tokens_per_s"] == pytest.approx(r["tokens_per_step"] / r["median_step_s"])
        assert r["mfu_spec"] is None
        assert r["flops_per_step"] > 6 * r["N"] * r["tokens_per_step"]  # plus the attention term
    assert gpu_check.utilisation(3e14, 0.5, 989e12) == pytest.approx(3e14 / 0.5 / 989e12)
    assert gpu_check.utilisation(3e14, 0.5, None) is None


def test_train_flops_matches_a_hand_count(gpu_check):
    arch = {"model_type": "bert", "num_hidden_layers": 2, "hidden_size": 8, "num_attention_heads": 2,
            "intermediate_size": 16, "max_position_embeddings": 16}
    model = build_biencoder("scratch", arch=arch, vocab_size=50)
    # per layer: Q, K, V, O 4*(8*8+8), FFN (8*16+16) + (16*8+8), two LayerNorms 2*(2*8); plus the
    # embedding LayerNorm 2*8
    n_params = 2 * (4 * (8 * 8 + 8) + (8 * 16 + 16) + (16 * 8 + 8) + 2 * 2 * 8) + 2 * 8
    assert n_params == model.non_embedding_parameters() == 1216
    # two sequences of 3 and 5 tokens: 6*N*(3+5) + 12*L*d*(3^2+5^2)
    assert gpu_check.train_flops(1216, 2, 8, [3, 5]) == 6 * 1216 * 8 + 12 * 2 * 8 * 34 == 64896


@pytest.fixture(scope="module")
def toy_run(gpu_check, tmp_path_factory):
    args = argparse.Namespace(dry_run=True, seed=0, out=tmp_path_factory.mktemp("toy"), deadline_s=60.0)
    run = gpu_check.Run(args)
    return run, run.base_model(), run.batches()[0]


def test_a_variant_that_computes_something_else_is_flagged(gpu_check, toy_run):
    run, base, batch = toy_run
    reference = run.prepare(base, gpu_check.Variant()).check(batch)
    assert gpu_check.compare(reference, run.prepare(base, gpu_check.Variant(bucketing=True)).check(batch))["passed"]
    wrong = run.prepare(base, gpu_check.Variant())
    wrong.forward = lambda ids, mask: wrong.model(ids.flip(0), mask.flip(0))  # texts out of their order
    verdict = gpu_check.compare(reference, wrong.check(batch))
    assert not verdict["passed"]
    assert verdict["differences"]["scores"] > gpu_check.CHECK_TOLERANCE["scores"]


def test_a_variant_with_another_loss_or_no_update_is_flagged(gpu_check, toy_run):
    run, base, batch = toy_run
    reference = run.prepare(base, gpu_check.Variant()).check(batch)
    other_loss = replace(reference, loss=reference.loss * 1.05, loss_after_update=reference.loss_after_update * 1.05)
    assert gpu_check.compare(reference, other_loss)["differences"]["loss"] == pytest.approx(0.05)
    assert not gpu_check.compare(reference, other_loss)["passed"]
    no_update = replace(reference, loss_after_update=reference.loss)
    assert not gpu_check.compare(reference, no_update)["passed"]


def test_a_spent_deadline_skips_every_stage_and_still_writes_the_report(gpu_check, tmp_path):
    assert gpu_check.main(["--dry-run", "--deadline-s", "0", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert {s["status"] for s in report["stages"].values()} == {"skipped: deadline reached"}
    assert list(report["stages"]) == list(gpu_check.STAGES)
    assert "| compile | skipped: deadline reached |" in (tmp_path / "gpu_check.md").read_text()


def test_a_failing_variant_is_recorded_and_the_others_still_run(gpu_check, tmp_path, monkeypatch):
    prepare = gpu_check.Run.prepare

    def no_eager(run, initial, variant):
        if variant.attention == "eager":
            raise RuntimeError("no eager kernel here")
        return prepare(run, initial, variant)

    monkeypatch.setattr(gpu_check.Run, "prepare", no_eager)
    assert gpu_check.main(["--dry-run", "--stages", "train", "--out", str(tmp_path)]) == 1
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    statuses = {v["name"]: v["status"] for v in report["stages"]["train"]["variants"]}
    assert statuses.pop("eager attention") == "failed: RuntimeError: no eager kernel here"
    assert set(statuses.values()) == {"done"} and report["stages"]["train"]["status"] == "done"
    assert "| eager attention | - | False | False | False | failed: RuntimeError: no eager kernel here |" in (
        tmp_path / "gpu_check.md").read_text()


@pytest.mark.slow
def test_runs_without_hydra_omegaconf_wandb_or_faiss(tmp_path):
    """The GPU machine has none of them: the script must run, and skip the search saying why."""
    block = f"import sys, runpy; sys.modules.update(dict.fromkeys({NOT_ON_THE_GPU_MACHINE!r}))"
    argv = [str(SCRIPT), "--dry-run", "--stages", "gemm,search", "--out", str(tmp_path)]
    code = f"{block}; sys.argv = {argv!r}; runpy.run_path({str(SCRIPT)!r}, run_name='__main__')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    stages = json.loads((tmp_path / "gpu_check.json").read_text())["stages"]
    assert stages["gemm"]["status"] == "done"
    assert stages["search"]["status"].startswith("skipped: faiss not installed (carry the faiss-cpu wheel")
