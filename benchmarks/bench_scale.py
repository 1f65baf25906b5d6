"""The data path at the paper's scale: a synthetic BEIR corpus with MS MARCO's shape, then two runs
of today's code on it, each in its own process (a cold token cache, then a warm one).

    python benchmarks/bench_scale.py --passages 1000000 [--train-queries 500000] [--test-queries 7000] [--together 2] [--out scale.json]

The corpus (``--passages`` of ``--words`` words drawn Zipf-like from the real BERT vocab in
../shared/data/vocab, else from made-up words; one positive per query) is written to a temporary
folder and removed at the end. Each run reports the seconds of every stage up to the first
training step of a tiny model (imports, composing the config, reading the data (the texts in the first run, the source index
in the second), the tokenizer with the token caches,
the training pairs, the first batch, the model build and the step itself), the peak RSS of its
process (VmHWM) and its anonymous RSS at the end (RssAnon: memory beyond the memmapped token
cache), and the seconds to draw the CE negatives (pool of ``--pool`` passages, K=256, R=10) and
to build the ranking subcorpus (``--subcorpus``). The first run also gives the token cache's size.
``--together N`` then starts N runs at once on a cold cache, as the ranks of a data-parallel run
start: one prepares the data, the others wait for it (``data/prepare.py``).
"""
from __future__ import annotations

import time

START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VOCAB = SHARED / "vocab" / "bert-base-uncased" / "vocab.txt"
CHUNK = 20_000  # passages generated at a time


def words() -> list[str]:
    """Whole alphabetic words of the BERT vocab (made-up words without it)."""
    if VOCAB.exists():
        found = [w for w in VOCAB.read_text(encoding="utf-8").split() if w.isalpha() and w.isascii() and len(w) > 1]
        return found
    return [f"w{i}" for i in range(20_000)]


