"""Score a trained model on a data set: ``python -m dense_scaling.evaluate model_dir=... data=...``.

Writes ``results.json`` (CE with its CI, ranking metrics, the protocol's sizes), the ranking as a
TREC run file ``run.trec`` and the judgements it was scored against as ``qrels.trec``, so
trec_eval, ir_measures or ranx can check every number.
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from dense_scaling.data.datamodule import RetrievalDataModule
from dense_scaling.metrics import write_qrels, write_run
from dense_scaling.model.biencoder import BiEncoder
from dense_scaling.model.evaluation import test_evaluator
from dense_scaling.results import RESULTS_FORMAT, write_json_atomic


def load_model(model_dir: str | Path, checkpoint: str | Path | None = None) -> BiEncoder:
    """A saved BiEncoder, with the weights of a Lightning checkpoint of the same model if given."""
    model = BiEncoder.from_pretrained(model_dir)
    if checkpoint:
        model.load_state_dict(checkpoint_weights(checkpoint))
    return model


def checkpoint_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The BiEncoder weights of a Lightning checkpoint, read with ``weights_only=True``: a file
    holding more than tensors and plain values (a pickle that would run code) is refused unread."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"checkpoint={path}: no such file; give a run's checkpoints/last.ckpt") from None
    except Exception as error:  # torch raises several types for a file it cannot or will not read
        text = str(error)
        if "WeightsUnpickler error" in text:  # not a pickle of tensors and plain values (or no pickle)
            detail = text.split("WeightsUnpickler error:", 1)[1].strip().splitlines()[0]
            reason = f"not tensors and plain values alone: {detail}; refused unread, so no code in it ran"
        else:
            reason = (text.splitlines() or [type(error).__name__])[0][:200]
        raise ValueError(
            f"checkpoint={path}: not a loadable checkpoint ({reason}); give a run's checkpoints/last.ckpt"
        ) from None
    if not isinstance(state, dict) or not isinstance(state.get("state_dict"), dict):
        raise ValueError(f"checkpoint={path}: no 'state_dict' in it; give a Lightning checkpoint of a training run")
    return {k.removeprefix("model."): v for k, v in state["state_dict"].items() if k.startswith("model.")}


def evaluate(cfg: DictConfig, out_dir: str | Path) -> dict:
    """Score ``cfg.model_dir`` on ``cfg.data``'s test split; write the results into ``out_dir``."""
    out_dir, started = Path(out_dir), time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    model = load_model(cfg.model_dir, cfg.checkpoint)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    model.to(device)
    context = partial(torch.autocast, device_type=device, dtype=torch.bfloat16) if cfg.precision == "bf16" else nullcontext
    datamodule = RetrievalDataModule(
        reader=instantiate(cfg.data.reader),
        tokenizer={"kind": "pretrained", "name_or_path": str(Path(cfg.model_dir) / "tokenizer")},
        cache_dir=cfg.cache_dir, name=cfg.data.name, test_split=cfg.data.test_split,
        max_query_length=cfg.data.max_query_length, max_passage_length=cfg.data.max_passage_length,
    )
    keys = ("num_negatives", "repeats", "pool_size", "subcorpus_size", "top_k", "seed", "batch_size")
    evaluator = test_evaluator(datamodule, **{k: cfg.eval[k] for k in keys})
    ce = evaluator.contrastive_entropy(model, context)
    ranking, run = evaluator.ranking(model, context)
    write_run(out_dir / "run.trec", run)
    write_qrels(out_dir / "qrels.trec", evaluator.qrels)
    results = {
        "format": RESULTS_FORMAT,
        "complete": True,
        "run": {"model": str(cfg.model_dir), "data": cfg.data.name, "annotation": cfg.data.annotation,
                "study": cfg.study, "checkpoint": cfg.checkpoint},
        **model.size_fields(),
        "protocol": "evaluate",
        "ce": {"reported": ce.mean, "reported_ci95": list(ce.ci95), **evaluator.describe()},
        "ranking": {**ranking.as_dict(), "subcorpus_size": len(evaluator.subcorpus), "top_k": evaluator.top_k},
        "wall_time_s": round(time.perf_counter() - started, 3),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    write_json_atomic(out_dir / "results.json", results)
    return results


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    results = evaluate(cfg, out_dir)
    ce, ranking = results["ce"], results["ranking"]
    print(
        f"contrastive entropy {ce['reported']:.3f} [{ce['reported_ci95'][0]:.3f}, {ce['reported_ci95'][1]:.3f}] "
        f"on {ce['num_pairs']:,} pairs (K={ce['K']}, R={ce['R']}, pool {ce['pool_size']:,})\n"
        f"MAP@10 {ranking['map@10']:.4f}  NDCG@10 {ranking['ndcg@10']:.4f}  MRR@10 {ranking['mrr@10']:.4f}  "
        f"Recall@1000 {ranking['recall@1000']:.4f} over {ranking['subcorpus_size']:,} passages\n"
        f"written: {out_dir / 'results.json'}, {out_dir / 'run.trec'}, {out_dir / 'qrels.trec'}"
    )


if __name__ == "__main__":
    main()
