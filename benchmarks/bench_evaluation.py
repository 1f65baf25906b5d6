"""The evaluation of one checkpoint, as ``python -m dense_scaling.evaluate`` runs it, for each source tree
given (today's code against an older commit's, in one run) and on 1 and on G processes (torchrun).

    python benchmarks/bench_evaluation.py [--src src --src /tmp/old/src] [--processes 2] [--rounds 1]
        [--passages 200000] [--test-queries 5000] [--pool 100000] [--subcorpus 100000] [--model bert_tiny]

The data is a synthetic BEIR folder of MS MARCO's shape (bench_scale.py's generator: ``--passages``
of 60 words from the BERT vocab in ../shared/data/vocab, one positive a query); the model is
``--model``'s shape with random weights and that vocab's tokenizer. The paper's protocol scaled to
a CPU: 5,000 test pairs, K=256, R=10, a 100k pool and a 100k subcorpus. The token cache is built
before anything is timed. Each run is its own process (``--threads`` threads each): "evaluate" is
results.json's ``wall_time_s`` (model load to files written), "process" the whole command,
"peak RSS" the largest VmHWM of its processes. Compare trees by "process": imports that a
tree does lazily fall inside "evaluate" (today's evaluate imports transformers when it loads the
model; 4bd514c's imported it, with Lightning, before its clock started: about 1 s at a tiny size). A ``--src`` tree (e.g. ``git worktree add
/tmp/old 4bd514c`` then ``--src /tmp/old/src``) runs as ``PYTHONPATH``; only the first runs on
``--processes`` too (code before sharded evaluation has no torchrun path). Runs alternate over ``--rounds``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import VOCAB, generate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Runs the entry point, then prints this process's peak RSS (every torchrun rank runs it).
WRAPPER = """import os, runpy
from pathlib import Path
try:
    runpy.run_module("dense_scaling.evaluate", run_name="__main__", alter_sys=True)
finally:
    peak = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM"))
    print("PEAK_KIB", os.environ.get("RANK", "0"), peak.split()[1], flush=True)
"""


def prepare(folder: Path, args: argparse.Namespace) -> tuple[Path, Path, Path]:
    """The data, a saved model with its tokenizer and a warm token cache under ``folder``."""
    from hydra import compose, initialize_config_module

    from dense_scaling import build
    from dense_scaling.data.readers import load_beir
    from dense_scaling.data.token_cache import tokenize_data
    from dense_scaling.data.tokenizer import from_vocab
    from dense_scaling.model.biencoder import special_token_ids

    if not VOCAB.exists():
        raise SystemExit(f"{VOCAB}: no such file; the benchmark's tokenizer is the BERT vocab of ../shared/data")
    data, model_dir, cache = folder / "data", folder / "model", folder / "cache"
    generate(data, args.passages, args.train_queries, args.test_queries, 60)
    tokenizer = from_vocab(VOCAB)
    with initialize_config_module("dense_scaling.conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"model={args.model}", "similarity=dot", "temperature=1"])
    build.biencoder(cfg, len(tokenizer), special_token_ids(tokenizer)).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir / "tokenizer")
    tokenize_data(load_beir(data), tokenizer, 32, args.max_passage_length, cache)
    return data, model_dir, cache


def run(src: Path, processes: int, out: Path, data: Path, model_dir: Path, cache: Path, args) -> dict:
    """One evaluation: its seconds, the whole command's, the peak RSS of its processes and its CE."""
    wrapper = out.parent / "wrapper.py"
    wrapper.write_text(WRAPPER)
    launcher = [sys.executable] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    settings = [f"hydra.run.dir={out}", f"model_dir={model_dir}", f"cache_dir={cache}", "data=beir",
                f"data.reader.path={data}", "data.max_query_length=32", f"data.max_passage_length={args.max_passage_length}",
                f"eval.pool_size={args.pool}", f"eval.subcorpus_size={args.subcorpus}", f"eval.num_negatives={args.negatives}",
                f"eval.repeats={args.repeats}", "device=cpu"]
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": str(args.threads), "TQDM_DISABLE": "1"}
    began = time.perf_counter()
    done = subprocess.run([*launcher, str(wrapper), *settings], cwd=out.parent, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{src} on {processes} process(es) failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    peaks = [int(line.split()[2]) for line in done.stdout.splitlines() if line.startswith("PEAK_KIB")]
    results = json.loads((out / "results.json").read_text())
    return {"src": str(src), "processes": processes, "evaluate_s": results["wall_time_s"], "process_s": round(seconds, 2),
            "peak_rss_mib": round(max(peaks) / 1024), "ce": results["ce"]["reported"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, action="append", help="a source tree (repeatable; default: this one's src)")
    parser.add_argument("--processes", type=int, default=2, help="the first tree also runs on this many (torchrun)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="threads of each process")
    parser.add_argument("--passages", type=int, default=200_000)
    parser.add_argument("--train-queries", type=int, default=1_000)
    parser.add_argument("--test-queries", type=int, default=5_000)
    parser.add_argument("--pool", type=int, default=100_000)
    parser.add_argument("--subcorpus", type=int, default=100_000)
    parser.add_argument("--negatives", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--max-passage-length", type=int, default=128)
    parser.add_argument("--model", default="bert_tiny")
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    sources = [s.resolve() for s in args.src or [ROOT / "src"]]
    plan = [(src, 1) for src in sources] + ([(sources[0], args.processes)] if args.processes > 1 else [])
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_evaluation_") as tmp:
        data, model_dir, cache = prepare(Path(tmp), args)
        for round_ in range(args.rounds):
            for i, (src, processes) in enumerate(plan):
                out = Path(tmp) / f"run-{round_}-{i}"
                rows.append({"round": round_, **run(src, processes, out, data, model_dir, cache, args)})
    print(f"{args.model}, {args.test_queries:,} test pairs, K={args.negatives}, R={args.repeats}, pool {args.pool:,}, "
          f"subcorpus {args.subcorpus:,}, {args.threads} thread(s) a process, CPU: {_cpu()}")
    print(f"{'source':<40}{'procs':>6}{'evaluate':>11}{'process':>10}{'peak RSS':>12}{'CE':>10}")
    for row in rows:
        print(f"{row['src'][-40:]:<40}{row['processes']:>6}{row['evaluate_s']:>9.1f} s{row['process_s']:>8.1f} s"
              f"{row['peak_rss_mib']:>8} MiB{row['ce']:>10.5f}")
    if args.out:
        args.out.write_text(json.dumps({"settings": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=1))


def _cpu() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown")


if __name__ == "__main__":
    main()
