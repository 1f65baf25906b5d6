"""Contrastive entropy: DRScale's per-pair loop vs dense_scaling's chunked scoring, one run.

    python benchmarks/bench_contrastive_entropy.py [--pairs 5000] [--pool-size 2067] [--threads N] [--out x.json]

Random unit embeddings (d=768), queries scaled by 1/0.05 as a cos/temperature model would be.
The pairs are split into blocks; in each block the two implementations run back to back
(alternating who goes first), so machine noise hits both alike. "ours, same negatives" scores
the very negatives DRScale's `random.sample` drew (an exact comparison); "ours, own sampler"
draws its own with `sample_negatives` (timed too), so its mean differs by Monte-Carlo noise only.
Both run on `--threads` torch threads (default: every core). On an idle 2-core machine
DRScale's loop was 12% faster with 2 threads than with 1; on a busy one extra threads slow its
tiny per-pair ops down many times, so time it on an idle machine.
Our cost per pair grows with the pool (a matmul over the pool below 32*R*K passages, a gather
of the R*K drawn embeddings above), DRScale's barely does: the ratio is largest for small pools.
The default pool, 2,067 passages, is SQuAD's evaluation corpus; DRScale's MS MARCO default is 1M.
At large pools CE is bound by memory traffic: "memory floor" is a bare gather (index_select, one
pair's R*K rows at a time into one buffer) of the very bytes our CE reads, the negatives'
embeddings, timed in the same blocks; "ours / floor" is how close our CE comes to it.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dense_scaling.metrics import contrastive_entropy, sample_negatives


def drscale_block(q, p, pool, repeats, k, drawn):
    """DRScale evaluate.py: a loop per pair, random.sample per repeat, one loss call per repeat."""
    loss_fn = torch.nn.CrossEntropyLoss(reduction="none")
    out = []
    for i in range(len(q)):
        query_emb, pos_emb = q[i : i + 1], p[i : i + 1]
        positive_scores = (query_emb * pos_emb).sum(dim=-1)
        sum_loss = 0.0
        for _ in range(repeats):
            neg_ids = random.sample(range(len(pool)), k)
            drawn.append(neg_ids)
            negative_scores = (query_emb * pool[neg_ids]).sum(dim=-1)
            scores = torch.cat([positive_scores, negative_scores], dim=-1).unsqueeze(0)
            sum_loss += loss_fn(scores, torch.zeros(1, dtype=torch.long)).mean().item()
        out.append(sum_loss / repeats)
    return out


def bare_gather(pool, idx):
    """The memory floor: every pair's drawn embeddings gathered into one reused buffer, nothing scored."""
    flat = idx.reshape(len(idx), -1)
    buffer = pool.new_empty(flat.shape[1], pool.shape[1])
    for rows in flat:
        torch.index_select(pool, 0, rows, out=buffer)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=5_000)
    ap.add_argument("--pool-size", type=int, default=2_067)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--negatives", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads for both")
    ap.add_argument("--out", help="write the times and ratios as JSON")
    args = ap.parse_args()
    torch.manual_seed(0)
    random.seed(0)
    q = F.normalize(torch.randn(args.pairs, args.dim), dim=1)
    p = F.normalize(q + 3.0 * F.normalize(torch.randn(args.pairs, args.dim), dim=1), dim=1)
    q = q / 0.05
    pool = F.normalize(torch.randn(args.pool_size, args.dim), dim=1)
    k, r = args.negatives, args.repeats

    times = {"ref": 0.0, "same": 0.0, "own": 0.0, "floor": 0.0}
    per_pair: dict[str, list[np.ndarray]] = {key: [] for key in times}

    torch.set_num_threads(args.threads)

    def record(key, fn):
        start = time.perf_counter()
        values = fn()
        times[key] += time.perf_counter() - start
        if values is not None:
            per_pair[key].append(np.asarray(values))

    for b, rows in enumerate(np.array_split(np.arange(args.pairs), args.blocks)):
        qb, pb = q[rows], p[rows]

        def run_own():
            idx = sample_negatives(args.pool_size, len(rows), k, r, seed=b)
            return contrastive_entropy(qb, pb, pool, idx).per_pair

        if b % 2:
            record("own", run_own)
        drawn: list[list[int]] = []
        record("ref", lambda: drscale_block(qb, pb, pool, r, k, drawn))
        idx = torch.tensor(drawn).view(len(rows), r, k)
        record("same", lambda: contrastive_entropy(qb, pb, pool, idx).per_pair)
        record("floor", lambda: bare_gather(pool, idx))
        if not b % 2:
            record("own", run_own)
    ref, same, own = (np.concatenate(per_pair[key]) for key in ("ref", "same", "own"))
    t_ref, t_same, t_own, t_floor = times["ref"], times["same"], times["own"], times["floor"]

    print(f"pairs={args.pairs} pool={args.pool_size} d={args.dim} K={k} R={r} blocks={args.blocks} "
          f"threads={args.threads}")
    print(f"DRScale loop               {t_ref:8.2f} s  ({1e3 * t_ref / args.pairs:.2f} ms/pair)")
    print(f"ours, same negatives       {t_same:8.3f} s  ratio {t_ref / t_same:7.1f}x")
    print(f"ours, own sampler (incl.)  {t_own:8.3f} s  ratio {t_ref / t_own:7.1f}x")
    print(f"memory floor (bare gather) {t_floor:8.3f} s  ours / floor {t_same / t_floor:5.2f}x "
          f"({'within' if t_same <= 1.5 * t_floor else 'NOT within'} 1.5x; "
          f"{args.pairs * r * k * args.dim * 4 / 1e9:.1f} GB of negatives' embeddings)")
    print(f"mean CE: DRScale {ref.mean():.6f}  ours same-negatives {same.mean():.6f}  "
          f"ours own-sampler {own.mean():.6f}")
    print(f"same negatives: max |per-pair difference| = {np.abs(ref - same).max():.2e}")
    diff = own - ref
    z = diff.mean() / (diff.std(ddof=1) / np.sqrt(len(diff)))
    print(f"own sampler vs DRScale: mean difference {diff.mean():+.5f} = {z:+.2f} standard errors "
          f"({'within' if abs(z) < 3 else 'OUTSIDE'} Monte-Carlo noise)")
    print(f"ratio >= 100x: same negatives {'yes' if t_ref / t_same >= 100 else 'NO'}, "
          f"own sampler {'yes' if t_ref / t_own >= 100 else 'NO'}")
    if args.out:
        Path(args.out).write_text(json.dumps({
            "settings": vars(args), "seconds": times, "drscale_over_ours": t_ref / t_same,
            "ours_over_floor": t_same / t_floor, "max_abs_difference_same_negatives": float(np.abs(ref - same).max()),
        }, indent=1))


if __name__ == "__main__":
    main()
