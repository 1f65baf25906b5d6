"""Shared helpers: Hydra composition on tiny shapes, paths to ../shared data."""
from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from tests.sweep_helpers import TINY_MODELS, sweep, tiny_study

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_dataset(name: str) -> Path:
    """A data set folder in ../shared/data, or skip the test when it is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


def compose_config(config_name: str, cache_dir: Path, out_dir: Path, *overrides: str):
    """A config as ``@hydra.main`` hands it to the task, with tokens cached under ``cache_dir``
    and ``${hydra:runtime.output_dir}`` pointing at ``out_dir``."""
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="dense_scaling.conf", version_base="1.3"):
        cfg = compose(
            config_name=config_name,
            overrides=[f"cache_dir={cache_dir}", f"data_root={SHARED_DATA}",
                       f"hydra.runtime.output_dir={out_dir}", *overrides],
            return_hydra_config=True,
        )
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


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
