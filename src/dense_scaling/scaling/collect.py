"""Read results.json files (docs/results.md) into a table, one row per run.

``collect(paths)`` accepts run folders, Hydra multirun folders (searched
recursively), results.json files and globs; each file is parsed by
``dense_scaling.results.RunResults``. Files that cannot be fitted (bad JSON,
``complete`` not true, no N or ``ce.reported``, an unknown D as from ``evaluate``
of a model without its training run) are returned as ``(path, reason)`` pairs
and left out of the table, never fitted silently.

Fields newer than a results file are derived from what it holds, so old runs fit too:
``proj_dim`` from ``config.proj_dim``; the training FLOPs ``C`` from ``N``, ``tokens_seen``,
``steps`` and the config's batch, negatives and architecture (``compute.training_flops``);
``device_seconds`` from ``wall_time_s`` x ``config.trainer.devices``.
"""

from __future__ import annotations

import glob
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dense_scaling.results import RANKING_METRICS, RESULTS_NAME, RunResults, is_number

from .compute import training_flops
from .errors import ScalingInputError


@dataclass(frozen=True)
class RunRecord:
    """One run: its sizes, its reported contrastive entropy, and what identifies it."""

    path: str
    N: float
    D: float
    L: float
    L_ci95: tuple[float, float] | None = None
    protocol: str | None = None
    model: str | None = None
    data: str | None = None
    annotation: str | None = None
    seed: int | None = None
    study: str | None = None
    overrides: tuple[str, ...] = ()
    ranking: dict[str, float] = field(default_factory=dict)
    checkpoints: tuple[dict[str, float], ...] = ()  # ranking.history: step, ce and metrics per evaluation
    proj_dim: float | None = None        # embedding dimension
    C: float | None = None               # training FLOPs
    device_seconds: float | None = None  # wall time x devices
    steps: int | None = None             # training steps taken
    batch_size: int | None = None        # training pairs per step (training.batch_size)
    tokens_seen: float | None = None     # non-padding training tokens
    reported_step: int | None = None     # the step ce.reported was measured at
    last_eval_step: int | None = None    # the step of the last evaluation (ce.history)


@dataclass(frozen=True)
class Skipped:
    """A results file left out of the table, and why."""

    path: str
    reason: str


def _record(path: Path, payload) -> RunRecord:
    """Turn one parsed results.json into a record; raise ValueError(reason) if it cannot be fitted."""
    results = RunResults.from_json(payload)
    if not results.complete:
        raise ValueError("'complete' is not true (the run is unfinished or crashed)")
    if results.D is None:
        raise ValueError("not fittable: unknown D (an evaluation of a model whose folder holds no training run's "
                         "results.json); evaluate <run>/model of a training run to carry its D")
    ce = results.ce
    if ce is None:
        raise ValueError("missing ce.reported (no evaluation ran)")
    if not math.isfinite(ce.reported):
        raise ValueError(f"ce.reported is {ce.reported} (the run diverged); retrain it with a lower training.lr")
    run, ranking, config = results.run, results.ranking, results.config
    proj_dim = _number(results.proj_dim, _config(config, "proj_dim"))
    eval_steps = [entry[0] for entry in ce.history]
    return RunRecord(
        path=str(path), N=float(results.N), D=float(results.D), L=float(ce.reported),
        L_ci95=tuple(ce.reported_ci95) if ce.reported_ci95 else None,
        protocol=results.protocol, model=run.model, data=run.data, annotation=run.annotation, seed=run.seed,
        study=run.study, overrides=tuple(run.overrides),
        ranking=dict(ranking.metrics) if ranking else {},
        checkpoints=_checkpoints(ranking.history if ranking else None),
        proj_dim=proj_dim, C=_flops(results, config, proj_dim), device_seconds=_device_seconds(results, config),
        steps=_integer(results.steps), batch_size=_integer(_config(config, "training", "batch_size")),
        tokens_seen=_number(results.tokens_seen), reported_step=_integer(ce.reported_step),
        last_eval_step=int(max(eval_steps)) if eval_steps else None,
    )


def _number(*candidates) -> float | None:
    """The first candidate that is a number, as a float (None if none is)."""
    return next((float(c) for c in candidates if is_number(c)), None)


def _integer(value) -> int | None:
    return int(value) if is_number(value) else None


def _config(config: dict, *keys):
    """``config[k1][k2]...``, or None where a level is missing."""
    for key in keys:
        if not isinstance(config, dict):
            return None
        config = config.get(key)
    return config


