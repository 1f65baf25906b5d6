"""Fixtures shared by the test modules; the helpers they use live in tests/helpers/."""
from __future__ import annotations

import os

import pytest
from hydra.core.global_hydra import GlobalHydra

# No test reaches a network: the Hugging Face libraries fail at once instead of retrying a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.helpers.config import compose_config  # noqa: E402
from tests.helpers.sweeps import TINY_MODELS, sweep, tiny_study  # noqa: E402


@pytest.fixture
def compose_train(tmp_path):
    """Compose the train config with overrides; runs write to tmp_path/'run'."""
    yield lambda *overrides: compose_config("train", tmp_path / "cache", tmp_path / "run", *overrides)
    GlobalHydra.instance().clear()


@pytest.fixture(scope="session")
def joint_sweep(tmp_path_factory):
    """joint_quick at a tiny size: 3 shapes x 3 data sizes; returns its sweep folder."""
    cwd = tmp_path_factory.mktemp("joint")
    name = tiny_study(cwd, "joint_quick", {"model": TINY_MODELS, "data.num_train_pairs": "64,128,256"})
    sweep(cwd, name)
    return cwd / "multirun" / name
