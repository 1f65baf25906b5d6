"""Read a data set's texts once: its ids, qrels and content fingerprints are kept under
``cache_dir/data``, keyed by a manifest of the reader's source files, so a later run (every run of
a sweep, every DDP rank) recognises them without reading or hashing a text.

The manifest holds the reader's name and arguments and, for each source file, its relative name,
size, modification time and sampled content hash (:mod:`dense_scaling.data.fingerprint`): a file
that changes in any of them is a miss and is read again. Only readers that name their source
arguments (:func:`dense_scaling.data.readers.sources`) are indexed; any other reader is called.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from dense_scaling.data.fingerprint import file_fingerprint, folder_files
from dense_scaling.data.readers import RetrievalData, lazy_texts
from dense_scaling.results import atomic_open, locked

INDEX_VERSION = "source-index-v1"  # part of the key: bump when the stored fields change
FINGERPRINTS = ("corpus_fingerprint", "queries_fingerprint", "eval_corpus_fingerprint")


def read_indexed(reader: Callable[[], RetrievalData], cache_dir: str | Path) -> RetrievalData:
    """The reader's data set: from its index when the source files are unchanged (ids, qrels and
    fingerprints; texts read again through ``reader`` only if one is asked for), else read whole
    and indexed for the next run."""
    entry = _entry(reader, cache_dir)
    if entry is None:
        return reader()
    if entry.exists():
        return _load(entry, reader)
    data = reader()
    _store(data, entry)
    return data


@contextlib.contextmanager
def data_set_lock(reader, cache_dir: str | Path) -> Iterator[None]:
    """Hold the lock of ``reader``'s data set (its index entry's) while the block runs: what lets one
    of several processes starting together read and prepare it while the others wait. A reader
    that is not indexed has no lock."""
    entry = _entry(reader, cache_dir)
    with locked(entry.with_name(f"{entry.name}.lock")) if entry else contextlib.nullcontext():
        yield


def _entry(reader, cache_dir: str | Path) -> Path | None:
    manifest = source_manifest(reader)
    if manifest is None:
        return None
    key = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:24]
    return Path(cache_dir) / "data" / f"{key}.npz"


def source_manifest(reader) -> dict | None:
    """Reader, arguments and source files' (name, size, mtime, sampled hash), or None when the
    reader does not name its source arguments."""
    func = reader.func if isinstance(reader, functools.partial) else None
    keys = getattr(func, "source_keys", None)
    if not keys or reader.args:
        return None
    arguments = {name: value for name, value in reader.keywords.items() if name not in keys}
    files = {name: _files(reader.keywords[name]) for name in keys if name in reader.keywords}
    return {"version": INDEX_VERSION, "reader": f"{func.__module__}.{func.__qualname__}",
            "arguments": repr(sorted(arguments.items())), "files": files}


def _files(value) -> list:
    """(name, size, mtime_ns, sampled hash) of every file a source argument names."""
    if isinstance(value, Mapping):  # a dict or a DictConfig (Hydra passes configs unconverted)
        return [[key, _files(item)] for key, item in sorted(value.items())]
    if not isinstance(value, (str, Path)):  # a list, tuple or ListConfig of paths
        return [_files(item) for item in value]
    path = Path(value)
    if path.is_file():
        return [_file_entry(path, path.name)]
    if path.is_dir():
        return [_file_entry(file, file.relative_to(path).as_posix()) for file in folder_files(path)]
    return [[str(path), "missing"]]


def _file_entry(path: Path, name: str) -> list:
    stat = path.stat()
    return [name, stat.st_size, stat.st_mtime_ns, file_fingerprint(path)]


def _store(data: RetrievalData, entry: Path) -> None:
    meta = {"name": data.name, "num_eval_passages": data.num_eval_passages, "qrels": data.qrels,
            **{name: getattr(data, name) for name in FINGERPRINTS}}
    with atomic_open(entry, "wb") as file:
        np.savez(file, corpus_ids=np.asarray(data.corpus_ids, dtype=str), query_ids=np.asarray(data.query_ids, dtype=str),
                 meta=np.asarray(json.dumps(meta)))


def _load(entry: Path, reader: Callable[[], RetrievalData]) -> RetrievalData:
    with np.load(entry, allow_pickle=False) as stored:
        corpus_ids, query_ids = stored["corpus_ids"].tolist(), stored["query_ids"].tolist()
        meta = json.loads(stored["meta"].item())
    data = RetrievalData(meta["name"], corpus_ids, lazy_texts(reader, "corpus_texts", len(corpus_ids)),
                         query_ids, lazy_texts(reader, "query_texts", len(query_ids)), meta["qrels"],
                         meta["num_eval_passages"])
    for name in FINGERPRINTS:  # cached properties: known, so never computed from the texts
        setattr(data, name, meta[name])
    return data
