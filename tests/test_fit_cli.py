"""python -m dense_scaling.fit: outputs, bad input, and no torch."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from dense_scaling.fit import main
from dense_scaling.scaling.laws import DataSizeLaw, JointLaw
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
