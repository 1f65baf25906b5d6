import filecmp

from dense_scaling.data.quickstart import generate, load_quickstart

SIZES = dict(num_concepts=60, num_passages=200, num_test_passages=50, num_fillers=20)


def test_generation_is_deterministic(tmp_path):
    a, b = generate(tmp_path / "a", seed=1, **SIZES), generate(tmp_path / "b", seed=1, **SIZES)
    for name in ("corpus.jsonl.gz", "queries.jsonl.gz", "qrels/train.tsv", "qrels/test.tsv"):
        assert filecmp.cmp(a / name, b / name, shallow=False)


def test_queries_share_no_content_word_with_their_positive(tmp_path):
    data = load_quickstart(tmp_path, seed=0, **SIZES)
    words_by_passage = {pid: set(text.split()) for pid, text in zip(data.corpus_ids, data.corpus_texts)}
    document_frequency = {}
    for words in words_by_passage.values():
        for w in words:
            document_frequency[w] = document_frequency.get(w, 0) + 1
    common = {w for w, df in document_frequency.items() if df > len(words_by_passage) / 4}  # fillers
    query_text = dict(zip(data.query_ids, data.query_texts))
    for split in ("train", "test"):
        for qid, judged in data.qrels[split].items():
            (pid,) = judged
            content = set(query_text[qid].split()) - common
            assert len(content) == 3 and not content & words_by_passage[pid]


def test_test_passages_are_not_training_positives(tmp_path):
    data = load_quickstart(tmp_path, seed=0, **SIZES)
    train = {p for judged in data.qrels["train"].values() for p in judged}
    test = {p for judged in data.qrels["test"].values() for p in judged}
    assert len(test) == 50 and not train & test
