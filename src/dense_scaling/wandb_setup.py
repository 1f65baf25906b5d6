"""Weights & Biases: offline unless an API key is set up; a run's summary; a fit's figures.

Importing this module registers the ``${wandb_offline:}`` resolver that ``conf/logger/wandb.yaml``
uses. wandb itself is imported only when a run logs to it.
"""
from __future__ import annotations

import netrc
import os
from pathlib import Path
from urllib.parse import urlparse

from omegaconf import DictConfig, OmegaConf

from dense_scaling.results import RANKING_METRICS, RunResults

PROJECT = "dense-scaling"
SUMMARY_CE = ("reported", "best", "final")


def has_api_key() -> bool:
    """True when WANDB_API_KEY is set or ~/.netrc holds an entry for the wandb host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc().authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


OmegaConf.register_new_resolver("wandb_offline", lambda: not has_api_key(), replace=True)


def logs_to_wandb(cfg: DictConfig) -> bool:
    return str(OmegaConf.select(cfg, "logger._target_", default="")).endswith("WandbLogger")


def summary_metrics(results: RunResults) -> dict:
    """What a run's wandb summary holds: N, D, CE (reported, best, final) and the ranking metrics."""
    ce = {k: getattr(results.ce, k) for k in SUMMARY_CE} if results.ce else {}
    ranking = results.ranking.metrics if results.ranking else {}
    return {
        "N": results.N, "D": results.D, "steps": results.steps,
        **{f"ce.{k}": value for k, value in ce.items() if value is not None},
        **{f"ranking.{k}": ranking[k] for k in RANKING_METRICS if k in ranking},
    }


def finish_run(cfg: DictConfig, results: RunResults | None) -> None:
    """Close the wandb run a training run opened (if it logged to wandb): log the resolved
    config, N and D, set the summary, and mark it failed when ``results`` is None."""
    if not logs_to_wandb(cfg):
        return
    import wandb

    if wandb.run is None:
        return
    wandb.run.config.update(OmegaConf.to_container(cfg, resolve=True), allow_val_change=True)
    if results is not None:
        wandb.run.config.update({"N": results.N, "D": results.D}, allow_val_change=True)
        wandb.run.summary.update(summary_metrics(results))
    wandb.finish(exit_code=0 if results is not None else 1)


def log_fit(out_dir: str | Path, sweep, figures: list[Path], group: str | None) -> Path:
    """Log a fit's PNG figures and fitted parameters as a ``job_type=fit`` run in ``group``;
    return the folder wandb wrote to."""
    import wandb

    out_dir = Path(out_dir)
    run = wandb.init(project=os.environ.get("WANDB_PROJECT", PROJECT), group=group, job_type="fit",
                     name=f"fit {group or ''}".strip(), dir=str(out_dir), mode=None if has_api_key() else "offline")
    params = {}
    for fit in sweep.fits if sweep is not None else []:
        prefix = f"{fit.kind}/{fit.label}"
        params.update({f"{prefix}/{name}": value for name, value in fit.result.law.params().items()})
        params[f"{prefix}/r2"] = fit.result.r2
    run.summary.update(params)
    run.log({path.stem: wandb.Image(str(path)) for path in figures if path.suffix == ".png"})
    folder = Path(run.dir).parent
    wandb.finish()
    return folder
