"""Hydra composition as ``@hydra.main`` does it, with caches and outputs in test folders."""
from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from tests.helpers.paths import SHARED_DATA


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
