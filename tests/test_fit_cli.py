"""python -m dense_scaling.fit: outputs, bad input, and no torch."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from dense_scaling.fit import main
from dense_scaling.scaling.laws import DataSizeLaw, DimensionLaw, JointLaw
from tests.helpers.results import write_result

TRUTH = JointLaw(A=3.6e4, B=7.1e3, alpha=0.56, beta=1.31, d=0.03)
N_VALUES = (4e5, 3e6, 2e7, 9e7)
D_VALUES = (2e3, 2e4, 2e5)
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}


@pytest.fixture
def sweep(tmp_path):
    """A joint grid (human annotations), a data-size curve for a second annotation type,
    one corrupt and one unfinished results.json."""
    rng = np.random.default_rng(0)
    root = tmp_path / "multirun"
    runs = [(N, D, "human", float(TRUTH.predict(N, D))) for N in N_VALUES for D in D_VALUES]
    llm = DataSizeLaw(B=2e4, beta=0.9, d_D=0.05)
    runs += [(N_VALUES[-1], D, "llm", float(llm.predict(D))) for D in D_VALUES]
    for i, (N, D, annotation, loss) in enumerate(runs):
        write_result(root / str(i), N, D, loss * np.exp(rng.normal(0, 0.01)), annotation=annotation)
    (root / "corrupt").mkdir()
    (root / "corrupt" / "results.json").write_text("{not json")
    write_result(root / "partial", 1e6, 1e3, 2.0, replace={"complete": False})
    return root


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "dense_scaling.fit", *map(str, args)],
                          capture_output=True, text=True, env=ENV, timeout=300)


def test_fits_every_law_and_writes_every_output(sweep, capsys):
    assert main([str(sweep), "--bootstrap", "10", "--holdout", "--budgets", "20000"]) == 0
    out = sweep / "fit"
    stderr = capsys.readouterr().err
    assert "corrupt/results.json: invalid JSON" in stderr and "partial/results.json: 'complete' is not true" in stderr
    params = json.loads((out / "params.json").read_text())
    kinds = [f["law"] for f in params["fits"]]
    assert kinds.count("model") == 3 and kinds.count("data") == 5 and kinds.count("joint") == 1
    joint = next(f for f in params["fits"] if f["law"] == "joint")
    assert joint["params"]["beta"] == pytest.approx(TRUTH.beta, rel=0.05) and joint["converged"]
    assert set(joint["ci95"]) == {"A", "B", "alpha", "beta", "d"} and joint["heldout"]["axis"] == "N"
    assert {s["reason"][:12] for s in params["skipped"]} == {"invalid JSON", "'complete' i"}
    assert len(params["budget"]["joint fit synthetic/human"]) == 2
    report = (out / "report.md").read_text()
    for section in ("## Skipped result files", "### model law", "### data law", "### joint law", "held-out", "## Budget"):
        assert section in report
    figures = ["ce_vs_N", "ce_vs_D", "ce_vs_D_by_annotation", "joint_synthetic_human", "ce_vs_metrics",
               "budget_without_inference_joint_fit_synthetic_human", "budget_with_inference_joint_fit_synthetic_human"]
    for name in figures:
        for suffix in (".png", ".svg"):
            assert (out / f"{name}{suffix}").stat().st_size > 1000, name
    table = (out / "ce_vs_metrics.tsv").read_text().splitlines()
    assert table[0].split("\t") == ["run", "step", "ce", "map@10", "ndcg@10", "recall@1000", "mrr@10"]
    assert len(table) == 1 + len(N_VALUES) * len(D_VALUES) + len(D_VALUES)  # one point per complete run
    assert not list(out.glob(".*.tmp"))


def test_preset_alone_gives_the_budget_analysis(tmp_path):
    assert main(["--preset", "msmarco_joint", "--budgets", "5000", "20000", "--out", str(tmp_path / "out")]) == 0
    params = json.loads((tmp_path / "out" / "params.json").read_text())
    assert params["preset"]["name"] == "msmarco_joint" and params["fits"] == []
    allocations = params["budget"]["preset msmarco_joint"]
    assert [(a["budget"], a["include_inference"]) for a in allocations] == [
        (5000, False), (20000, False), (5000, True), (20000, True)]
    assert (tmp_path / "out" / "budget_with_inference_preset_msmarco_joint.svg").exists()
    assert "## Budget" in (tmp_path / "out" / "report.md").read_text()


def test_subprocess_fits_one_law_on_a_glob_next_to_a_preset(sweep):
    done = run_cli(sweep / "[0-9]", "--law", "joint", "--bootstrap", "0", "--preset", "msmarco_joint",
                   "--budgets", "20000")  # runs 0-9: human annotations only
    assert done.returncode == 0, done.stderr
    assert "joint synthetic/human: L(N, D) = " in done.stdout and "skipped" not in done.stderr
    params = json.loads((sweep / "fit" / "params.json").read_text())
    assert [f["n_points"] for f in params["fits"]] == [10]
    assert set(params["budget"]) == {"preset msmarco_joint", "joint fit synthetic/human"}


def test_one_law_refuses_a_group_that_cannot_support_it(sweep, capsys):
    assert main([str(sweep), "--law", "joint"]) == 2
    err = capsys.readouterr().err
    assert "joint fit for synthetic/llm: a joint law has 5 parameters" in err and "--law all" in err


def _only(tmp_path, runs, **kwargs):
    for i, (N, D, loss) in enumerate(runs):
        write_result(tmp_path / "runs" / str(i), N, D, loss, **kwargs)
    return tmp_path / "runs"


@pytest.mark.parametrize("runs, args, message", [
    ([(1e6, 1e3, 2.0), (2e6, 1e3, 1.8)], ["--law", "model"], "has 3 parameters .* only 2 points"),
    ([(1e6, 1e3, 2.0), (1e6, 2e3, 1.8), (1e6, 4e3, 1.6)], ["--law", "model"], "same N = 1e.06.*--law data"),
    ([(1e6, 1e3, 2.0), (0, 1e3, 1.8), (3e6, 1e3, 1.6)], ["--law", "model"], r"1/results.json: N = 0.0 is not positive"),
    ([(1e6, 1e3, 2.0), (2e6, 1e3, -1.8), (3e6, 1e3, 1.6)], [], r"ce.reported = -1.8 is not positive"),
    ([(1e6, 1e3, 2.0), (2e6, 1e3, 1.8)], [], "the runs support no law"),
    ([(1e6, 1e3, 2.0)], ["--law", "none"], "no run has ranking metrics"),
])
def test_bad_input_exits_2_with_a_message(tmp_path, capsys, runs, args, message):
    ranking = args != ["--law", "none"]
    assert main([str(_only(tmp_path, runs, ranking=ranking)), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert __import__("re").search(message, err), err


def test_law_none_draws_fig_2_from_a_single_run(tmp_path):
    runs = _only(tmp_path, [(1e6, 1e3, 2.0)])
    assert main([str(runs), "--law", "none", "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "ce_vs_metrics.png").exists()
    assert json.loads((tmp_path / "out" / "params.json").read_text())["fits"] == []
    (row,) = (tmp_path / "out" / "ce_vs_metrics.tsv").read_text().splitlines()[1:]
    assert row.split("\t")[1:4] == ["", "2", f"{np.exp(-2.0):.6g}"]


def test_mixed_protocols_missing_paths_and_wrong_presets_exit_2(tmp_path, capsys):
    write_result(tmp_path / "a", 1e6, 1e3, 2.0)
    write_result(tmp_path / "b", 2e6, 1e3, 1.8, protocol="val-selected")
    assert main([str(tmp_path)]) == 2
    assert "mix protocols ['test-best', 'val-selected']" in capsys.readouterr().err
    assert main([str(tmp_path / "missing")]) == 2
    assert "no results found for" in capsys.readouterr().err
    assert main([]) == 2
    assert "give at least one PATH" in capsys.readouterr().err
    assert main(["--preset", "msmarco_model", "--out", str(tmp_path / "o")]) == 2
    assert "use msmarco_joint" in capsys.readouterr().err


def test_subprocess_error_has_no_traceback(tmp_path):
    done = run_cli(tmp_path / "nothing-here")
    assert done.returncode == 2 and done.stderr.startswith("error: no results found") and "Traceback" not in done.stderr


def test_scaling_and_fit_import_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import dense_scaling.scaling, dense_scaling.fit\n"
            "assert sys.modules['torch'] is None")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    assert done.returncode == 0, done.stderr


def _trained(N, D, proj_dim=768, hidden=64, steps=400):
    """The results.json fields a dense_scaling.train run adds (without ``flops``: collect derives it)."""
    config = {"proj_dim": proj_dim, "training": {"batch_size": 32, "num_negatives": 64},
              "model": {"arch": {"num_hidden_layers": 2, "hidden_size": hidden}}, "trainer": {"devices": 1}}
    fields = {"steps": steps, "tokens_seen": steps * 128 * 20, "config": config}
    return fields


def _ranked(loss, steps=(100, 200, 300, 400)):
    """A ranking block with one checkpoint per step, CE falling to ``loss``."""
    history = [{"step": s, "ce": loss * (1 + 0.5 * (1 - s / steps[-1])), "mrr@10": 0.1} for s in steps]
    for row in history:
        row.update({"map@10": 0.9 / (1 + np.exp(2 * (row["ce"] - 1.5))), "ndcg@10": 0.95 / (1 + np.exp(2 * (row["ce"] - 1.6))),
                    "recall@1000": 1 / (1 + np.exp(3 * (row["ce"] - 3.0)))})
    return {**{k: history[-1][k] for k in ("map@10", "ndcg@10", "recall@1000", "mrr@10")}, "history": history}


@pytest.fixture
def trained_sweep(tmp_path):
    """A joint grid and an embedding-dimension series whose runs carry steps, tokens, config and
    per-checkpoint ranking metrics, like dense_scaling.train writes them."""
    rng = np.random.default_rng(1)
    root = tmp_path / "multirun"
    for i, (N, D) in enumerate((N, D) for N in N_VALUES for D in D_VALUES):
        loss = float(TRUTH.predict(N, D)) * np.exp(rng.normal(0, 0.01))
        write_result(root / f"joint{i}", N, D, loss, replace={**_trained(N, D), "ranking": _ranked(loss)})
    dimension = DimensionLaw(C=20.0, gamma=0.6, delta_d=0.8)
    for d in (16, 32, 64, 128, 256, 768):
        loss = float(dimension.predict(d)) * np.exp(rng.normal(0, 0.005))
        write_result(root / f"dim{d}", 1e5, 9000, loss, replace={**_trained(1e5, 9000, proj_dim=d), "ranking": _ranked(loss)})
    return root


def test_compute_and_dimension_laws_with_their_figures_and_fig_2_with_its_fitted_curve(trained_sweep, capsys):
    out = trained_sweep / "fit"
    assert main([str(trained_sweep / "dim*"), "--law", "dimension", "--bootstrap", "5", "--predict", "proj_dim=512",
                 "--out", str(out)]) == 0
    params = json.loads((out / "params.json").read_text())
    (dimension,) = params["fits"]
    assert dimension["law"] == "dimension" and dimension["n_points"] == 6
    assert dimension["params"]["gamma"] == pytest.approx(0.6, rel=0.15) and dimension["group"]["N"] == 1e5
    point = next(p for p in params["predictions"] if p["kind"] == "point")
    assert point["what"] == "proj_dim=512" and set(point["metrics"]) == {"map@10", "ndcg@10", "recall@1000"}
    assert sorted(params["metric_maps"]["synthetic"]) == ["map@10", "ndcg@10", "recall@1000"]
    assert params["metric_maps"]["synthetic"]["map@10"]["n_points"] == 4 * 6  # every checkpoint of every run
    for name in ("ce_vs_proj_dim", "ce_vs_metrics"):
        assert (out / f"{name}.png").stat().st_size > 1000 and (out / f"{name}.svg").stat().st_size > 1000
    assert "## CE to ranking metrics" in (out / "report.md").read_text()
    assert main([str(trained_sweep / "joint*"), "--law", "compute", "--bootstrap", "0", "--out", str(out / "c")]) == 0
    (compute,) = json.loads((out / "c" / "params.json").read_text())["fits"]
    assert compute["law"] == "compute" and compute["n_points"] == len(N_VALUES)  # the best D at each model size
    assert (out / "c" / "ce_vs_C.png").stat().st_size > 1000


@pytest.mark.slow
def test_compare_forms_predictions_and_the_compute_frontier_reach_the_report(trained_sweep, capsys):
    out = trained_sweep / "fit"
    assert main([str(trained_sweep / "joint*"), "--law", "joint", "--form", "compare", "--bootstrap", "8",
                 "--predict", "N=1e9,D=5e5", "--flops", "1e14", "1e16", "--budgets", "20000"]) == 0
    captured = capsys.readouterr()
    assert "warning: study test: 8 run(s) have more training pairs than they saw" in captured.err
    assert "compare synthetic/human proj_dim=768: the paper form extrapolates best" in captured.out
    params = json.loads((out / "params.json").read_text())
    assert sorted(f["form"] for f in params["fits"]) == ["chinchilla", "paper"]
    (comparison,) = params["comparisons"]
    assert comparison["best"] == "paper" and {s["form"] for s in comparison["scores"]} == {"paper", "chinchilla"}
    labels = ("synthetic/human proj_dim=768", "synthetic/human proj_dim=768 [chinchilla form]")
    assert set(params["exponent_ratios"]) == set(labels)
    kinds = [(p["kind"], p["source"]) for p in params["predictions"]]
    for source in labels:
        assert kinds.count(("point", source)) == 1 and kinds.count(("frontier", source)) == 2
        assert kinds.count(("budget", f"joint fit {source}")) == 2
    for p in params["predictions"]:
        assert set(p["metrics"]) == {"map@10", "ndcg@10", "recall@1000"} and p["CE"]["ci95"] is not None
    protocol = params["training_protocols"]["synthetic/human proj_dim=768"]
    assert protocol == {"steps": 400, "batch_size": 32, "tokens_per_pair": 80.0, "pairs_per_run": 12800}
    report = (out / "report.md").read_text()
    for section in ("## Protocol warnings", "## Joint law forms compared", "Verdict: the paper form", "## Predictions",
                    "## Compute-optimal frontier", "## Budget optima with intervals"):
        assert section in report, section
    for name in (f"{figure}_synthetic_human_proj_dim=768{form}" for figure in ("joint", "isoflops")
                 for form in ("", "_chinchilla_form")):
        assert (out / f"{name}.png").stat().st_size > 1000 and (out / f"{name}.svg").stat().st_size > 1000


def test_a_malformed_or_unmatched_prediction_exits_2(sweep, capsys):
    assert main([str(sweep), "--predict", "N=big"]) == 2
    assert "error: --predict 'N=big': write positive sizes as NAME=VALUE" in capsys.readouterr().err
    assert main([str(sweep / "[0-9]"), "--law", "joint", "--bootstrap", "0", "--predict", "proj_dim=64"]) == 2
    assert "no fitted law takes exactly these inputs" in capsys.readouterr().err
