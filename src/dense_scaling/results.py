"""results.json and its writing: the run record every writer and reader uses (torch-free
dataclasses with ``to_json``/``from_json``, docs/results.md), and atomic, reproducible writing:
every result file is written whole or not at all, and the same content always gives the same bytes."""
from __future__ import annotations

import contextlib
import fcntl
import gzip
import io
import json
import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import IO, Any, Iterator

RESULTS_NAME = "results.json"
RESULTS_FORMAT = "dense-scaling/results/v2"
READABLE_FORMATS = ("dense-scaling/results/v1", RESULTS_FORMAT)  # v1 has the same fields, D absent from evaluate's
RANKING_METRICS = ("map@10", "ndcg@10", "recall@1000", "mrr@10")  # the one list of the ranking metrics' names
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


@contextlib.contextmanager
def atomic_directory(path: str | Path, shared: bool = False) -> Iterator[Path]:
    """A new folder beside ``path``, filled by the block and renamed to ``path`` when it succeeds
    (an empty folder there is replaced; removed when it fails), so a reader sees the whole folder
    or none. A non-empty ``path`` that appeared meanwhile is an error, unless ``shared``: a folder
    whose content its name decides (a cache entry), which a concurrent writer may finish first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~_UMASK)  # as mkdir would make it (mkdtemp makes it private)
    try:
        yield tmp
        try:
            os.rename(tmp, path)
        except OSError:  # path holds files: another writer's folder
            if not (shared and path.is_dir()):
                raise FileExistsError(f"{path} exists and is not empty; not replaced") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` while the block runs (released when the process ends,
    however it ends): what lets one of several runs or ranks starting together build a cache entry
    while the others wait for it and then read it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(payload: dict, key: str, where: str, required: bool = False):
    """``payload[key]`` if it is a number (or None when absent and not ``required``); else ValueError."""
    value = payload.get(key)
    if value is None and not required:
        return None
    if not is_number(value):
        raise ValueError(f"missing or non-numeric {where}{key}")
    return value


def _pair(value) -> list[float] | None:
    """A 95% interval as [low, high], or None if ``value`` is not one."""
    return [float(v) for v in value] if isinstance(value, list) and len(value) == 2 and all(map(is_number, value)) \
        else None


@dataclass
class CEPart:
    """The ``ce`` part: contrastive entropy of the test pairs (paper Eq. 5) and the protocol's sizes.
    An evaluation of one model fills ``reported`` and the sizes; training adds the selection fields."""

    reported: float
    reported_ci95: list[float] | None
    K: int
    R: int
    pool_size: int
    num_pairs: int
    subcorpus_size: int | None = None
    reported_step: int | None = None
    best: float | None = None
    best_step: int | None = None
    best_ci95: list[float] | None = None
    final: float | None = None
    final_ci95: list[float] | None = None
    val_best: float | None = None
    val_best_step: int | None = None
    history: list[list[float]] = field(default_factory=list)  # [step, test CE] or [step, test CE, val CE]

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, payload) -> CEPart:
        if not isinstance(payload, dict) or not is_number(payload.get("reported")):
            raise ValueError("missing ce.reported (no evaluation ran)")
        values = {f.name: payload.get(f.name) for f in fields(cls)}
        for key in ("reported_ci95", "best_ci95", "final_ci95"):
            values[key] = _pair(values[key])
        for key in ("K", "R", "pool_size", "num_pairs"):
            values[key] = _number(payload, key, "ce.")
        history = values["history"]
        values["history"] = [e for e in history if isinstance(e, list) and e and is_number(e[0])] \
            if isinstance(history, list) else []
        return cls(**values)


@dataclass
class RankingPart:
    """The ``ranking`` part: the metrics of exact search over the subcorpus (written flat, beside
    the query counts), the step of the weights that ranked, and per-checkpoint points."""

    metrics: dict[str, float]
    subcorpus_size: int
    top_k: int
    num_queries: int | None = None
    skipped_queries: int | None = None
    missing_queries: int | None = None
    unjudged_queries: int | None = None
    step: int | None = None
    history: list[dict[str, float]] | None = None  # {"step", "ce", metric: value} per evaluation

    def to_json(self) -> dict:
        flat = {key: value for key, value in asdict(self).items() if key != "metrics"}
        if self.history is None:
            del flat["history"]
        return {**self.metrics, **flat}

    @classmethod
    def from_json(cls, payload) -> RankingPart | None:
        if not isinstance(payload, dict):
            return None
        values = {f.name: payload.get(f.name) for f in fields(cls) if f.name != "metrics"}
        metrics = {name: float(payload[name]) for name in RANKING_METRICS if is_number(payload.get(name))}
        return cls(metrics=metrics, **values)


@dataclass
class RunInfo:
    """The ``run`` part: what was trained or scored, on what, in which study. ``trained_run`` (from
    evaluate) is the training run folder whose ``D`` and ``annotation`` the record carries."""

    model: str | None
    data: str | None
    annotation: str | None = None
    seed: int | None = None
    study: str | None = None
    overrides: list[str] = field(default_factory=list)
    checkpoint: str | None = None
    trained_run: str | None = None
    precision: str | None = None  # the precision training ran in (trainer.precision=auto's choice)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, payload) -> RunInfo:
        payload = payload if isinstance(payload, dict) else {}
        values = {f.name: payload.get(f.name) for f in fields(cls)}
        values["overrides"] = list(values["overrides"] or [])
        return cls(**values)


@dataclass
class RunResults:
    """One results.json: a training run (train) or the scoring of one model (evaluate).

    ``D`` is None when unknown (evaluate of a model whose training folder does not say it): such
    a record is kept but not fittable. Training-only runs have ``ce`` and ``ranking`` None.
    """

    run: RunInfo
    N: int
    N_with_projection: int
    N_total: int
    D: int | None
    protocol: str | None
    ce: CEPart | None
    ranking: RankingPart | None
    N_trainable: int | None = None  # the parameters training updated (with LoRA: adapters + projection)
    steps: int | None = None
    tokens_seen: int | None = None
    wall_time_s: float | None = None
    device_seconds: float | None = None
    proj_dim: int | None = None
    flops: dict | None = None
    train_loss_final: float | None = None
    config: dict = field(default_factory=dict)
    identity: str | None = None  # training: the run's identity (run_identity.identity), what a re-run is matched by
    complete: bool = True
    format: str = RESULTS_FORMAT

    def to_json(self) -> dict:
        """The JSON object of docs/results.md (written with this version's ``format``)."""
        out = {"format": RESULTS_FORMAT, "complete": self.complete, "run": self.run.to_json()}
        for f in fields(self):
            if f.name not in ("format", "complete", "run"):
                value = getattr(self, f.name)
                out[f.name] = value.to_json() if hasattr(value, "to_json") else value
        return out

    @classmethod
    def from_json(cls, payload) -> RunResults:
        """A parsed results.json of any readable version; ValueError(reason) when it is not one."""
        if not isinstance(payload, dict):
            raise ValueError("not a JSON object")
        if payload.get("format") not in READABLE_FORMATS:
            raise ValueError(f"format is {payload.get('format')!r}, expected one of {', '.join(READABLE_FORMATS)}")
        values = {f.name: payload.get(f.name) for f in fields(cls)}
        for key in ("N", "N_with_projection", "N_total", "N_trainable"):
            values[key] = _number(payload, key, "", required=key == "N")
        for key in ("D", "steps", "tokens_seen", "wall_time_s", "device_seconds", "proj_dim", "train_loss_final"):
            values[key] = _number(payload, key, "")
        values.update(
            run=RunInfo.from_json(payload.get("run")), complete=payload.get("complete") is True,
            ce=None if payload.get("ce") is None else CEPart.from_json(payload["ce"]),
            ranking=RankingPart.from_json(payload.get("ranking")),
            flops=values["flops"] if isinstance(values["flops"], dict) else None,
            config=values["config"] if isinstance(values["config"], dict) else {},
        )
        return cls(**values)

    @classmethod
    def read(cls, path: str | Path) -> RunResults:
        """The results.json at ``path`` (json.JSONDecodeError, OSError or ValueError if unreadable)."""
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))

    def write(self, path: str | Path) -> Path:
        """Write atomically (strict JSON: a non-finite number is refused, naming the file)."""
        return write_json_atomic(path, self.to_json())


def format_metrics(metrics: dict[str, float], digits: int = 4) -> str:
    """Ranking metrics for a printout: ``MAP@10 0.409, NDCG@10 0.475, Recall@1000 0.997, MRR@10 0.430``."""
    def label(name: str) -> str:
        base, cut = name.split("@")
        return f"{'Recall' if base == 'recall' else base.upper()}@{cut}"
    return ", ".join(f"{label(name)} {metrics[name]:.{digits}f}" for name in RANKING_METRICS if name in metrics)
