import numpy as np
import pytest
import pytrec_eval

from dense_scaling.data.readers import read_qrels, write_qrels
from dense_scaling.metrics import evaluate_run, read_run, write_run


def small_case():
    rng = np.random.default_rng(0)
    docs = lambda n: rng.choice(500, n, replace=False)  # noqa: E731
    run = {f"q{q}": {f"d{d}": float(np.float32(rng.normal())) for d in docs(50)} for q in range(10)}
    run["q0"].update({"tie1": 0.5, "tie2": 0.5})
    qrels = {f"q{q}": {f"d{d}": int(rng.integers(0, 3)) for d in docs(30)} for q in range(10)}
    return run, qrels


def test_round_trip_is_exact_and_leaves_no_temp_file(tmp_path):
    run, qrels = small_case()
    write_run(tmp_path / "run.trec", run)
    write_qrels(tmp_path / "qrels.trec", qrels)
    assert read_run(tmp_path / "run.trec") == run  # same floats, bit for bit
    assert read_qrels(tmp_path / "qrels.trec") == qrels
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qrels.trec", "run.trec"]


def test_files_give_pytrec_eval_the_same_numbers(tmp_path):
    run, qrels = small_case()
    write_run(tmp_path / "run.trec", run)
    write_qrels(tmp_path / "qrels.trec", qrels)
    with open(tmp_path / "run.trec") as r, open(tmp_path / "qrels.trec") as q:
        evaluator = pytrec_eval.RelevanceEvaluator(pytrec_eval.parse_qrel(q), {"ndcg_cut.10"})
        ref = evaluator.evaluate(pytrec_eval.parse_run(r))
    res = evaluate_run(run, qrels)
    for qid, values in res.per_query.items():
        assert values["ndcg@10"] == pytest.approx(ref[qid]["ndcg_cut_10"], abs=1e-12)


def test_run_lines_are_ranked_in_trec_eval_order(tmp_path):
    write_run(tmp_path / "run.trec", {"q": {"a": 1.0, "b": 1.0, "c": 2.0}}, run_name="x")
    assert (tmp_path / "run.trec").read_text().splitlines() == [
        "q Q0 c 1 2.0 x",
        "q Q0 b 2 1.0 x",
        "q Q0 a 3 1.0 x",
    ]


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "qrels.trec"
    path.write_text("q1 0 d1 1\nq1 0 d2 high\n")
    with pytest.raises(ValueError, match=r"qrels.trec:2: grade 'high' is not a number"):
        read_qrels(path)


def test_beir_qrels_are_written_with_their_header_and_read_back(tmp_path):
    qrels = {"q1": {"d1": 1, "d2": 2}, "q2": {"d1": 1}}
    write_qrels(tmp_path / "test.tsv", qrels, form="beir")
    assert (tmp_path / "test.tsv").read_text().splitlines() == [
        "query-id\tcorpus-id\tscore", "q1\td1\t1", "q1\td2\t2", "q2\td1\t1"]
    assert read_qrels(tmp_path / "test.tsv", corpus={"d1": 0, "d2": 1}, queries={"q1": 0, "q2": 1}) == qrels
    with pytest.raises(ValueError, match="qrels form 'tsv' is not one of trec, beir"):
        write_qrels(tmp_path / "x.tsv", qrels, form="tsv")
    with pytest.raises(ValueError, match="whitespace"):
        write_qrels(tmp_path / "x.tsv", {"q 1": {"d1": 1}}, form="beir")


def test_ids_with_whitespace_are_refused(tmp_path):
    with pytest.raises(ValueError, match="whitespace"):
        write_run(tmp_path / "run.trec", {"q 1": {"d": 1.0}})
    assert list(tmp_path.iterdir()) == []
