"""What makes a run the same run: its folder name in a sweep and its identity hash, both decided
by one list of keys, :data:`VOLATILE_KEYS`, that change where or how fast a run goes, never its
results.

- The folder (``hydra.sweep.subdir``) is named by the swept parameters only (keys given several
  values on the command line or in ``hydra.sweeper.params``), each value made file-safe (a path
  becomes its last component and a short content hash) and the name bounded below the file-system
  limit; the full overrides stay in ``.hydra/``.
- The identity is the sha256 of the resolved config without those keys (and the fields that only
  repeat one of them), with every value that names an existing file or folder replaced by the
  content fingerprint of what it names, so moving or copying the data keeps finished runs finished.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, ListConfig, OmegaConf

from dense_scaling.data.fingerprint import path_fingerprint

VOLATILE_KEYS = (
    "study", "cache_dir", "data_root", "logger", "trainer.default_root_dir", "training.num_workers",
    "training.checkpoint_every_n_steps", "eval.batch_size", "training.gradient_checkpointing", "training.grad_cache",
)
"""Keys that change where or how fast a run goes, not its results: left out of run folder names and
of the identity. ``data_root`` goes, but the data paths built on it are kept as content fingerprints."""
SWEPT_ENV = "DENSE_SCALING_SWEPT"
"""Where :class:`RecordSweptKeys` leaves the command line's swept keys for the jobs of a multirun."""
NAME_BYTES = 200  # below the 255-byte limit of a file name on common file systems
_ALIAS = re.compile(r"^\$\{([\w.]+)\}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+@-]")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _names_a_path(value) -> bool:
    return isinstance(value, str) and ("/" in value or os.sep in value) and Path(value).exists()


def swept_keys(overrides) -> set[str]:
    """The keys that ``overrides`` (``key=value`` strings) give several values."""
    parsed = OverridesParser.create().parse_overrides([str(o) for o in overrides or []])
    return {override.key_or_group for override in parsed if override.is_sweep_override()}


def file_safe(value: str) -> str:
    """``value`` as part of a file name: a path becomes its last component and a short content
    hash (of the path's text when it does not exist); characters other than letters, digits and
    ``_.+@-`` become ``_``."""
    if "/" in value or os.sep in value:
        digest = path_fingerprint(value) if Path(value).exists() else _sha256(value)
        value = f"{Path(value).name or 'root'}-{digest[:8]}"
    return _UNSAFE.sub("_", value)


def bounded(name: str, limit: int = NAME_BYTES) -> str:
    """``name`` cut to ``limit`` UTF-8 bytes, ending with a hash of the whole name when cut."""
    data = name.encode()
    if len(data) <= limit:
        return name
    tag = "~" + _sha256(name)[:12]
    return data[: limit - len(tag)].decode(errors="ignore") + tag


def run_name(task, params=None) -> str:
    """A multirun job's folder name from its overrides ``task``: the swept keys only (from
    ``params``, ``hydra.sweeper.params``, and the command line's, see :class:`RecordSweptKeys`)
    as ``key=value`` joined by ``,`` in key order; ``default`` when nothing is swept."""
    swept = swept_keys(f"{key}={value}" for key, value in (params or {}).items())
    swept |= set(filter(None, os.environ.get(SWEPT_ENV, "").split(",")))
    parts = sorted(f"{o.key_or_group}={file_safe(o.get_value_element_as_str())}"
                   for o in OverridesParser.create().parse_overrides([str(t) for t in task])
                   if o.key_or_group in swept and o.key_or_group not in VOLATILE_KEYS and o.value() is not None)
    return bounded(",".join(parts) or "default")


OmegaConf.register_new_resolver("dense_scaling.run_name", run_name, replace=True)


class RecordSweptKeys(Callback):
    """Hydra callback: at a multirun's start, the keys its command line sweeps go to
    :data:`SWEPT_ENV`, which the jobs (in this process, or launched from it) name their folders by."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        os.environ[SWEPT_ENV] = ",".join(sorted(swept_keys(config.hydra.overrides.task)))


def _settings(node: DictConfig, prefix: str = "") -> dict:
    """``node`` resolved, without volatile keys or aliases of one, paths as content fingerprints."""
    raw, out = OmegaConf.to_container(node, resolve=False), {}
    for key in node:
        dotted, written = f"{prefix}{key}", raw[key]
        alias = _ALIAS.match(written) if isinstance(written, str) else None
        if dotted in VOLATILE_KEYS or (alias and alias.group(1) in VOLATILE_KEYS):
            continue
        value = node[key]
        if isinstance(value, DictConfig):
            out[key] = _settings(value, dotted + ".")
        elif isinstance(value, ListConfig):
            out[key] = OmegaConf.to_container(value, resolve=True)
        else:
            out[key] = {"content_sha256": path_fingerprint(value)} if _names_a_path(value) else value
    return out


def identity(cfg: DictConfig) -> str:
    """The run's identity: sha256 of its settings as :func:`_settings` gives them."""
    return _sha256(json.dumps(_settings(cfg), sort_keys=True, default=str))
