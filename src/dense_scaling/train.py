"""Train one dense retriever: ``python -m dense_scaling.train [-m] key=value ...``.

Compose the config, instantiate data, model and trainer, fit, and write ``results.json``
(the contract with ``dense_scaling.fit``, see docs/results.md) and the trained model.
"""
from __future__ import annotations

import time
from pathlib import Path

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from dense_scaling.model.module import ContrastiveRetriever
from dense_scaling.results import RESULTS_FORMAT, write_json_atomic


def run(cfg: DictConfig, out_dir: str | Path) -> dict:
    """Train as ``cfg`` says, write ``results.json`` and ``model/`` into ``out_dir``; return the results."""
    out_dir = Path(out_dir)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.datamodule)
    datamodule.prepare()
    model = instantiate(cfg.encoder, vocab_size=len(datamodule.tokenizer))
    module = ContrastiveRetriever(
        model,
        lr=cfg.training.lr,
        weight_decay=cfg.training.weight_decay,
        warmup_steps=cfg.training.warmup_steps,
        max_steps=cfg.training.max_steps,
        in_batch_negatives=cfg.training.in_batch_negatives,
    )
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    trainer = instantiate(cfg.trainer, logger=logger)
    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    wall_time = time.perf_counter() - started

    model.save_pretrained(out_dir / "model")
    datamodule.tokenizer.save_pretrained(out_dir / "model" / "tokenizer")
    results = {
        "format": RESULTS_FORMAT,
        "complete": True,
        "run": {
            "model": cfg.model.name,
            "data": cfg.data.name,
            "annotation": cfg.data.annotation,
            "seed": cfg.seed,
            "study": cfg.study,
            "overrides": _overrides(),
        },
        "N": model.non_embedding_parameters(),
        "N_with_projection": model.non_embedding_parameters(include_projection=True),
        "N_total": sum(p.numel() for p in model.parameters()),
        "D": datamodule.num_train_pairs_used,
        "steps": trainer.global_step,
        "tokens_seen": module.tokens_seen,
        "wall_time_s": round(wall_time, 3),
        "train_loss_final": float(trainer.callback_metrics["train/loss"]),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    write_json_atomic(out_dir / "results.json", results)
    return results


def _overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def summary(results: dict) -> str:
    """What a run measured, in a few lines."""
    return (
        f"model {results['run']['model']}: N = {results['N']:,} non-embedding parameters "
        f"({results['N_with_projection']:,} with the projection, {results['N_total']:,} in all)\n"
        f"data {results['run']['data']}: D = {results['D']:,} training pairs\n"
        f"{results['steps']} steps, {results['tokens_seen']:,} tokens, {results['wall_time_s']:.0f} s; "
        f"final training loss {results['train_loss_final']:.3f}"
    )


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    out_dir = HydraConfig.get().runtime.output_dir
    results = run(cfg, out_dir)
    print(summary(results))
    print(f"results: {Path(out_dir) / 'results.json'}")


if __name__ == "__main__":
    main()