def generate(folder: Path, passages: int, train_queries: int, test_queries: int, length: int, seed: int = 0) -> None:
    """A BEIR folder: ``passages`` passages of ``length`` words, queries of 6 words, one positive each."""
    rng, vocab = np.random.default_rng(seed), words()
    weights = 1.0 / np.arange(1, len(vocab) + 1)
    weights /= weights.sum()
    (folder / "qrels").mkdir(parents=True, exist_ok=True)

    def texts(count: int, size: int):
        for start in range(0, count, CHUNK):
            rows = rng.choice(len(vocab), size=(min(CHUNK, count - start), size), p=weights).tolist()
            yield start, [" ".join([vocab[i] for i in row]) for row in rows]

    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as corpus:
        for start, chunk in texts(passages, length):
            corpus.writelines(json.dumps({"_id": f"p{start + i}", "title": "", "text": t}) + "\n"
                              for i, t in enumerate(chunk))
    total = train_queries + test_queries
    positives = rng.choice(passages, size=total, replace=total > passages)
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as queries:
        for start, chunk in texts(total, 6):
            queries.writelines(json.dumps({"_id": f"q{start + i}", "text": t}) + "\n" for i, t in enumerate(chunk))
    for split, rows in (("train", range(train_queries)), ("test", range(train_queries, total))):
        with open(folder / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as qrels:
            qrels.write("query-id\tcorpus-id\tscore\n")
            qrels.writelines(f"q{q}\tp{positives[q]}\t1\n" for q in rows)


def memory_kib() -> dict[str, int]:
    """VmHWM (peak RSS) and RssAnon (resident memory not backed by a file) of this process, in KiB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0])
    return fields


def child(data: Path, cache: Path, pool: int, subcorpus: int) -> dict:
    """One run up to its first training step, then the evaluation draws; seconds per stage."""
    stages, mark = {}, [START]

    def stage(name: str) -> None:
        now = time.perf_counter()
        stages[name] = round(now - mark[0], 3)
        mark[0] = now

    import torch
    from hydra import compose, initialize_config_module

    from dense_scaling import build
    from dense_scaling.data import prepare as preparing
    from dense_scaling.data.readers import LazyTexts
    from dense_scaling.metrics import build_negative_pool, build_subcorpus, sample_negatives
    from dense_scaling.model.biencoder import special_token_ids
    from dense_scaling.model.loss import contrastive_loss
    stage("imports")
    tokenizer = ["tokenizer=vocab"] if VOCAB.exists() else ["tokenizer=trained"]
    with initialize_config_module("dense_scaling.conf", version_base="1.3"):
        cfg = compose("train", overrides=["data=beir", f"data.reader.path={data}", f"cache_dir={cache}",
                                          f"data_root={SHARED}", "model=micro_L1_H32", "training.num_workers=0",
                                          "training.batch_size=32", "training.num_negatives=64", *tokenizer])
    module = build.datamodule(cfg)
    stage("config")
    indexed, read_texts = preparing.read_indexed, []

    def read(reader, cache_dir):
        data = indexed(reader, cache_dir)
        stage("read_data")
        read_texts.append(not isinstance(data.corpus_texts, LazyTexts))  # else from the source index
        return data

    preparing.read_indexed = read  # time the reading (texts in the first run, the index in the second)
    module.prepare()
    stage("tokenizer_and_caches")
    pairs = module.pairs
    stage("pairs")
    batch = next(iter(module.train_dataloader().dataset))
    stage("first_batch")
    data = module.data
    model = build.biencoder(cfg, len(module.tokenizer), special_token_ids(module.tokenizer))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    stage("model_build")
    loss = contrastive_loss(model.score(model.encode(batch["query_ids"], batch["query_mask"]),
                                        model.encode(batch["passage_ids"], batch["passage_mask"])), batch["positive_mask"])
    loss.backward()
    optimizer.step()
    stage("first_step")
    eval_rows = data.num_eval_passages
    test_positives = np.asarray([data.corpus_index[p] for grades in data.split("test").values() for p in grades])
    negative_pool = build_negative_pool(eval_rows, test_positives, pool, seed=0)
    sample_negatives(len(negative_pool), len(test_positives), 256, 10, 0)
    stage("ce_negatives")
    build_subcorpus(eval_rows, test_positives, subcorpus, 0)
    stage("subcorpus")
    to_first_step = sum(v for k, v in stages.items() if k not in ("model_build", "ce_negatives", "subcorpus"))
    return {"stages_s": stages, "to_first_step_s": round(to_first_step, 3), "read_texts": read_texts == [True],
            "train_pairs": len(pairs.train),
            "passages": len(data.corpus_ids), "memory_kib": memory_kib()}


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def run_children(data: Path, cache: Path, args, count: int = 1) -> list[dict]:
    """``count`` runs started together on ``cache``, each its own process; their reports."""
    command = [sys.executable, __file__, "--child", str(data), "--cache", str(cache), "--pool", str(args.pool),
               "--subcorpus", str(args.subcorpus)]
    started = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "TQDM_DISABLE": "1"}) for _ in range(count)]
    reports = []
    for process in started:
        stdout, stderr = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"the run failed:\n{stderr[-3000:]}")
        reports.append(json.loads(stdout.strip().splitlines()[-1]))
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--train-queries", type=int, default=500_000)
    parser.add_argument("--test-queries", type=int, default=7_000)
    parser.add_argument("--words", type=int, default=60, help="words per passage (MS MARCO: about 56)")
    parser.add_argument("--pool", type=int, default=1_000_000, help="CE negative pool (DRScale: 1M)")
    parser.add_argument("--subcorpus", type=int, default=100_000)
    parser.add_argument("--together", type=int, default=0,
                        help="then this many runs started at once on a cold cache (ranks of a data-parallel run)")
    parser.add_argument("--out", type=Path, help="also write the numbers as JSON here")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.cache, args.pool, args.subcorpus)))
        return
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        data, cache = Path(tmp) / "data", Path(tmp) / "cache"
        began = time.perf_counter()
        generate(data, args.passages, args.train_queries, args.test_queries, args.words)
        report = {"passages": args.passages, "train_queries": args.train_queries, "test_queries": args.test_queries,
                  "generate_s": round(time.perf_counter() - began, 1), "corpus_bytes": folder_bytes(data)}
        report["first_run"], = run_children(data, cache, args)
        report["token_cache_bytes"] = folder_bytes(cache / "tokens")
        report["second_run"], = run_children(data, cache, args)
        if args.together:
            report["together"] = run_children(data, Path(tmp) / "cache_together", args, args.together)
    print(f"{args.passages:,} passages, {args.train_queries:,} train and {args.test_queries:,} test queries "
          f"(generated in {report['generate_s']} s, {report['corpus_bytes'] / 2**30:.2f} GiB); "
          f"token cache {report['token_cache_bytes'] / 2**30:.2f} GiB")
    runs = ("first_run", "second_run")
    print(f"{'seconds':<22}" + "".join(f"{r:>12}" for r in runs))
    for name in report["first_run"]["stages_s"]:
        print(f"{name:<22}" + "".join(f"{report[r]['stages_s'][name]:>12.2f}" for r in runs))
    print(f"{'to first step':<22}" + "".join(f"{report[r]['to_first_step_s']:>12.2f}" for r in runs)
          + "   (model build, CE negatives and subcorpus excluded)")
    for key, label in (("VmHWM", "peak RSS GiB"), ("RssAnon", "anon RSS GiB")):
        print(f"{label:<22}" + "".join(f"{report[r]['memory_kib'][key] / 2**20:>12.2f}" for r in runs))
    for i, run in enumerate(report.get("together", [])):
        print(f"together, run {i + 1} of {args.together}: {'read the texts' if run['read_texts'] else 'from the index'}, "
              f"to first step {run['to_first_step_s']:.1f} s (reading or waiting {run['stages_s']['read_data']:.1f} s), peak RSS "
              f"{run['memory_kib']['VmHWM'] / 2**20:.2f} GiB, anon RSS {run['memory_kib']['RssAnon'] / 2**20:.2f} GiB")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
