"""Retrieval data in the MTEB layout, read with Hugging Face ``datasets``: configs ``corpus`` (``_id``,
``title``, ``text``), ``queries`` (``_id``, ``text``) and the qrels (``default``: ``query-id``,
``corpus-id``, ``score``, one split per judged split), from a local folder of parquet or jsonl files
or from the hub. Local files are streamed record by record (no Arrow copy is written); a hub data set
is read from its memory-mapped cache. ``datasets`` is the ``hf`` extra, imported when a set is read.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterable

from dense_scaling.data.readers import DataFormatError, Qrels, RetrievalData, sources

FORMATS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".jsonl.gz": "json", ".json.gz": "json"}
COLUMNS = {"corpus": ("_id", "text"), "queries": ("_id", "text"), "qrels": ("query-id", "corpus-id")}


def _load_dataset():
    try:
        from datasets import load_dataset
    except ImportError:
        raise DataFormatError("data=hf needs the datasets package: pip install 'dense-scaling[hf]'") from None
    return load_dataset


def _format(file: Path) -> str | None:
    return next((kind for suffix, kind in FORMATS.items() if file.name.endswith(suffix)), None)


def _local_config(folder: Path, config: str) -> dict[str, Iterable[dict]]:
    """The splits of ``folder/config`` (a split per file-name stem before ``-`` or ``.``: ``test.jsonl``,
    ``test-00000-of-00001.parquet``), streamed."""
    files = sorted(f for f in (folder / config).glob("*") if f.is_file() and _format(f)) if (folder / config).is_dir() else []
    if not files:
        raise DataFormatError(f"{folder / config}: no parquet or jsonl files; an MTEB-layout folder holds corpus/, "
                              f"queries/ and its qrels (data.reader.qrels, default/ by default) as {', '.join(FORMATS)} files")
    kinds = {_format(f) for f in files}
    if len(kinds) > 1:
        raise DataFormatError(f"{folder / config}: mixes parquet and json files; keep one format per config")
    splits: dict[str, list[str]] = defaultdict(list)
    for file in files:
        splits[file.name.split(".")[0].split("-")[0]].append(str(file))
    return dict(_load_dataset()(kinds.pop(), data_files=dict(splits), streaming=True))


def _hub_config(dataset_id: str, config: str) -> dict[str, Iterable[dict]]:
    """The splits of config ``config`` of the hub data set ``dataset_id`` (from the local cache offline)."""
    try:
        return dict(_load_dataset()(dataset_id, config))
    except (OSError, ValueError) as err:  # datasets' not-found and offline errors are both (ConnectionError is an OSError)
        raise DataFormatError(
            f"cannot load data set '{dataset_id}' (config '{config}'): it is neither a local folder nor in the Hugging "
            f"Face cache, and it could not be downloaded ({type(err).__name__}). Use a local folder "
            f"(data.reader.path=/path/to/folder with corpus/, queries/ and default/ of parquet or jsonl files)"
        ) from None


def _records(splits: dict[str, Iterable[dict]], where: str, kind: str) -> Iterable[dict]:
    """Every record of every split, each checked for ``kind``'s columns."""
    for split, records in splits.items():
        for number, record in enumerate(records, 1):
            missing = [column for column in COLUMNS[kind] if column not in record]
            if missing:
                raise DataFormatError(f"{where}, split '{split}', record {number}: no {', '.join(missing)} "
                                      f"(it has {', '.join(record) or 'nothing'}); {kind} records need "
                                      f"{', '.join(COLUMNS[kind])}")
            for column in COLUMNS[kind]:
                value = record[column]
                if not (isinstance(value, str) if column == "text" else _is_id(value)):
                    raise DataFormatError(f"{where}, split '{split}', record {number}: {column} is {value!r}; "
                                          f"it must be {'a string' if column == 'text' else 'a non-empty string or an integer'}")
            yield record


def _is_id(value) -> bool:
    return (isinstance(value, str) and value != "") or (isinstance(value, int) and not isinstance(value, bool))


@sources("path")
def load_hf(path: str | Path, name: str | None = None, qrels: str = "default", with_title: bool = True) -> RetrievalData:
    """An MTEB-layout data set: ``path`` a local folder (``corpus/``, ``queries/``, ``<qrels>/`` of parquet or
    jsonl files) or a hub id. Passage text is ``title + ' ' + text`` when ``with_title`` (as BEIR's);
    ids are read as strings; a qrels record without ``score`` counts 1."""
    local = Path(path).is_dir()
    read = (lambda config: _local_config(Path(path), config)) if local else (lambda config: _hub_config(str(path), config))
    where = (lambda config: str(Path(path) / config)) if local else (lambda config: f"{path} config '{config}'")
    corpus_ids, corpus_texts = [], []
    for record in _records(read("corpus"), where("corpus"), "corpus"):
        title = record.get("title") or ""
        corpus_ids.append(str(record["_id"]))
        corpus_texts.append(f"{title} {record['text']}".strip() if with_title and title else record["text"])
    query_ids, query_texts = [], []
    for record in _records(read("queries"), where("queries"), "queries"):
        query_ids.append(str(record["_id"]))
        query_texts.append(record["text"])
    data = RetrievalData(name or Path(str(path)).name, corpus_ids, corpus_texts, query_ids, query_texts)
    for split, records in read(qrels).items():
        data.qrels[split] = _judgements(_records({split: records}, where(qrels), "qrels"), data, f"{where(qrels)}, split '{split}'")
    return data


def _judgements(records: Iterable[dict], data: RetrievalData, where: str) -> Qrels:
    """``{query id: {passage id: grade}}``; every id must be in the data set."""
    judged: Qrels = {}
    for record in records:
        query, passage = str(record["query-id"]), str(record["corpus-id"])
        for value, index, what in ((query, data.query_index, "query"), (passage, data.corpus_index, "corpus")):
            if value not in index:
                raise DataFormatError(f"{where}: {what} id '{value}' is not in the {what} config; the qrels, "
                                      f"corpus and queries must come from the same data set")
        judged.setdefault(query, {})[passage] = int(record.get("score", 1))
    if not judged:
        raise DataFormatError(f"{where}: no judgements")
    return judged
