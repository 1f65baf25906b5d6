from dense_scaling.data.quickstart import load_quickstart

SIZES = dict(num_concepts=60, num_passages=200, num_test_passages=50, num_fillers=20)


def _content_words(data):
    """Words of each passage and query, less the fillers (words in over a quarter of passages)."""
    passages = [set(text.split()) for text in data.corpus_texts]
    frequency = {}
    for words in passages:
        for w in words:
            frequency[w] = frequency.get(w, 0) + 1
    fillers = {w for w, df in frequency.items() if df > len(passages) / 4}
    queries = {qid: set(text.split()) - fillers for qid, text in zip(data.query_ids, data.query_texts)}
    return [words - fillers for words in passages], queries


def test_without_same_form_queries_share_no_content_word_with_their_positive(tmp_path):
    data = load_quickstart(tmp_path, seed=0, same_form_prob=0.0, **SIZES)
    passages, queries = _content_words(data)
    for split in ("train", "test"):
        for qid, judged in data.qrels[split].items():
            (pid,) = judged
            assert len(queries[qid]) == 3 and not queries[qid] & passages[data.corpus_index[pid]]


def test_exact_word_overlap_finds_few_positives(tmp_path):
    data = load_quickstart(tmp_path, seed=0, **SIZES)
    passages, queries = _content_words(data)
    hits = 0
    for qid, judged in data.qrels["test"].items():
        overlaps = [len(queries[qid] & words) for words in passages]
        hits += data.corpus_ids[max(range(len(passages)), key=overlaps.__getitem__)] in judged
    assert 0 < hits / len(data.qrels["test"]) < 0.6


def test_test_passages_are_not_training_positives(tmp_path):
    data = load_quickstart(tmp_path, seed=0, **SIZES)
    train = {p for judged in data.qrels["train"].values() for p in judged}
    test = {p for judged in data.qrels["test"].values() for p in judged}
    assert len(test) == 50 and not train & test
