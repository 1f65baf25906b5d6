"""Atomic, reproducible writing: every result file is written whole or not at all, and the same
content always gives the same bytes."""
from __future__ import annotations

import contextlib
import gzip
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

RESULTS_FORMAT = "dense-scaling/results/v1"
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read the process's umask (setting it is the only way), then put it back


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """A file opened on a temporary name in ``path``'s folder and renamed over ``path`` when the
    block succeeds (removed when it fails), so a reader sees the old file or the new one, never
    half of one. Parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.chmod(tmp, 0o666 & ~_UMASK)  # as open() would make it (mkstemp makes it private)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as file:
            yield file
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextlib.contextmanager
def gzip_text(file: IO[bytes]) -> Iterator[IO[str]]:
    """UTF-8 text written gzip-compressed into the binary ``file``, with neither a time stamp nor
    a file name in the gzip header, so that the same text always gives the same bytes."""
    with gzip.GzipFile(filename="", mode="wb", fileobj=file, mtime=0) as compressed:
        with io.TextIOWrapper(compressed, encoding="utf-8", newline="\n") as text:
            yield text


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path) as file:
        file.write(text)
    return Path(path)


def write_json_atomic(path: str | Path, payload: Any, non_finite_as_null: bool = False) -> Path:
    """Write ``payload`` as indented, strict JSON to ``path`` atomically. Strict JSON has no NaN
    or infinity: they are refused with an error naming the file, or written as null when
    ``non_finite_as_null`` (for reports, where "no value" is the honest entry)."""
    if non_finite_as_null:
        payload = _finite_or_none(json.loads(json.dumps(payload, default=_plain)))
    try:
        text = json.dumps(payload, indent=2, default=_plain, allow_nan=False)
    except ValueError as error:
        raise ValueError(f"{path}: not written, it would hold a non-finite number ({error})") from None
    return write_text_atomic(path, text + "\n")


def _finite_or_none(value: Any) -> Any:
    """``value`` with every NaN or infinite float, at any depth, replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(item) for item in value]
    return value


def _plain(value: Any):
    """numpy scalars and arrays as plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
