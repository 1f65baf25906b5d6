"""A small MTEB-layout folder written by a test: corpus/, queries/ and default/<split>, as jsonl or parquet."""
import json

CORPUS = [{"_id": f"d{i}", "title": f"Title {i}" if i % 3 else "", "text": f"passage number {i} about topic {i % 7}"}
          for i in range(40)]
QUERIES = [{"_id": f"q{i}", "text": f"which passage is about topic {i % 7} number {i}"} for i in range(30)]
QRELS = {"train": [{"query-id": f"q{i}", "corpus-id": f"d{i}", "score": 1} for i in range(20)],
         "test": [{"query-id": f"q{i}", "corpus-id": f"d{i}", "score": 1 + i % 2} for i in range(20, 30)]
         + [{"query-id": "q25", "corpus-id": "d3", "score": 0}]}


def write_mteb(folder, corpus=CORPUS, queries=QUERIES, qrels=QRELS, form="jsonl"):
    """An MTEB-layout folder: corpus/, queries/, default/<split> as jsonl or (hub-style names) parquet."""
    parts = {("corpus", "corpus"): corpus, ("queries", "queries"): queries}
    parts |= {("default", split): records for split, records in qrels.items()}
    for (config, split), records in parts.items():
        (folder / config).mkdir(parents=True, exist_ok=True)
        if form == "parquet":
            import datasets  # the hf extra: only the parquet form needs it here

            datasets.Dataset.from_list(records).to_parquet(str(folder / config / f"{split}-00000-of-00001.parquet"))
        else:
            (folder / config / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder
