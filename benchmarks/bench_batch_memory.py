"""Peak memory and step time of one training step, plain against activation checkpointing against
GradCache (and both), at one model shape and one batch; each variant in its own process.

    python benchmarks/bench_batch_memory.py [--model bert_mini] [--batch 128] [--negatives 256]
        [--chunk 32] [--steps 4] [--rounds 2] [--out batch_memory.json]

Memory is the process's resident set (Linux /proc/self/status): ``peak_mib`` is VmHWM, the high-water
mark over the process's life, and ``step_mib`` is VmHWM minus the VmRSS just before the first step
(the model, AdamW's state is created lazily so it counts in the step, and the batch already built),
so it is what the step itself needed. The batch is synthetic: random token ids at the full query and
passage lengths (the worst case), fixed by --seed, the same in every variant. Step time is the median
over the steps after the first of every round; rounds interleave the variants. Every variant starts
from the same weights, so the first step's loss and gradient norm agree (printed, to 1e-5) when
dropout is 0, the default here.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = {
    "plain": {},
    "checkpointing": {"gradient_checkpointing": True},
    "grad_cache": {"grad_cache": "chunk"},
    "both": {"gradient_checkpointing": True, "grad_cache": "chunk"},
}


def memory_kib() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in KiB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}


def one_variant(args) -> dict:
    """Build the model and batch, train ``args.steps`` steps with ``args.variant``'s options, measure."""
    import torch
    from hydra import compose, initialize_config_module

    from dense_scaling.model.biencoder import build_biencoder
    from dense_scaling.model.module import ContrastiveRetriever, adamw

    with initialize_config_module("dense_scaling.conf", version_base="1.3"):
        arch = compose("train", overrides=[f"model={args.model}"]).model.arch
    torch.manual_seed(args.seed)
    model = build_biencoder("scratch", arch=dict(arch), vocab_size=args.vocab, dropout=args.dropout,
                            similarity="cos", temperature=0.05, special_tokens={"pad_token_id": 0})
    options = {key: args.chunk if value == "chunk" else value for key, value in VARIANTS[args.variant].items()}
    module = ContrastiveRetriever(model, **options).train()
    generator = torch.Generator().manual_seed(args.seed)
    candidates = args.batch + args.negatives
    batch = {
        "query_ids": torch.randint(5, args.vocab, (args.batch, args.query_length), generator=generator),
        "query_mask": torch.ones(args.batch, args.query_length, dtype=torch.long),
        "passage_ids": torch.randint(5, args.vocab, (candidates, args.passage_length), generator=generator),
        "passage_mask": torch.ones(candidates, args.passage_length, dtype=torch.long),
        "positive_mask": torch.eye(args.batch, candidates, dtype=torch.bool),
    }
    optimizer = adamw(model, lr=1e-4, weight_decay=0.01)
    before = memory_kib()
    times, first = [], None
    for _ in range(args.steps):
        start = time.perf_counter()
        loss = module.batch_loss(batch)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
        first = first or {"loss": float(loss), "grad_norm": float(norm)}
    after = memory_kib()
    return {"variant": args.variant, **first, "step_s": times[1:], "peak_mib": after["VmHWM"] / 1024,
            "rss_before_step_mib": before["VmRSS"] / 1024, "step_mib": (after["VmHWM"] - before["VmRSS"]) / 1024,
            "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bert_mini", help="a model config of conf/model/ (built from scratch)")
    parser.add_argument("--batch", type=int, default=128, help="queries (and positives) a step")
    parser.add_argument("--negatives", type=int, default=256, help="shared random negatives a step")
    parser.add_argument("--query-length", type=int, default=32)
    parser.add_argument("--passage-length", type=int, default=128)
    parser.add_argument("--chunk", type=int, default=32, help="GradCache's chunk size (texts encoded at a time)")
    parser.add_argument("--vocab", type=int, default=30522)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--steps", type=int, default=4, help="steps a round (the first is not timed)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of: {', '.join(VARIANTS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the measurements as JSON here")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # set in the child process that measures one
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(one_variant(args)))
        return
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or args.steps < 2:
        parser.error(f"unknown variants {unknown}: choose from {', '.join(VARIANTS)}" if unknown
                     else "--steps must be at least 2: the first step of each round is not timed")
    runs = {variant: [] for variant in variants}
    for _ in range(args.rounds):
        for variant in variants:
            done = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--variant", variant],
                                  capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"variant {variant} failed:\n{done.stderr[-3000:]}")
            runs[variant].append(json.loads(done.stdout.strip().splitlines()[-1]))
    report = {"model": args.model, "batch": args.batch, "negatives": args.negatives, "chunk": args.chunk,
              "query_length": args.query_length, "passage_length": args.passage_length, "memory": "RSS (VmHWM)",
              "variants": {variant: {"loss": r[0]["loss"], "grad_norm": r[0]["grad_norm"],
                                     "step_s": statistics.median(t for run in r for t in run["step_s"]),
                                     "peak_mib": max(run["peak_mib"] for run in r),
                                     "step_mib": max(run["step_mib"] for run in r), "threads": r[0]["threads"]}
                           for variant, r in runs.items()}}
    print(f"{args.model}: {args.batch} queries x {args.query_length} tokens + {args.batch + args.negatives} passages "
          f"x {args.passage_length} tokens, GradCache chunks of {args.chunk}, {args.rounds} rounds of {args.steps} "
          f"steps, memory = resident set (VmHWM), {report['variants'][variants[0]]['threads']} threads")
    print(f"{'variant':<15}{'step':>10}{'peak RSS':>12}{'step RSS':>12}{'first loss':>12}{'grad norm':>11}")
    for variant, row in report["variants"].items():
        print(f"{variant:<15}{row['step_s']:>8.2f} s{row['peak_mib']:>8.0f} MiB{row['step_mib']:>8.0f} MiB"
              f"{row['loss']:>12.6f}{row['grad_norm']:>11.5f}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
