"""Robust sweeps: skip completed runs, resume interrupted ones, isolate and list failures.

A run folder holds ``results.json`` when the run finished, ``checkpoints/last.ckpt`` while it
trains, and ``failed.json`` (error and traceback) when it crashed. A run counts as completed
when its results.json is complete and was made from the same configuration, compared through
:func:`config_hash` of the resolved config without the keys that do not change results.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import traceback
from datetime import datetime, timezone
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from dense_scaling.results import write_json_atomic, write_text_atomic

VOLATILE_KEYS = (
    "cache_dir", "datamodule.cache_dir", "data.reader.cache_dir", "datamodule.reader.cache_dir", "logger", "trainer.default_root_dir",
    "training.num_workers", "datamodule.num_workers", "training.checkpoint_every_n_steps", "eval.batch_size",
)
"""Dotted keys of the resolved config that change where or how fast a run goes, not its results."""
CHECKPOINTS = "checkpoints"
FAILED = "failed.json"


def config_hash(config: DictConfig | dict) -> str:
    """sha256 of the resolved config without :data:`VOLATILE_KEYS`."""
    plain = OmegaConf.to_container(config, resolve=True) if isinstance(config, DictConfig) else json.loads(
        json.dumps(config))
    for dotted in VOLATILE_KEYS:
        *parents, leaf = dotted.split(".")
        node = plain
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return hashlib.sha256(json.dumps(plain, sort_keys=True, default=str).encode()).hexdigest()


def completed(out_dir: str | Path, digest: str) -> bool:
    """True when ``out_dir/results.json`` is complete and was made from a config with ``digest``."""
    try:
        results = json.loads((Path(out_dir) / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return results.get("complete") is True and config_hash(results.get("config") or {}) == digest


def prepare(out_dir: str | Path, digest: str) -> None:
    """Before a run: drop a stale failed.json, and checkpoints left by a different config."""
    out_dir = Path(out_dir)
    (out_dir / FAILED).unlink(missing_ok=True)
    stamp = out_dir / CHECKPOINTS / "config.sha256"
    if stamp.exists() and stamp.read_text().strip() != digest:
        print(f"{out_dir / CHECKPOINTS}: made with another config; starting from scratch")
        shutil.rmtree(out_dir / CHECKPOINTS)
    write_text_atomic(stamp, digest + "\n")


def checkpoint_callback(out_dir: str | Path, every_n_steps: int) -> ModelCheckpoint:
    """Saves ``out_dir/checkpoints/last.ckpt`` (weights, optimizer, callbacks' state) every n steps."""
    return ModelCheckpoint(dirpath=Path(out_dir) / CHECKPOINTS, save_last=True, save_top_k=0,
                           every_n_train_steps=every_n_steps)


def last_checkpoint(out_dir: str | Path) -> Path | None:
    """The checkpoint an interrupted run resumes from, or None."""
    path = Path(out_dir) / CHECKPOINTS / "last.ckpt"
    return path if path.exists() else None


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
