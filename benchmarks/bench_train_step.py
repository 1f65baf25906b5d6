"""Train-step time in fp32 and in bf16 autocast on this CPU, side by side, and the overhead of our
Lightning step (real DataLoader, worker, logging) against a bare PyTorch loop doing the same step
on pre-built batches; all variants interleaved in one run.

    python benchmarks/bench_train_step.py [--model bert_mini] [--steps 12] [--rounds 3] [--precision both]

Uses SQuAD from ../shared/data when present (real BERT vocab), else the quickstart corpus.
Prints what ``trainer.precision=auto`` picks on this CPU and why, then for each precision the
median step time of both loops, their ratio (the overhead), bf16's speed against fp32, and how
long Lightning's loop waited for the next batch (data loading on the critical path).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_module

from dense_scaling import build
from dense_scaling.model.biencoder import special_token_ids
from dense_scaling.model.loss import contrastive_loss
from dense_scaling.model.module import ContrastiveRetriever
from dense_scaling.precision import BF16, FP32, choose

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WARMUP = 2  # steps left out of each measurement
PRECISIONS = {"fp32": (FP32,), "bf16": (BF16,), "both": (FP32, BF16)}


class StepClock(L.Callback):
    """Timestamps of each batch's start and end."""

    def __init__(self):
        self.starts, self.ends = [], []

    def on_train_batch_start(self, *args):
        self.starts.append(time.perf_counter())

    def on_train_batch_end(self, *args):
        self.ends.append(time.perf_counter())


def lightning_round(module: ContrastiveRetriever, datamodule, steps: int, precision: str) -> tuple[list[float], list[float]]:
    clock = StepClock()
    trainer = L.Trainer(accelerator="cpu", precision=precision, max_steps=steps, gradient_clip_val=1.0, logger=False, callbacks=[clock],
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, datamodule=datamodule)
    step_times = [b - a for a, b in zip(clock.ends[WARMUP:], clock.ends[WARMUP + 1 :])]
    waits = [start - end for end, start in zip(clock.ends[WARMUP:], clock.starts[WARMUP + 1 :])]
    return step_times, waits


def bare_round(model, batches: list[dict], lr: float, steps: int, precision: str) -> list[float]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if precision == BF16 else contextlib.nullcontext
    ends = []
    for batch in batches[:steps]:
        with autocast():
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
    parser.add_argument("--precision", choices=sorted(PRECISIONS), default="both")
    args = parser.parse_args()
    if args.steps <= WARMUP + 1:
        parser.error(f"--steps must exceed {WARMUP + 1}: the first {WARMUP} steps of each round are left out")
    precisions = PRECISIONS[args.precision]
    data = ["data=squad", "tokenizer=vocab"] if (SHARED / "squad").is_dir() else []
    with tempfile.TemporaryDirectory() as tmp, initialize_config_module("dense_scaling.conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"model={args.model}", f"cache_dir={tmp}", f"data_root={SHARED}",
                                          "eval=none", "training.dropout=0.0", *data])
        datamodule = build.datamodule(cfg)
        datamodule.prepare()
        initial = build.biencoder(cfg, len(datamodule.tokenizer), special_token_ids(datamodule.tokenizer))
        stream = iter(datamodule.train_dataloader().dataset)
        batches = [next(stream) for _ in range(args.steps)]
        times = {(p, loop): [] for p in precisions for loop in ("bare", "ours", "wait")}
        for _ in range(args.rounds):
            for precision in precisions:
                times[precision, "bare"] += bare_round(copy.deepcopy(initial), batches, cfg.training.lr, args.steps,
                                                       precision)
                module = ContrastiveRetriever(copy.deepcopy(initial), lr=cfg.training.lr, warmup_steps=1,
                                              max_steps=args.steps)
                step_times, round_waits = lightning_round(module, datamodule, args.steps, precision)
                times[precision, "ours"] += step_times
                times[precision, "wait"] += round_waits
    print(f"{args.model} on {'SQuAD' if data else 'quickstart'}: batch {cfg.training.batch_size} queries + "
          f"{cfg.training.batch_size + cfg.training.num_negatives} passages, {args.rounds} interleaved rounds of "
          f"{args.steps} steps (first {WARMUP} of each left out), {torch.get_num_threads()} threads")
    print(choose("auto", "cpu")[1])  # what trainer.precision=auto picks here
    median = {key: statistics.median(values) for key, values in times.items()}
    print(f"{'precision':<12}{'bare PyTorch':>14}{'dense-scaling':>15}{'overhead':>10}{'data wait':>11}")
    for precision in precisions:
        bare, ours = median[precision, "bare"], median[precision, "ours"]
        print(f"{precision:<12}{bare:>12.3f} s{ours:>13.3f} s{ours / bare - 1:>+10.1%}"
              f"{median[precision, 'wait'] * 1e3:>8.1f} ms")
    if len(precisions) == 2:
        print(f"bf16 step against fp32: {median[FP32, 'ours'] / median[BF16, 'ours']:.2f}x the speed "
              f"(bare loop {median[FP32, 'bare'] / median[BF16, 'bare']:.2f}x)")


if __name__ == "__main__":
    main()
