"""Sharded evaluation encoding: a subcorpus encoded by 1 process against 2 processes (gloo), each at
``--threads`` threads, interleaved in one run; the speed-up is the ratio of the two wall times.

    python benchmarks/bench_eval_sharding.py [--passages 100000] [--model bert_tiny] [--threads 1] [--rounds 1]

Passages are random token ids with MS MARCO's length distribution (benchmarks/msmarco_passage_lengths.json,
truncated to ``--max-length``); the model is ``--model``'s shape with random weights (speed does not
depend on them). Each process times ``encode_texts`` alone (from a barrier to the gathered
embeddings), so process start-up is not counted; the 2-process embeddings are checked to be bit
for bit those of 1 process. ``--out`` writes the figures as JSON.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from dense_scaling.data.token_cache import TokenizedTexts
from dense_scaling.evaluation.encode import encode_texts
from dense_scaling.model.distributed import leave_process_group

LENGTHS = Path(__file__).resolve().parent / "msmarco_passage_lengths.json"
VOCAB_SIZE = 30522  # ids 1000 and up; 0 pads (the pad id every model here is built with)


def passages(count: int, max_length: int, seed: int = 0) -> TokenizedTexts:
    """``count`` passages of random ids ([CLS] ... [SEP]), lengths drawn from MS MARCO's."""
    counts = json.loads(LENGTHS.read_text())["counts"]
    sizes, weights = np.array([int(k) for k in counts]), np.array(list(counts.values()), dtype=float)
    rng = np.random.default_rng(seed)
    lengths = np.minimum(rng.choice(sizes, size=count, p=weights / weights.sum()), max_length)
    ids = rng.integers(1000, VOCAB_SIZE, size=int(lengths.sum()), dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    ids[offsets[:-1]], ids[offsets[1:] - 1] = 101, 102
    return TokenizedTexts(ids, offsets, pad_id=0)


def model(name: str):
    """``name``'s shape (conf/model), random weights of seed 0, dot similarity, in eval mode."""
    from hydra import compose, initialize_config_module

    from dense_scaling import build

    with initialize_config_module("dense_scaling.conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"model={name}", "similarity=dot", "temperature=1"])
    torch.manual_seed(0)
    return build.biencoder(cfg, VOCAB_SIZE, {"pad_token_id": 0}).eval()


def _worker(rank: int, world: int, args: argparse.Namespace, init_file: str, out: str) -> None:
    torch.set_num_threads(args.threads)
    if world > 1:
        dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    texts, encoder = passages(args.passages, args.max_length), model(args.model)
    if world > 1:
        dist.barrier()
    started = time.perf_counter()
    embeddings = encode_texts(encoder, texts, np.arange(len(texts)), args.batch_size, desc=f"{world} process(es)")
    seconds = time.perf_counter() - started
    if rank == 0:
        torch.save({"seconds": seconds, "embeddings": embeddings}, out)
    if world > 1:
        leave_process_group()


def timed(world: int, args: argparse.Namespace, folder: Path) -> tuple[float, torch.Tensor]:
    """Encoding seconds (rank 0's) and the embeddings of one run on ``world`` processes."""
    init, out = folder / f"init-{time.monotonic_ns()}", folder / "out.pt"
    torch.multiprocessing.spawn(_worker, args=(world, args, str(init), str(out)), nprocs=world)
    result = torch.load(out)
    return result["seconds"], result["embeddings"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--model", default="bert_tiny")
    parser.add_argument("--threads", type=int, default=1, help="threads of each process")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=1, help="1-process and 2-process runs, interleaved")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    seconds = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            for world in (1, 2):
                elapsed, embeddings = timed(world, args, Path(folder))
                seconds[world].append(elapsed)
                if world == 1:
                    reference = embeddings
                elif not torch.equal(embeddings, reference):
                    raise SystemExit("the 2-process embeddings differ from 1 process's")
    one, two = min(seconds[1]), min(seconds[2])
    report = {"model": args.model, "passages": args.passages, "threads": args.threads, "batch_size": args.batch_size,
              "seconds_1_process": seconds[1], "seconds_2_processes": seconds[2], "speedup": one / two,
              "identical": True}
    print(f"{args.model}, {args.passages:,} passages (<= {args.max_length} tokens), {args.threads} thread(s) a process")
    print(f"  1 process   {one:8.1f} s\n  2 processes {two:8.1f} s\n  speed-up    {one / two:8.2f}x "
          f"(best of {args.rounds}; embeddings bit-identical)")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
