"""Shared fixtures: Hydra composition on tiny shapes, paths to ../shared data."""
from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import open_dict
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_dataset(name: str) -> Path:
    """A data set folder in ../shared/data, or skip the test when it is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture
def compose_train(tmp_path):
    """Compose the train config with overrides; tokens are cached and runs write under tmp_path."""

    def _compose(*overrides: str):
        GlobalHydra.instance().clear()
        with initialize_config_module(config_module="dense_scaling.conf", version_base="1.3"):
            cfg = compose(
                config_name="train",
                overrides=[
                    f"cache_dir={tmp_path / 'cache'}", f"data_root={SHARED_DATA}",
                    f"hydra.runtime.output_dir={tmp_path / 'run'}", *overrides,
                ],
                return_hydra_config=True,
            )
            HydraConfig.instance().set_config(cfg)
            with open_dict(cfg):
                del cfg["hydra"]  # as @hydra.main hands it to the task
            return cfg

    yield _compose
    GlobalHydra.instance().clear()