def _flops(results: RunResults, config: dict, proj_dim: float | None) -> float | None:
    """``flops.train``, or the same formula from N, tokens_seen, steps and the config (older files)."""
    flops = results.flops or {}
    if is_number(flops.get("train")):
        return float(flops["train"])
    arch = _config(config, "model", "arch") or {}
    run = {"N": results.N, "tokens": results.tokens_seen, "steps": results.steps,
           "batch_size": _config(config, "training", "batch_size"),
           "num_negatives": _config(config, "training", "num_negatives"),
           "layers": arch.get("num_hidden_layers"), "hidden": arch.get("hidden_size"), "proj_dim": proj_dim}
    if not all(is_number(v) for v in run.values()):
        return None
    return training_flops(**run) or None


def _device_seconds(results: RunResults, config: dict) -> float | None:
    """``device_seconds``, or ``wall_time_s`` x a positive integer ``config.trainer.devices``."""
    if results.device_seconds is not None:
        return float(results.device_seconds)
    devices = _config(config, "trainer", "devices")
    if results.wall_time_s is not None and is_number(devices) and devices > 0:
        return float(results.wall_time_s) * int(devices)
    return None


def _checkpoints(history) -> tuple[dict[str, float], ...]:
    """The complete entries (step, ce and every ranking metric) of ranking.history."""
    keys = ("step", "ce", *RANKING_METRICS)
    entries = history if isinstance(history, list) else []
    return tuple({k: float(e[k]) for k in keys} for e in entries
                 if isinstance(e, dict) and all(is_number(e.get(k)) for k in keys))


def ce_vs_ranking(records: list[RunRecord]) -> dict[str, list[dict[str, float]]]:
    """Points of CE against the ranking metrics (paper Fig. 2), by run label: a run's checkpoints
    when it ranked at every evaluation (``eval.ranking_every_eval``), else its reported point."""
    points = {}
    for r in records:
        label = f"{r.model} D={r.D:.0f} ({Path(r.path).parent.name})"
        if r.checkpoints:
            points[label] = list(r.checkpoints)
        elif all(m in r.ranking for m in RANKING_METRICS):
            points[label] = [{"step": float("nan"), "ce": r.L, **r.ranking}]
    return points


def _result_files(spec: str) -> list[Path]:
    """Every results.json named by one PATH argument; raise if there is none."""
    matches = [Path(p) for p in glob.glob(spec, recursive=True)] if glob.has_magic(spec) else [Path(spec)]
    files = []
    for match in matches:
        if match.is_dir():
            files.extend(sorted(match.rglob(RESULTS_NAME)))
        elif match.is_file():
            files.append(match)
    if not files:
        what = "nothing matches" if not any(m.exists() for m in matches) else f"no {RESULTS_NAME} under it"
        raise ScalingInputError(
            f"no results found for {spec!r} ({what}); give a run folder, a Hydra multirun folder, "
            f"a {RESULTS_NAME} file or a quoted glob")
    return files


def collect(paths) -> tuple[list[RunRecord], list[Skipped]]:
    """Read every results.json under ``paths``; return (records, skipped files with reasons)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    seen, records, skipped = set(), [], []
    for spec in paths:
        for file in _result_files(str(spec)):
            key = file.resolve()
            if key in seen:
                continue
            seen.add(key)
            try:
                records.append(_record(file, json.loads(file.read_text(encoding="utf-8"))))
            except json.JSONDecodeError as exc:
                skipped.append(Skipped(str(file), f"invalid JSON ({exc.msg} at line {exc.lineno})"))
            except (OSError, UnicodeDecodeError) as exc:
                skipped.append(Skipped(str(file), f"unreadable ({exc})"))
            except ValueError as exc:
                skipped.append(Skipped(str(file), str(exc)))
    return records, skipped


def check_records(records: list[RunRecord]) -> None:
    """Refuse records a fit must not mix or cannot use: several protocols, non-positive N, D or L."""
    protocols = sorted({str(r.protocol) for r in records})
    if len(protocols) > 1:
        examples = "; ".join(f"{p}: {next(r.path for r in records if str(r.protocol) == p)}" for p in protocols)
        raise ScalingInputError(
            f"the runs mix protocols {protocols} ({examples}); fit one protocol at a time by passing "
            f"only its folders")
    for record in records:
        for name in ("N", "D", "L"):
            value = getattr(record, name)
            if not (math.isfinite(value) and value > 0):
                label = "ce.reported" if name == "L" else name
                raise ScalingInputError(
                    f"{record.path}: {label} = {value!r} is not positive; fix that results.json or remove the run")


def columns(records: list[RunRecord]) -> dict[str, np.ndarray]:
    """The table as numpy columns (N, D, L, proj_dim, C, device_seconds and each ranking metric,
    NaN where missing)."""
    table = {name: np.array([np.nan if getattr(r, name) is None else getattr(r, name) for r in records], dtype=float)
             for name in ("N", "D", "L", "proj_dim", "C", "device_seconds")}
    for metric in RANKING_METRICS:
        table[metric] = np.array([r.ranking.get(metric, np.nan) for r in records], dtype=float)
    return table
