"""Robust sweeps: skip completed runs, resume interrupted ones, isolate and list failures.

A run folder holds ``results.json`` when the run finished, ``checkpoints/last.ckpt`` and
``previous.ckpt`` while it trains, ``failed.json`` (error and traceback) when it crashed, and
``.lock``, held by the one process that trains it. A run counts as completed
when its results.json is complete and records the same identity
(:func:`dense_scaling.run_identity.identity`: the settings that can change results, the data by content).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
import lightning as L
import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig

from dense_scaling.results import RESULTS_NAME, RunResults, write_json_atomic, write_text_atomic

CHECKPOINTS = "checkpoints"
LAST, PREVIOUS = "last.ckpt", "previous.ckpt"
LOCK = ".lock"
FAILED = "failed.json"


@contextlib.contextmanager
def claim(out_dir: str | Path) -> Iterator[str | None]:
    """Hold ``out_dir``'s lock while the block runs; yields None when this process holds it, or
    who holds it when another process does (then the run is theirs: skip it).

    One writer per run folder, so concurrent copies of a sweep, or SLURM array jobs that overlap,
    never train the same run twice or mix its files. The lock (``flock`` on ``out_dir/.lock``) ends
    with its process, however it ends, so a killed run leaves no stale lock. Data-parallel ranks
    other than 0 run inside rank 0's claim and take none.
    """
    if rank_zero_only.rank != 0:
        yield None
        return
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / LOCK, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            yield handle.read().strip() or "a process that has not said who it is"
            return
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        try:
            yield None
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def completed(out_dir: str | Path, digest: str) -> bool:
    """True when ``out_dir/results.json`` is complete and was made by a run of identity ``digest``."""
    try:
        results = RunResults.read(Path(out_dir) / RESULTS_NAME)
    except (OSError, ValueError):  # absent, torn, or not a results file
        return False
    return results.complete and results.identity == digest


def prepare(out_dir: str | Path, digest: str) -> None:
    """Before a run: drop a stale failed.json, and checkpoints left by a different config."""
    out_dir = Path(out_dir)
    (out_dir / FAILED).unlink(missing_ok=True)
    stamp = out_dir / CHECKPOINTS / "config.sha256"
    if stamp.exists() and stamp.read_text().strip() != digest:
        print(f"{out_dir / CHECKPOINTS}: made with another config; starting from scratch")
        shutil.rmtree(out_dir / CHECKPOINTS)
    write_text_atomic(stamp, digest + "\n")


class RunCheckpoints(L.Callback):
    """Every ``every_n_steps`` steps: the full training state (weights, optimizer, callbacks' state)
    to ``checkpoints/last.ckpt``, the one before kept as ``previous.ckpt``. Each is written under a
    temporary name and renamed, so a kill mid-write never leaves a torn checkpoint behind. Put it
    last among the callbacks: it saves what the others recorded at the same step."""

    def __init__(self, out_dir: str | Path, every_n_steps: int):
        self.folder, self.every_n_steps = Path(out_dir) / CHECKPOINTS, every_n_steps

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % self.every_n_steps == 0:
            self.folder.mkdir(parents=True, exist_ok=True)
            written = self.folder / f".{LAST}.tmp"
            trainer.save_checkpoint(written)  # every rank takes part; rank 0 writes
            if trainer.is_global_zero:
                if (self.folder / LAST).exists():
                    os.replace(self.folder / LAST, self.folder / PREVIOUS)
                os.replace(written, self.folder / LAST)


def resume_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest loadable checkpoint of an interrupted run (last, else previous), or None.

    A checkpoint that cannot be read (truncated, not a checkpoint, or holding more than tensors
    and plain values) is moved aside as ``<name>.unreadable`` and named in a printed line, which
    also says what the run resumes from instead."""
    folder, moved = Path(out_dir) / CHECKPOINTS, []
    for name in (LAST, PREVIOUS):
        path = folder / name
        if not path.exists():
            continue
        try:
            torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as error:  # any failure to read it means it cannot be resumed from
            os.replace(path, path.with_name(f"{name}.unreadable"))
            moved.append(f"{path} -> {name}.unreadable ({type(error).__name__}: {str(error).splitlines()[0][:120]})")
            continue
        if moved:
            print(f"unreadable checkpoint moved aside: {'; '.join(moved)}; resuming from {path}")
        return path
    if moved:
        print(f"unreadable checkpoint moved aside: {'; '.join(moved)}; no other checkpoint: starting from scratch")
    return None


def finish(out_dir: str | Path) -> None:
    """After a run wrote results.json: its checkpoints are no longer needed."""
    shutil.rmtree(Path(out_dir) / CHECKPOINTS, ignore_errors=True)


def record_failure(out_dir: str | Path, error: BaseException) -> Path:
    """Write ``out_dir/failed.json`` (error, type, traceback, time) atomically."""
    return write_json_atomic(Path(out_dir) / FAILED, {
        "error": str(error) or type(error).__name__,
        "type": type(error).__name__,
        "traceback": "".join(traceback.format_exception(error)),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "overrides": list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else [],
    })


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def failures(sweep_dir: str | Path) -> list[tuple[Path, dict]]:
    """Every failed.json under ``sweep_dir`` with its content, in path order."""
    found = []
    for path in sorted(Path(sweep_dir).rglob(FAILED)):
        try:
            found.append((path.parent, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError) as err:
            found.append((path.parent, {"type": "unreadable failed.json", "error": str(err)}))
    return found


class ListFailures(Callback):
    """Hydra callback: at the end of a multirun, list the runs of the sweep folder that failed."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        found = failures(sweep_dir)
        total = len(list(sweep_dir.rglob("results.json")))
        if not found:
            print(f"sweep {sweep_dir}: no failed runs ({total} with results)")
            return
        print(f"sweep {sweep_dir}: {len(found)} failed run(s) ({total} with results); "
              f"see failed.json in each folder, fix and run the same command again:")
        for folder, failure in found:
            print(f"  FAILED {folder}: {failure.get('type')}: {failure.get('error')}")
