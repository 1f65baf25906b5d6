"""Train one dense retriever: ``python -m dense_scaling.train [-m] key=value ...``.

Compose the config, build data and model (:mod:`dense_scaling.build`) and the trainer, fit, and
write ``results.json`` (the contract with ``dense_scaling.fit``, see docs/results.md) and the
trained model.
"""
from __future__ import annotations

import logging
import math
import signal
from pathlib import Path

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from dense_scaling import build, runs, wandb_setup
from dense_scaling.config_check import check_train_config
from dense_scaling.loggers import StepProgressBar, route_to_run_log
from dense_scaling.evaluation.callback import EvaluationCallback
from dense_scaling.evaluation.evaluator import Evaluator
from dense_scaling.evaluation.material import test_material, val_material
from dense_scaling.model.biencoder import special_token_ids
from dense_scaling.model.finite import FiniteGuard
from dense_scaling.model.module import ContrastiveRetriever
from dense_scaling.model.rng import RandomState
from dense_scaling.precision import trainer_precision
from dense_scaling.results import RESULTS_NAME, RunInfo, RunResults, format_metrics
from dense_scaling.run_identity import identity
from dense_scaling.scaling.compute import flops_field

log = logging.getLogger("dense_scaling")


def run(cfg: DictConfig, out_dir: str | Path) -> RunResults | None:
    """Train as ``cfg`` says, write ``results.json`` and ``model/`` into ``out_dir``; return the results
    (on data-parallel ranks other than 0, which write nothing, None)."""
    out_dir = Path(out_dir)
    check_train_config(cfg)
    digest = identity(cfg)  # before instantiate, which resolves interpolations of cfg in place
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build.datamodule(cfg)
    datamodule.prepare()
    model = build.biencoder(cfg, len(datamodule.tokenizer), special_token_ids(datamodule.tokenizer))
    module = ContrastiveRetriever(
        model,
        lr=cfg.training.lr,
        weight_decay=cfg.training.weight_decay,
        warmup_steps=cfg.training.warmup_steps,
        max_steps=cfg.training.max_steps,
        in_batch_negatives=cfg.training.in_batch_negatives,
        gradient_checkpointing=cfg.training.gradient_checkpointing,
        grad_cache=cfg.training.grad_cache,
    )
    evaluation = _evaluation_callback(cfg.eval, datamodule, out_dir / runs.CHECKPOINTS) if cfg.eval.enabled else None
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    callbacks = [FiniteGuard(), RandomState(), StepProgressBar(), *([evaluation] if evaluation else []),
                 runs.RunCheckpoints(out_dir, cfg.training.checkpoint_every_n_steps)]  # checkpoints last
    precision = trainer_precision(cfg.trainer)
    trainer = instantiate(cfg.trainer, precision=precision, logger=logger, callbacks=callbacks, enable_checkpointing=False)
    trainer.fit(module, datamodule=datamodule, ckpt_path=runs.resume_checkpoint(out_dir), weights_only=True)
    wall_time = module.elapsed_s()
    if not trainer.is_global_zero:  # data-parallel ranks > 0: all evaluated, rank 0 writes
        return None

    model.save_pretrained(out_dir / "model")
    datamodule.tokenizer.save_pretrained(out_dir / "model" / "tokenizer")
    results = RunResults(
        run=RunInfo(model=cfg.model.name, data=cfg.data.name, annotation=cfg.data.annotation, seed=cfg.seed,
                    study=cfg.study, overrides=_overrides(), precision=precision),
        **model.size_fields(),
        D=len(datamodule.pairs.train),
        steps=trainer.global_step,
        tokens_seen=module.tokens_seen,
        wall_time_s=round(wall_time, 3),
        device_seconds=round(wall_time * trainer.num_devices, 3),
        proj_dim=model.projection.out_features,
        flops=flops_field(N=model.non_embedding_parameters(), tokens=module.tokens_seen, steps=trainer.global_step,
                          batch_size=cfg.training.batch_size, num_negatives=cfg.training.num_negatives,
                          layers=model.encoder.config.num_hidden_layers, hidden=model.encoder.config.hidden_size,
                          proj_dim=model.projection.out_features),
        train_loss_final=module.last_loss(),
        **(evaluation.results() if evaluation else {"protocol": None, "ce": None, "ranking": None}),
        config=OmegaConf.to_container(cfg, resolve=True),
        identity=digest,
    )
    results.write(out_dir / RESULTS_NAME)
    return results


