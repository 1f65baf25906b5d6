"""Retrieval data in the MTEB layout, read with Hugging Face ``datasets``: configs ``corpus`` (``_id``,
``title``, ``text``), ``queries`` (``_id``, ``text``) and the qrels (``default``: ``query-id``,
``corpus-id``, ``score``, one split per judged split), from a local folder of parquet or jsonl files
or from the hub. Both are read into the memory-mapped Arrow tables of the ``datasets`` cache, and the
texts are made into Python strings only a batch at a time when asked for (the token cache, fingerprints,
a trained tokenizer), so no process holds the corpus as strings. ``datasets`` is the ``hf`` extra.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Sequence

from dense_scaling.data.readers import DataFormatError, Qrels, RetrievalData, sources

FORMATS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".jsonl.gz": "json", ".json.gz": "json"}
COLUMNS = {"corpus": ("_id", "text"), "queries": ("_id", "text"), "qrels": ("query-id", "corpus-id")}
ID_TYPES = ("string", "large_string", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
TEXT_BATCH = 4096  # texts made into Python strings at a time


def _load_dataset():
    try:
        from datasets import load_dataset
    except ImportError:
        raise DataFormatError("data=hf needs the datasets package: pip install 'dense-scaling[hf]'") from None
    return load_dataset


def _format(file: Path) -> str | None:
    return next((kind for suffix, kind in FORMATS.items() if file.name.endswith(suffix)), None)


def _local_config(folder: Path, config: str, cache_dir: str | None) -> dict:
    """The splits of ``folder/config`` (a split per file-name stem before ``-`` or ``.``: ``test.jsonl``,
    ``test-00000-of-00001.parquet``), as Arrow tables in the ``datasets`` cache under ``cache_dir``."""
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
    try:
        return dict(_load_dataset()(kinds.pop(), data_files=dict(splits), cache_dir=cache_dir))
    except Exception as err:  # datasets wraps what the parquet and JSON parsers raise in its own error types
        raise DataFormatError(f"{folder / config}: not readable as {', '.join(FORMATS)} records "
                              f"({type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''})") from None


def _hub_config(dataset_id: str, config: str, cache_dir: str | None) -> dict:
    """The splits of config ``config`` of the hub data set ``dataset_id`` (from the local cache offline)."""
    try:
        return dict(_load_dataset()(dataset_id, config, cache_dir=cache_dir))
    except (OSError, ValueError) as err:  # datasets' not-found and offline errors are both (ConnectionError is an OSError)
        raise DataFormatError(
            f"cannot load data set '{dataset_id}' (config '{config}'): it is neither a local folder nor in the Hugging "
            f"Face cache, and it could not be downloaded ({type(err).__name__}). Use a local folder "
            f"(data.reader.path=/path/to/folder with corpus/, queries/ and default/ of parquet or jsonl files)"
        ) from None


def _checked(splits: dict, where: str, kind: str):
    """``splits`` (Arrow tables) as one table, its ``kind`` columns checked: present, ids strings or integers,
    texts strings, no nulls."""
    from datasets import concatenate_datasets

    table = concatenate_datasets(list(splits.values())) if len(splits) > 1 else next(iter(splits.values()))
    missing = [column for column in COLUMNS[kind] if column not in table.column_names]
    if missing:
        raise DataFormatError(f"{where}: no {', '.join(missing)} column (it has {', '.join(table.column_names)}); "
                              f"{kind} records need {', '.join(COLUMNS[kind])}")
    for column in COLUMNS[kind]:
        dtype = getattr(table.features[column], "dtype", type(table.features[column]).__name__)
        wanted = ("string", "large_string") if column == "text" else ID_TYPES
        if dtype not in wanted:
            raise DataFormatError(f"{where}: {column} is {dtype} data; it must be "
                                  f"{'strings' if column == 'text' else 'non-empty strings or integers'}")
        nulls = table.data.column(column).null_count
        if nulls:
            raise DataFormatError(f"{where}: {column} is null in {nulls:,} records; every record needs one")
    return table


def _ids(table, column: str, where: str) -> list[str]:
    ids = [str(value) for value in table[column]]
    if "" in ids:
        raise DataFormatError(f"{where}: record {ids.index('') + 1} has an empty {column}; ids must be non-empty")
    return ids


class ArrowTexts(Sequence):
    """The texts of an Arrow table (memory-mapped), made a batch at a time when asked for (``title + ' ' +
    text`` when ``with_title``), so the data set holds none of them as Python strings."""

    def __init__(self, table, with_title: bool, start: int = 0, stop: int | None = None):
        self._table, self._with_title = table, with_title and "title" in table.column_names
        self._start, self._stop = start, len(table) if stop is None else stop

    def __len__(self) -> int:
        return self._stop - self._start

    def __getitem__(self, index):
        if isinstance(index, slice):
            span = range(self._start, self._stop)[index]
            if span.step != 1:
                return [self[i] for i in range(*index.indices(len(self)))]
            return ArrowTexts(self._table, self._with_title, span.start, span.stop)
        position = range(self._start, self._stop)[index]
        return self._texts(position, position + 1)[0]

    def __iter__(self):
        for begin in range(self._start, self._stop, TEXT_BATCH):
            yield from self._texts(begin, min(begin + TEXT_BATCH, self._stop))

    def _texts(self, begin: int, end: int) -> list[str]:
        rows = self._table[begin:end]
        if not self._with_title:
            return rows["text"]
        return [f"{title} {text}".strip() if title else text for title, text in zip(rows["title"], rows["text"])]


@sources("path")
def load_hf(path: str | Path, name: str | None = None, qrels: str = "default", with_title: bool = True,
            cache_dir: str | Path | None = None) -> RetrievalData:
    """An MTEB-layout data set: ``path`` a local folder (``corpus/``, ``queries/``, ``<qrels>/`` of parquet or
    jsonl files) or a hub id, read into Arrow tables of the ``datasets`` cache (under ``cache_dir/hf-datasets``
    when given). Passage text is ``title + ' ' + text`` when ``with_title`` (as BEIR's); ids are read as strings;
    a qrels record without ``score`` counts 1. The texts stay in the memory-mapped tables (:class:`ArrowTexts`)."""
    local, cache = Path(path).is_dir(), str(Path(cache_dir) / "hf-datasets") if cache_dir else None
    read = (lambda config: _local_config(Path(path), config, cache)) if local else (lambda config: _hub_config(str(path), config, cache))
    where = (lambda config: str(Path(path) / config)) if local else (lambda config: f"{path} config '{config}'")
    corpus = _checked(read("corpus"), where("corpus"), "corpus")
    queries = _checked(read("queries"), where("queries"), "queries")
    data = RetrievalData(name or Path(str(path)).name, _ids(corpus, "_id", where("corpus")), ArrowTexts(corpus, with_title),
                         _ids(queries, "_id", where("queries")), ArrowTexts(queries, False))
    for split, table in read(qrels).items():
        judged = _checked({split: table}, f"{where(qrels)}, split '{split}'", "qrels")
        data.qrels[split] = _judgements(judged, data, f"{where(qrels)}, split '{split}'")
    return data


def _judgements(table, data: RetrievalData, where: str) -> Qrels:
    """``{query id: {passage id: grade}}``; every id must be in the data set."""
    judged: Qrels = {}
    scores = table["score"] if "score" in table.column_names else [1] * len(table)
    for query, passage, score in zip(table["query-id"], table["corpus-id"], scores):
        query, passage = str(query), str(passage)
        for value, index, what in ((query, data.query_index, "query"), (passage, data.corpus_index, "corpus")):
            if value not in index:
                raise DataFormatError(f"{where}: {what} id '{value}' is not in the {what} config; the qrels, "
                                      f"corpus and queries must come from the same data set")
        judged.setdefault(query, {})[passage] = int(score)
    if not judged:
        raise DataFormatError(f"{where}: no judgements")
    return judged
