import sys

import ir_measures
import numpy as np
import pytest
import pytrec_eval
from ir_measures import AP, RR, R, nDCG

from dense_scaling.metrics import MEASURES, evaluate_run, query_metrics, search, trec_order

OURS_TO_TREC = {"map@10": "map_cut_10", "ndcg@10": "ndcg_cut_10", "recall@1000": "recall_1000"}


def random_case(seed, ties=True):
    """A run with score ties and over 1000 docs for some queries, graded qrels, plus queries
    without relevant passages, queries missing from the run and run queries without qrels."""
    rng = np.random.default_rng(seed)
    run, qrels = {}, {}
    for q in range(40):
        qid = f"q{q}"
        n_docs = int(rng.choice([5, 30, 1_300]))
        docs = rng.choice(2_000, size=n_docs, replace=False)
        scores = rng.integers(0, 8, size=n_docs) / 4 if ties else rng.random(n_docs)
        run[qid] = {f"d{d}": float(s) for d, s in zip(docs, scores)}
        retrieved = rng.choice(docs, size=min(4, n_docs), replace=False)
        judged = np.concatenate([retrieved, rng.choice(2_000, size=4)])
        qrels[qid] = {f"d{d}": int(rng.integers(0, 4)) for d in judged}
    qrels["q0"] = {"d1": 0, "d2": 0}  # no relevant passage: skipped
    qrels["q1"] = {"d3": 0, "d4": -1}  # negative grade = not relevant (trec_eval: unjudged)
    qrels["gone"] = {"d5": 2, "d6": 1}  # not in the run: counts as zero
    run["nojudge"] = {"d7": 1.0}  # not in the qrels: ignored
    return run, qrels


def evaluated_qids(qrels):
    return [q for q, g in qrels.items() if any(v >= 1 for v in g.values())]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_pytrec_eval(seed):
    run, qrels = random_case(seed)
    res = evaluate_run(run, qrels)
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"map_cut.10", "ndcg_cut.10", "recall.1000", "recip_rank"})
    ref = ev.evaluate(run)
    qids = evaluated_qids(qrels)
    counts = (res.num_queries, res.skipped_queries, res.missing_queries, res.unjudged_queries)
    assert counts == (len(qids), 2, 1, 1)
    assert set(res.per_query) == set(qids)
    for qid in qids:
        got, want = res.per_query[qid], ref.get(qid)
        if want is None:  # pytrec_eval drops queries absent from the run; trec_eval -c scores them 0
            assert all(v == 0.0 for v in got.values())
            continue
        for ours, trec in OURS_TO_TREC.items():
            assert got[ours] == pytest.approx(want[trec], abs=1e-9), (qid, ours)
        rank = round(1 / want["recip_rank"]) if want["recip_rank"] else None
        assert got["mrr@10"] == pytest.approx(1 / rank if rank and rank <= 10 else 0.0, abs=1e-12)
    for m in MEASURES:
        assert res.means[m] == pytest.approx(np.mean([res.per_query[q][m] for q in qids]), abs=1e-12)


IR_MEASURES = {"map@10": AP @ 10, "ndcg@10": nDCG @ 10, "recall@1000": R @ 1000, "mrr@10": RR @ 10}


@pytest.mark.parametrize("ties", [True, False])
def test_equals_ir_measures(ties):
    run, qrels = random_case(3, ties)
    # ir_measures' RR (MS MARCO provider) breaks score ties by docid ASCENDING, trec_eval by
    # docid descending: compare RR@10 on the tie-free run only.
    ours = [m for m in MEASURES if not (ties and m == "mrr@10")]
    ref = {
        (v.query_id, str(v.measure)): v.value
        for v in ir_measures.iter_calc([IR_MEASURES[m] for m in ours], qrels, run)
    }
    res = evaluate_run(run, qrels)
    for qid, values in res.per_query.items():
        for m in ours:
            want = ref[qid, str(IR_MEASURES[m])] if qid in run else 0.0
            assert values[m] == pytest.approx(want, abs=1e-9), (qid, m)


def test_ties_break_by_docid_descending():
    docs = {"a": 1.0, "b": 1.0, "c": 2.0, "z": 1.0}
    assert [d for d, _ in trec_order(docs)] == ["c", "z", "b", "a"]
    m = query_metrics(docs, {"a": 1, "b": 2})
    assert m["mrr@10"] == pytest.approx(1 / 3)
    assert m["map@10"] == pytest.approx((1 / 3 + 2 / 4) / 2)
    ideal = 2 + 1 / np.log2(3)
    assert m["ndcg@10"] == pytest.approx((2 / np.log2(4) + 1 / np.log2(5)) / ideal)


def test_cutoffs():
    docs = {f"d{i:04d}": float(-i) for i in range(1_200)}  # rank i+1
    m = query_metrics(docs, {"d0010": 1, "d0999": 1, "d1000": 1, "missing": 1})
    assert m["mrr@10"] == 0.0 and m["map@10"] == 0.0  # first relevant at rank 11
    assert m["recall@1000"] == pytest.approx(2 / 4)  # ranks 11 and 1000; 1001 and unretrieved miss


def test_non_string_ids_raise():
    with pytest.raises(TypeError, match="must be strings"):
        evaluate_run({1: {"d": 1.0}}, {"1": {"d": 1}})


def test_search_is_exact_top_k():
    rng = np.random.default_rng(0)
    q, p = rng.normal(size=(50, 16)).astype(np.float32), rng.normal(size=(300, 16)).astype(np.float32)
    pids = [f"p{i}" for i in range(300)]
    run = search(q, p, [f"q{i}" for i in range(50)], pids, k=20, batch_size=16)
    scores = q @ p.T
    for i in range(50):
        top = np.argsort(-scores[i])[:20]
        assert list(run[f"q{i}"]) == [pids[j] for j in top]
        np.testing.assert_allclose(list(run[f"q{i}"].values()), scores[i, top], rtol=1e-5)
    assert all(len(d) == 300 for d in search(q, p, range(50), pids, k=1_000).values())  # k capped


def test_search_without_faiss_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # as on a machine without faiss
    with pytest.raises(ImportError, match="pip install faiss-cpu"):
        search(np.eye(2), np.eye(2), ["q1", "q2"], ["d1", "d2"], k=1)
