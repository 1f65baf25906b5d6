"""Reading results.json files (docs/results.md) into a table."""


import numpy as np
import pytest

from dense_scaling.scaling.collect import ce_vs_ranking, check_records, collect, columns
from dense_scaling.scaling.errors import ScalingInputError
from tests.helpers.results import write_result


def test_reads_runs_recursively_and_reports_bad_files(tmp_path):
    sweep = tmp_path / "multirun" / "2024-01-01"
    write_result(sweep / "0", 1e6, 1000, 2.5)
    write_result(sweep / "1" / "nested", 2e6, 1000, 2.1, annotation="llm")
    (sweep / "2").mkdir()
    (sweep / "2" / "results.json").write_text('{"format": "dense-scaling/results/v1", "compl')
    write_result(sweep / "3", 4e6, 1000, 1.9, replace={"complete": False})
    write_result(sweep / "4", 4e6, 1000, 1.9, replace={"ce": None})
    write_result(sweep / "5", 4e6, 1000, 1.9, replace={"D": None})

    records, skipped = collect([tmp_path / "multirun"])

    assert sorted((r.N, r.D, r.L, r.annotation) for r in records) == [(1e6, 1000, 2.5, "human"), (2e6, 1000, 2.1, "llm")]
    reasons = {s.path.split("/")[-2]: s.reason for s in skipped}
    assert set(reasons) == {"2", "3", "4", "5"}
    assert "invalid JSON" in reasons["2"]
    assert "complete" in reasons["3"]
    assert "ce.reported" in reasons["4"]
    assert "D" in reasons["5"]
    record = next(r for r in records if r.N == 1e6)
    assert record.L_ci95 == (2.5 * 0.98, 2.5 * 1.02)
    assert record.overrides == ("model.N=1000000", "data.num_train_pairs=1000")
    assert record.ranking["ndcg@10"] == pytest.approx(np.exp(-0.8 * 2.5))


def test_glob_and_duplicate_paths_are_read_once(tmp_path):
    for i, N in enumerate((1e6, 2e6)):
        write_result(tmp_path / f"run{i}", N, 100, 2.0)
    records, skipped = collect([str(tmp_path / "run*"), tmp_path / "run0" / "results.json"])
    assert sorted(r.N for r in records) == [1e6, 2e6] and skipped == []


def test_columns_have_nan_for_missing_ranking(tmp_path):
    write_result(tmp_path / "a", 1e6, 100, 2.0)
    write_result(tmp_path / "b", 2e6, 100, 1.5, ranking=False)
    table = columns(sorted(collect([tmp_path])[0], key=lambda r: r.N))
    np.testing.assert_array_equal(table["L"], [2.0, 1.5])
    assert not np.isnan(table["map@10"][0]) and np.isnan(table["map@10"][1])


def test_ce_vs_ranking_follows_a_runs_checkpoints_when_it_ranked_at_each(tmp_path):
    history = [{"step": step, "ce": ce, "map@10": 1 / ce, "ndcg@10": 1.1 / ce, "recall@1000": 0.9, "mrr@10": 1 / ce}
               for step, ce in ((100, 4.0), (200, 3.0))]
    ranking = {**history[-1], "subcorpus_size": 10, "history": history + [{"step": 300, "ce": 2.9}]}  # last incomplete
    write_result(tmp_path / "traced", 1e6, 100, 3.0, replace={"ranking": ranking})
    write_result(tmp_path / "single", 2e6, 100, 2.0)
    write_result(tmp_path / "unranked", 4e6, 100, 1.0, ranking=False)
    points = ce_vs_ranking(sorted(collect([tmp_path])[0], key=lambda r: r.N))
    assert list(points) == ["m1000000 D=100 (traced)", "m2000000 D=100 (single)"]
    assert [(p["step"], p["ce"], p["map@10"]) for p in points["m1000000 D=100 (traced)"]] == [
        (100, 4.0, 0.25), (200, 3.0, 1 / 3)]
    (single,) = points["m2000000 D=100 (single)"]
    assert np.isnan(single["step"]) and single["ce"] == 2.0 and single["map@10"] == pytest.approx(np.exp(-2.0))


def test_missing_path_is_an_error_naming_it(tmp_path):
    with pytest.raises(ScalingInputError, match="nowhere"):
        collect([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScalingInputError, match="no results.json under it"):
        collect([tmp_path / "empty"])


def test_mixed_protocols_and_non_positive_values_are_refused(tmp_path):
    write_result(tmp_path / "a", 1e6, 100, 2.0)
    write_result(tmp_path / "b", 2e6, 100, 1.5, protocol="val-selected")
    with pytest.raises(ScalingInputError, match="mix protocols"):
        check_records(collect([tmp_path])[0])
    write_result(tmp_path / "b", 0, 100, 1.5)
    with pytest.raises(ScalingInputError, match=r"b/results.json: N = 0.0 is not positive"):
        check_records(collect([tmp_path])[0])
