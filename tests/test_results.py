"""results.json's one owner: RunResults reads what today's and the previous version's writers
wrote, writes it back unchanged, and collect reports an evaluation of unknown D instead of
skipping it silently."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dense_scaling.results import READABLE_FORMATS, RESULTS_FORMAT, RunResults, atomic_directory
from dense_scaling.scaling.collect import collect

FIXTURES = Path(__file__).parent / "fixtures"  # written by the v1 code of commit 4bd514c (train and evaluate)


def _v1(name: str) -> dict:
    return json.loads((FIXTURES / f"results_v1_{name}.json").read_text())


def test_a_v1_training_file_reads_and_writes_back_field_for_field():
    payload = _v1("train")
    results = RunResults.from_json(payload)
    assert (results.N, results.D, results.steps, results.protocol) == (12768, 64, 4, "test-best")
    assert results.ce.reported == payload["ce"]["reported"] and results.ce.history == payload["ce"]["history"]
    assert results.ranking.metrics == {k: payload["ranking"][k] for k in ("map@10", "ndcg@10", "recall@1000", "mrr@10")}
    assert results.ranking.history == payload["ranking"]["history"]
    written = results.to_json()
    assert written["format"] == RESULTS_FORMAT != payload["format"]
    assert {k: v for k, v in written.items() if k not in ("format", "run", "identity", "N_trainable")} == \
        {k: v for k, v in payload.items() if k not in ("format", "run")}
    assert written["identity"] is None  # v1 files predate it: such a run is trained again, not skipped
    assert written["N_trainable"] is None  # nor do they say what trained (they predate LoRA)
    assert written["run"] == {**payload["run"], "checkpoint": None, "trained_run": None, "precision": None}
    assert RunResults.from_json(written) == RunResults.from_json({**payload, "format": RESULTS_FORMAT,
                                                                  "run": written["run"]})


def test_a_v1_evaluate_file_keeps_its_fields_and_has_no_d():
    payload = _v1("evaluate")
    written = RunResults.from_json(payload).to_json()
    for key, value in payload.items():
        if key not in ("format", "run", "ce", "ranking"):
            assert written[key] == value, key
    assert payload["ce"].items() <= written["ce"].items() and payload["ranking"].items() <= written["ranking"].items()
    assert written["D"] is None and written["ce"]["best"] is None


def test_collect_reads_v1_and_v2_and_names_an_unknown_d(tmp_path):
    for name in ("train", "evaluate"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(_v1(name)))
    RunResults.from_json(_v1("train")).write(tmp_path / "v2" / "results.json")
    records, skipped = collect([tmp_path])
    assert sorted(Path(r.path).parent.name for r in records) == ["train", "v2"]
    assert records[0].L == records[1].L == _v1("train")["ce"]["reported"]
    assert [(Path(s.path).parent.name, s.reason.split(" (")[0]) for s in skipped] == [("evaluate", "not fittable: unknown D")]


def test_unknown_formats_and_bad_fields_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="format is 'dense-scaling/results/v9'"):
        RunResults.from_json({**_v1("train"), "format": "dense-scaling/results/v9"})
    with pytest.raises(ValueError, match="non-numeric N"):
        RunResults.from_json({**_v1("train"), "N": "many"})
    assert RESULTS_FORMAT in READABLE_FORMATS


def test_the_schema_and_the_fitter_import_no_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import dense_scaling.results, dense_scaling.scaling, dense_scaling.scaling.collect")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_an_atomic_directory_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "entry"
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as folder:
            (folder / "half").write_text("x")
            raise RuntimeError("killed mid-write")
    assert list(tmp_path.iterdir()) == []  # nothing left, not even the temporary folder
    target.mkdir()  # an empty folder (an export target made beforehand) is replaced
    with atomic_directory(target) as folder:
        (folder / "a").write_text("first")
    assert (target / "a").read_text() == "first" and [p.name for p in tmp_path.iterdir()] == ["entry"]
    with pytest.raises(FileExistsError, match="entry exists and is not empty"):
        with atomic_directory(target) as folder:
            (folder / "a").write_text("second")
    with atomic_directory(target, shared=True) as folder:  # a cache entry: the first writer's stays
        (folder / "a").write_text("second")
    assert (target / "a").read_text() == "first" and [p.name for p in tmp_path.iterdir()] == ["entry"]
    (tmp_path / "made").mkdir()
    assert target.stat().st_mode == (tmp_path / "made").stat().st_mode  # as mkdir makes it, not mkdtemp's private mode
