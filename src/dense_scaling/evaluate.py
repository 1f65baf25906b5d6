"""Score a trained model on a data set: ``python -m dense_scaling.evaluate model_dir=... data=...``.

Writes ``results.json`` (CE with its CI, ranking metrics, the protocol's sizes), the ranking as a
TREC run file ``run.trec`` and the judgements it was scored against as ``qrels.trec``, so
trec_eval, ir_measures or ranx can check every number. Under torchrun
(``torchrun --standalone --nproc_per_node=G -m dense_scaling.evaluate hydra.run.dir=OUT ...``)
every process encodes its share and rank 0 writes the same files as one process would.
"""
from __future__ import annotations

import os
import time
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import hydra
import torch
import torch.distributed as dist
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from dense_scaling.data.readers import write_qrels
from dense_scaling.data.prepare import prepare_data
from dense_scaling.data.tokenizer import Pretrained
from dense_scaling.evaluation.encode import rank_and_world
from dense_scaling.evaluation.evaluator import Evaluator
from dense_scaling.evaluation.material import test_material
from dense_scaling.model.distributed import leave_process_group
from dense_scaling.metrics import write_run
from dense_scaling.model.biencoder import BiEncoder
from dense_scaling.model.st_folder import is_sentence_transformer
from dense_scaling.results import RESULTS_NAME, RunInfo, RunResults, format_metrics


def load_model(model_dir: str | Path, checkpoint: str | Path | None = None) -> BiEncoder:
    """A saved BiEncoder (or a local sentence-transformers folder, scored as it is), with the weights
    of a Lightning checkpoint of the same model if given."""
    model = BiEncoder.from_sentence_transformer(model_dir) if is_sentence_transformer(model_dir) \
        else BiEncoder.from_pretrained(model_dir)
    if checkpoint:
        model.load_state_dict(checkpoint_weights(checkpoint))
    return model


def tokenizer_folder(model_dir: str | Path) -> Path:
    """Where a model folder keeps its tokenizer: ``tokenizer/`` of ours, the folder itself of sentence-transformers'."""
    return Path(model_dir) if is_sentence_transformer(model_dir) else Path(model_dir) / "tokenizer"


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


def training_run(model_dir: str | Path) -> RunResults | None:
    """The results of the training run that wrote ``model_dir`` (``<run>/model``), if its folder
    holds a readable, complete results.json with a D; else None."""
    path = Path(model_dir).resolve().parent / RESULTS_NAME
    try:
        results = RunResults.read(path)
    except (OSError, ValueError):  # absent, unreadable or not a results file: D stays unknown
        return None
    return results if results.complete and results.D is not None else None


def evaluate(cfg: DictConfig, out_dir: str | Path) -> RunResults:
    """Score ``cfg.model_dir`` on ``cfg.data``'s test split; write the results into ``out_dir``:
    load the model, build the material from the data and its tokens, score, write.
    D and the annotation come from the model's training run when its folder says them (else D is
    None: the record is kept but not fittable)."""
    out_dir, started = Path(out_dir), time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    model = load_model(cfg.model_dir, cfg.checkpoint)
    device = _device(cfg.device)
    model.to(device)
    context = partial(torch.autocast, device_type=device, dtype=torch.bfloat16) if cfg.precision == "bf16" else nullcontext
    prepared = prepare_data(instantiate(cfg.data.reader), Pretrained(str(tokenizer_folder(cfg.model_dir))),
                            cfg.data.max_query_length, cfg.data.max_passage_length, cfg.cache_dir)  # texts: on a miss only
    data, tokens = prepared.data, prepared.tokens
    settings = {k: cfg.eval[k] for k in ("num_negatives", "repeats", "pool_size", "subcorpus_size", "seed")}
    material = test_material(data, tokens, cfg.data.test_split, **settings)
    ce, ranking, run = Evaluator(material, cfg.eval.batch_size, cfg.eval.top_k).score(model, context)
    writer = rank_and_world()[0] == 0  # under torchrun every rank scored the same; rank 0 writes
    if writer:
        write_run(out_dir / "run.trec", run)
        write_qrels(out_dir / "qrels.trec", material.qrels)
    trained = training_run(cfg.model_dir)
    results = RunResults(
        run=RunInfo(model=str(cfg.model_dir), data=cfg.data.name,
                    annotation=trained.run.annotation if trained else cfg.data.annotation, study=cfg.study,
                    checkpoint=cfg.checkpoint, trained_run=str(Path(cfg.model_dir).resolve().parent) if trained else None),
        **model.size_fields(),
        D=trained.D if trained else None,
        protocol="evaluate",
        ce=ce,
        ranking=ranking,
        proj_dim=model.projection.out_features,
        wall_time_s=round(time.perf_counter() - started, 3),
        config=OmegaConf.to_container(cfg, resolve=True),
    )
    if writer:
        results.write(out_dir / RESULTS_NAME)
    return results


def _device(setting: str) -> str:
    """``device=auto|cpu|cuda`` as a torch device; under torch.distributed each rank takes its own GPU."""
    device = ("cuda" if torch.cuda.is_available() else "cpu") if setting == "auto" else setting
    if device == "cuda" and dist.is_initialized():
        return f"cuda:{os.environ.get('LOCAL_RANK', 0)}"
    return device


def _join_torchrun(setting: str) -> bool:
    """Join the process group when started by torchrun with several processes (NCCL on GPUs, gloo
    on CPUs); whether it did."""
    if int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return False
    cuda = _device(setting).startswith("cuda")
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group("nccl" if cuda else "gloo")
    return True


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    joined = _join_torchrun(cfg.device)
    results = evaluate(cfg, out_dir)
    if joined:
        leave_process_group()
    if int(os.environ.get("RANK", "0")):  # under torchrun rank 0 prints
        return
    ce, ranking = results.ce, results.ranking
    print(
        f"contrastive entropy {ce.reported:.3f} [{ce.reported_ci95[0]:.3f}, {ce.reported_ci95[1]:.3f}] "
        f"on {ce.num_pairs:,} pairs (K={ce.K}, R={ce.R}, pool {ce.pool_size:,})\n"
        f"{format_metrics(ranking.metrics)} over {ranking.subcorpus_size:,} passages\n"
        f"N = {results.N:,}, D = " + (f"{results.D:,} (from {results.run.trained_run})" if results.D is not None
                                      else "unknown (the model's folder is not a training run's): not fittable") + "\n"
        f"written: {out_dir / RESULTS_NAME}, {out_dir / 'run.trec'}, {out_dir / 'qrels.trec'}"
    )


if __name__ == "__main__":
    main()
