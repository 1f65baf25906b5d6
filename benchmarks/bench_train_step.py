"""Train-step overhead: our Lightning step (real DataLoader, worker, logging) against a bare
PyTorch loop doing the same step on pre-built batches, interleaved in one run.

    python benchmarks/bench_train_step.py [--model bert_mini] [--steps 12] [--rounds 3]

Uses SQuAD from ../shared/data when present (real BERT vocab), else the quickstart corpus.
Prints the median step time of each, their ratio (the overhead), and how long Lightning's loop
waited for the next batch (data loading on the critical path).
"""
from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from dense_scaling.model.loss import contrastive_loss
from dense_scaling.model.module import ContrastiveRetriever

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WARMUP = 2  # steps left out of each measurement


class StepClock(L.Callback):
    """Timestamps of each batch's start and end."""

    def __init__(self):
        self.starts, self.ends = [], []

    def on_train_batch_start(self, *args):
        self.starts.append(time.perf_counter())

    def on_train_batch_end(self, *args):
        self.ends.append(time.perf_counter())


def lightning_round(module: ContrastiveRetriever, datamodule, steps: int) -> tuple[list[float], list[float]]:
    clock = StepClock()
    trainer = L.Trainer(accelerator="cpu", max_steps=steps, gradient_clip_val=1.0, logger=False, callbacks=[clock],
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, datamodule=datamodule)
    step_times = [b - a for a, b in zip(clock.ends[WARMUP:], clock.ends[WARMUP + 1 :])]
    waits = [start - end for end, start in zip(clock.ends[WARMUP:], clock.starts[WARMUP + 1 :])]
    return step_times, waits


def bare_round(model, batches: list[dict], lr: float, steps: int) -> list[float]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    ends = []
    for batch in batches[:steps]:
        queries = model.encode(batch["query_ids"], batch["query_mask"])
        passages = model.encode(batch["passage_ids"], batch["passage_mask"])
        loss = contrastive_loss(model.score(queries, passages), batch["positive_mask"])
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        ends.append(time.perf_counter())
    return [b - a for a, b in zip(ends[WARMUP:], ends[WARMUP + 1 :])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bert_mini")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = ["data=squad", "tokenizer=vocab"] if (SHARED / "squad").is_dir() else []
    with tempfile.TemporaryDirectory() as tmp, initialize_config_module("dense_scaling.conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"model={args.model}", f"cache_dir={tmp}", f"data_root={SHARED}",
                                          "eval=none", "training.dropout=0.0", *data])
        datamodule = instantiate(cfg.datamodule)
        datamodule.prepare()
        initial = instantiate(cfg.encoder, vocab_size=len(datamodule.tokenizer))
        stream = iter(datamodule.train_dataloader().dataset)
        batches = [next(stream) for _ in range(args.steps)]
        lightning_times, bare_times, waits = [], [], []
        for _ in range(args.rounds):
            bare_times += bare_round(copy.deepcopy(initial), batches, cfg.training.lr, args.steps)
            module = ContrastiveRetriever(copy.deepcopy(initial), lr=cfg.training.lr, warmup_steps=1,
                                          max_steps=args.steps)
            step_times, round_waits = lightning_round(module, datamodule, args.steps)
            lightning_times += step_times
            waits += round_waits
    ours, bare = statistics.median(lightning_times), statistics.median(bare_times)
    print(f"{args.model} on {'SQuAD' if data else 'quickstart'}: batch {cfg.training.batch_size} queries + "
          f"{cfg.training.batch_size + cfg.training.num_negatives} passages, {args.rounds} interleaved rounds of "
          f"{args.steps} steps (first {WARMUP} of each left out), {torch.get_num_threads()} threads")
    print(f"bare PyTorch step   median {bare:.3f} s")
    print(f"dense-scaling step  median {ours:.3f} s")
    print(f"overhead            {ours / bare - 1:+.1%}")
    print(f"waiting for data    median {statistics.median(waits) * 1e3:.1f} ms, max {max(waits) * 1e3:.1f} ms per step")


if __name__ == "__main__":
    main()
