"""A small BEIR folder written by a test, every part replaceable by raw lines."""
import gzip
import json


def write_beir(folder, corpus=None, queries=None, qrels=None, gz=False):
    """A small BEIR folder; every part can be replaced by raw lines."""
    folder.mkdir(parents=True, exist_ok=True)
    corpus = corpus or [json.dumps({"_id": f"d{i}", "title": f"T{i}", "text": f"passage {i}"}) for i in range(4)]
    queries = queries or [json.dumps({"_id": f"q{i}", "text": f"query {i}"}) for i in range(3)]
    qrels = qrels or {"train": ["q0\td0\t1", "q1\td1\t2"], "test": ["q2\td2\t1", "q2\td3\t0"]}
    opener = (lambda p: gzip.open(p, "wt")) if gz else (lambda p: open(p, "w"))
    suffix = ".jsonl.gz" if gz else ".jsonl"
    for name, lines in (("corpus", corpus), ("queries", queries)):
        with opener(folder / f"{name}{suffix}") as file:
            file.write("\n".join(lines) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    for split, lines in qrels.items():
        (folder / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(lines) + "\n")
    return folder
