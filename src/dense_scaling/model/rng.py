"""The random state of training across a resume, so that a resumed run equals an uninterrupted one.

Dropout draws from torch's global generator. A checkpoint taken after step t stores the
generators' state; a resumed run puts it back just before its first training step (not while the
checkpoint is loaded: building the DataLoader iterator in between draws a number), so step t+1
meets the same dropout masks as in the run that was never stopped.
"""
from __future__ import annotations

import random

import lightning as L
import numpy as np
import torch


def capture() -> dict:
    """The state of every generator training may draw from (torch CPU and CUDA, numpy, random),
    as tensors and plain values, so a checkpoint holding it loads with ``weights_only=True``."""
    _, keys, position, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(gauss)],
        "python": random.getstate(),
    }


def restore(state: dict) -> None:
    """Put back a state from :func:`capture`."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    keys, position, has_gauss, gauss = state["numpy"]
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    random.setstate(state["python"])


class RandomState(L.Callback):
    """Keeps the generators' state in every checkpoint and restores it before the first step of
    a resumed run."""

    def __init__(self):
        self._pending: dict | None = None

    def state_dict(self) -> dict:
        return capture()

    def load_state_dict(self, state: dict) -> None:
        self._pending = state

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if self._pending is not None:
            restore(self._pending)
            self._pending = None