def _evaluation_callback(eval_cfg: DictConfig, datamodule, weights_dir: Path) -> EvaluationCallback:
    """The callback scoring the test split (and the validation pairs, if any) on material built
    from the data, its tokens and ``eval.seed``; it keeps the selected weights in ``weights_dir``."""
    data, tokens, scoring = datamodule.data, datamodule.tokens, (eval_cfg.batch_size, eval_cfg.top_k)
    settings = {k: eval_cfg[k] for k in ("num_negatives", "repeats", "pool_size", "seed")}
    test = test_material(data, tokens, datamodule.test_split, subcorpus_size=eval_cfg.subcorpus_size, **settings)
    val = val_material(data, tokens, datamodule.pairs.val, **settings)
    return EvaluationCallback(
        Evaluator(test, *scoring), val and Evaluator(val, *scoring), eval_cfg.every_n_steps, eval_cfg.protocol,
        eval_cfg.ranking, eval_cfg.ranking_every_eval, weights_dir=weights_dir,
    )


def _overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def summary(results: RunResults) -> str:
    """What a run measured, in a few lines."""
    return (
        f"model {results.run.model}: N = {results.N:,} non-embedding parameters "
        f"({results.N_with_projection:,} with the projection, {results.N_total:,} in all)\n"
        f"data {results.run.data}: D = {results.D:,} training pairs\n"
        f"{results.steps} steps, {results.tokens_seen:,} tokens, {results.wall_time_s:.0f} s; "
        f"final training loss {results.train_loss_final:.3f}"
        + _evaluation_summary(results)
    )


def _evaluation_summary(results: RunResults) -> str:
    ce, ranking = results.ce, results.ranking
    if ce is None:
        return ""
    text = (
        f"\ncontrastive entropy on {ce.num_pairs:,} test pairs (K={ce.K}, R={ce.R}, random = "
        f"ln(K+1) = {math.log(ce.K + 1):.2f}): reported {ce.reported:.3f} "
        f"[{ce.reported_ci95[0]:.3f}, {ce.reported_ci95[1]:.3f}] at step {ce.reported_step} "
        f"({results.protocol}), final {ce.final:.3f}"
    )
    if ranking:
        text += f"\nranking over {ranking.subcorpus_size:,} passages: {format_metrics(ranking.metrics, 3)}"
    return text


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    """Skip a run already completed with this config or held by another process, resume an
    interrupted one; in a multirun a failed run writes failed.json and the sweep goes on, while
    SIGTERM stops the sweep with exit status 143 and keeps the checkpoint to resume from
    (docs/sweeps.md). Everything said here also goes to the run's train.log."""
    route_to_run_log()
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    with runs.claim(out_dir) as holder:
        if holder is not None:
            log.info(f"skipped: {out_dir} is being trained by another process ({holder}); it will finish it")
            return
        _train_once(cfg, out_dir)


def _train_once(cfg: DictConfig, out_dir: Path) -> None:
    digest = identity(cfg)
    if runs.completed(out_dir, digest):
        log.info(f"skipped: {out_dir / 'results.json'} is complete for this config")
        return
    runs.prepare(out_dir, digest)
    try:
        results = run(cfg, out_dir)
    except SIGTERMException:  # Lightning's, a SystemExit with status 0: say it, and exit as terminated
        kept = runs.resume_checkpoint(out_dir)
        log.info("terminated (SIGTERM): " + (f"{kept} keeps the run; run the same command again to resume"
                                              if kept else "no checkpoint was written yet; the run starts anew next time"))
        raise SystemExit(128 + signal.SIGTERM)
    except Exception as error:
        log.error(f"FAILED: {type(error).__name__}: {error} (details in {runs.record_failure(out_dir, error)})")
        wandb_setup.finish_run(cfg, None)
        if not runs.in_multirun():
            raise SystemExit(1)
        return
    if results is None:  # a data-parallel rank > 0: rank 0 finishes the run (and still needs its checkpoints)
        return
    runs.finish(out_dir)
    wandb_setup.finish_run(cfg, results)
    log.info(summary(results))
    log.info(f"results: {out_dir / 'results.json'}")


if __name__ == "__main__":
    main()
