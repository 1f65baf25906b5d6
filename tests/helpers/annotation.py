"""Small BEIR source folders for annotation tests, and an output folder's files."""
import gzip
import json

TEXT = "Alpha beta. Gamma delta! Epsilon zeta?"


def write_source(folder, passages, queries, qrels, gz=True):
    """A BEIR folder: ``passages`` pid -> (title, text), ``queries`` qid -> text,
    ``qrels`` split -> [(qid, pid)]."""
    (folder / "qrels").mkdir(parents=True)
    corpus = "".join(json.dumps({"_id": p, "title": t, "text": x}) + "\n" for p, (t, x) in passages.items())
    if gz:
        (folder / "corpus.jsonl.gz").write_bytes(gzip.compress(corpus.encode(), mtime=0))
    else:
        (folder / "corpus.jsonl").write_text(corpus)
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": x}) + "\n" for q, x in queries.items()))
    for split, pairs in qrels.items():
        lines = "".join(f"{q}\t{p}\t1\n" for q, p in pairs)
        (folder / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + lines)
    return folder


def small_source(folder, gz=True):
    """Four passages: p0..p2 are train positives (p0 twice), p3 the test positive."""
    passages = {
        "p0": ("Greek", TEXT),
        "p1": ("Cats", "The cat sat. It was happy. Then it slept."),
        "p2": ("Short", "Only one sentence here"),
        "p3": ("Test", "A held out passage. It stays as it is."),
    }
    queries = {"h0": "greek letters", "h1": "first letters", "h2": "cats", "h3": "short", "t0": "held out"}
    qrels = {"train": [("h0", "p0"), ("h1", "p0"), ("h2", "p1"), ("h3", "p2")], "test": [("t0", "p3")]}
    return write_source(folder, passages, queries, qrels, gz)


def output_files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
