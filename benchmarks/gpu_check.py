"""The GPU figures in one run: the paper's training step, the 24 miniatures, encoding, search, CE.

    PYTHONPATH=src python3 benchmarks/gpu_check.py --out DIR [--stages gemm,train,...] [--dry-run]

Stages, in order; each is written to DIR/gpu_check.json and DIR/gpu_check.md as soon as it ends
(atomically: a run stopped by a time limit keeps everything it measured before):

  gemm        a bf16 matrix product: the measured peak that MFU is also quoted against
  train       the training step at bert_base with the paper's protocol, per variant: today's
              default, eager attention, + fused AdamW, + length bucketing (each stacked on the
              fastest correct one so far, each checked against the default before it is timed)
  profile     the top kernels of one step of today's default
  miniatures  the step of each of the 24 BERT miniatures, and the paper's 24-model study's time
  encode      passages/s of evaluation's encode_texts over a 100k subcorpus at bert_base
  search      FAISS exact search on the host: 6,980 queries over 100k passages (needs faiss)
  ce          contrastive entropy at the paper's size on the device against a DRScale-style loop
  compile     + torch.compile on the fastest variant of `train` (last: its compile time varies)

No stage starts after --deadline-s. --dry-run runs every stage at toy sizes on the CPU in
seconds (the fast suite runs it). The script imports nothing the GPU machine lacks (no Hydra,
OmegaConf or wandb; FAISS only in `search`). docs/gpu.md has the protocol and the command.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
import traceback
from dataclasses import asdict, dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import Callable, ContextManager

import numpy as np
import torch
import transformers
import yaml
from transformers import BertConfig

import dense_scaling
from dense_scaling.data.batches import ContrastiveBatches
from dense_scaling.data.token_cache import TokenizedTexts
from dense_scaling.metrics.contrastive_entropy import per_pair_contrastive_entropy
from dense_scaling.metrics.ranking import search
from dense_scaling.metrics.sampling import sample_negatives
from dense_scaling.model.biencoder import BiEncoder, build_biencoder
from dense_scaling.evaluation.encode import encode_texts
from dense_scaling.model.loss import contrastive_loss
from dense_scaling.model.module import adamw
from dense_scaling.results import write_json_atomic, write_text_atomic

STAGES = ("gemm", "train", "profile", "miniatures", "encode", "search", "ce", "compile")
STAGE_BUDGET_S = {"train": 150, "miniatures": 150}  # loops inside these stop early when spent
CONF = Path(dense_scaling.__file__).parent / "conf"
PAPER_SWEEP = Path(__file__).resolve().parents[1] / "sweeps" / "common" / "paper.yaml"
LENGTHS_FILE = Path(__file__).with_name("msmarco_passage_lengths.json")
BASE_MODEL = "bert_L12_H768"
DEV_SMALL_QUERIES = 6_980  # MS MARCO dev.small: the paper's test queries (one pair each here)
FAISS_WHEEL = "faiss_cpu-1.15.1-cp310-abi3-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
# Dense bf16 tensor-core peaks from NVIDIA's datasheets, by torch.cuda.get_device_name().
SPEC_BF16_TFLOPS = {
    "NVIDIA H200": 989, "NVIDIA H100 80GB HBM3": 989, "NVIDIA A100-SXM4-80GB": 312, "NVIDIA A100-SXM4-40GB": 312,
    "NVIDIA A100 80GB PCIe": 312, "NVIDIA A100-PCIE-40GB": 312,
}
# A variant computes the default's step when, on the same batch and weights with dropout off, these
# relative differences stay under: the loss, its change after one AdamW update, the scores centred
# per query (what the softmax sees) and the gradient. docs/gpu.md says where the values come from.
CHECK_TOLERANCE = {"loss": 1e-2, "loss_change": 0.2, "scores": 0.2, "grads": 0.05}


def read_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@dataclass(frozen=True)
class Protocol:
    """The paper's training and evaluation settings, read from the configs (no Hydra needed)."""

    batch_size: int
    num_negatives: int
    in_batch_negatives: bool
    lr: float
    weight_decay: float
    dropout: float
    similarity: str
    temperature: float
    pooling: str
    proj_dim: int
    gradient_clip: float
    max_steps: int
    eval_every: int
    query_tokens: int
    max_passage_length: int
    ce_negatives: int
    ce_repeats: int
    pool_size: int
    subcorpus_size: int
    top_k: int
    encode_batch: int


def paper_protocol() -> Protocol:
    """train.yaml overridden by sweeps/common/paper.yaml, with data=msmarco, eval=default, trainer=gpu."""
    train, paper = read_yaml(CONF / "train.yaml"), read_yaml(PAPER_SWEEP)
    top, training = {**train, **paper}, {**train["training"], **paper["training"]}
    evaluation = {**read_yaml(CONF / "eval" / "default.yaml"), **paper["eval"]}
    msmarco, trainer = read_yaml(CONF / "data" / "msmarco.yaml"), read_yaml(CONF / "trainer" / "cpu.yaml")
    return Protocol(
        batch_size=training["batch_size"], num_negatives=training["num_negatives"],
        in_batch_negatives=training["in_batch_negatives"], lr=float(training["lr"]),
        weight_decay=training["weight_decay"], dropout=training["dropout"], similarity=top["similarity"],
        temperature=float(top["temperature"]), pooling=top["pooling"], proj_dim=top["proj_dim"],
        gradient_clip=trainer["gradient_clip_val"], max_steps=training["max_steps"],
        eval_every=evaluation["every_n_steps"], query_tokens=msmarco["max_query_length"],
        max_passage_length=msmarco["max_passage_length"], ce_negatives=evaluation["num_negatives"],
        ce_repeats=evaluation["repeats"], pool_size=evaluation["pool_size"],
        subcorpus_size=evaluation["subcorpus_size"], top_k=evaluation["top_k"], encode_batch=evaluation["batch_size"],
    )


@dataclass(frozen=True)
class Sizes:
    """How big each stage is: the paper's sizes on a GPU, toy ones in a dry run."""

    batch_size: int
    num_negatives: int
    query_tokens: int
    length_divisor: int  # passage lengths (MS MARCO's) are divided by this
    width_divisor: int  # hidden and intermediate sizes of every shape are divided by this
    depth_divisor: int  # and its number of layers by this (at least 1)
    vocab_size: int
    warmup: int
    steps: int
    mini_warmup: int
    mini_steps: int
    buckets: int
    gemm: int
    encode_passages: int
    encode_batch: int
    search_queries: int
    search_passages: int
    top_k: int
    ce_pairs: int
    ce_negatives: int
    ce_repeats: int
    ce_pool: int
    ce_dim: int
    loop_pairs: int


def full_sizes(p: Protocol) -> Sizes:
    return Sizes(
        batch_size=p.batch_size, num_negatives=p.num_negatives, query_tokens=p.query_tokens, length_divisor=1,
        width_divisor=1, depth_divisor=1, vocab_size=BertConfig().vocab_size, warmup=3, steps=20, mini_warmup=3,
        mini_steps=5, buckets=4, gemm=8192, encode_passages=p.subcorpus_size, encode_batch=p.encode_batch,
        search_queries=DEV_SMALL_QUERIES, search_passages=p.subcorpus_size, top_k=p.top_k,
        ce_pairs=DEV_SMALL_QUERIES, ce_negatives=p.ce_negatives, ce_repeats=p.ce_repeats, ce_pool=p.pool_size,
        ce_dim=p.proj_dim, loop_pairs=200,
    )


DRY_RUN_SIZES = dict(
    batch_size=4, num_negatives=8, query_tokens=8, length_divisor=8, width_divisor=16, depth_divisor=12,
    vocab_size=1000, warmup=1, steps=2, mini_warmup=0, mini_steps=1, gemm=128, encode_passages=300, encode_batch=64,
    search_queries=50, search_passages=300, top_k=10, ce_pairs=40, ce_negatives=8, ce_repeats=2, ce_pool=500, ce_dim=16,
    loop_pairs=10,
)


def miniature_archs(sizes: Sizes) -> dict[str, dict]:
    """The 24 BERT miniatures' arch blocks (conf/model/bert_L*_H*.yaml), by depth then width."""
    archs = [read_yaml(path) for path in CONF.glob("model/bert_L*_H*.yaml")]
    archs.sort(key=lambda conf: (conf["arch"]["num_hidden_layers"], conf["arch"]["hidden_size"]))
    return {conf["name"]: {**conf["arch"],
                           "num_hidden_layers": max(1, conf["arch"]["num_hidden_layers"] // sizes.depth_divisor),
                           "hidden_size": conf["arch"]["hidden_size"] // sizes.width_divisor,
                           "intermediate_size": conf["arch"]["intermediate_size"] // sizes.width_divisor}
            for conf in archs}


def train_flops(n_params: int, layers: int, hidden: int, lengths) -> float:
    """Training FLOPs of the encoder over sequences of these (unpadded) lengths.

    Per sequence of s tokens: 6·N·s for the weight matrices (forward 2·N·s, backward twice
    that) plus 12·L·d·s² for attention's two products (QKᵀ and scores·V, 2·s²·d each per layer
    forward, times three with the backward). N is Kaplan's non-embedding count; embedding
    lookups, the projection, the scores and the loss are left out (well under 1%)."""
    s = np.asarray(lengths, dtype=np.float64)
    return float((6 * n_params * s + 12 * layers * hidden * s**2).sum())


def utilisation(flops: float, seconds: float, peak_flops: float | None) -> float | None:
    """Model FLOP utilisation: FLOPs per second over the peak (None without a peak)."""
    return flops / seconds / peak_flops if peak_flops else None


class StepClock:
    """Marks between steps: CUDA events on a GPU (no host sync until read), the host clock on a CPU."""

    def __init__(self, device: torch.device):
        self.cuda, self.marks = device.type == "cuda", []

    def mark(self) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append(event)
        else:
            self.marks.append(time.perf_counter())

    def durations(self) -> list[float]:
        """Seconds between consecutive marks."""
        if self.cuda:
            torch.cuda.synchronize()
            return [start.elapsed_time(end) / 1e3 for start, end in pairwise(self.marks)]
        return [end - start for start, end in pairwise(self.marks)]


def time_calls(fn: Callable, items: list, warmup: int, device: torch.device) -> list[float]:
    """Seconds of each call of ``fn`` on ``items[warmup:]``, after ``warmup`` untimed calls."""
    for item in items[:warmup]:
        fn(item)
    clock = StepClock(device)
    clock.mark()
    for item in items[warmup:]:
        fn(item)
        clock.mark()
    return clock.durations()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def passage_lengths(count: int, rng: np.random.Generator, divisor: int) -> np.ndarray:
    """Passage lengths drawn from MS MARCO's (benchmarks/msmarco_passage_lengths.json), / divisor."""
    counts = json.loads(LENGTHS_FILE.read_text())["counts"]
    values, weights = np.array([int(k) for k in counts]), np.array(list(counts.values()), dtype=np.float64)
    return np.maximum(2, rng.choice(values, size=count, p=weights / weights.sum()) // divisor)


def synthetic_texts(lengths: np.ndarray, vocab_size: int, rng: np.random.Generator) -> TokenizedTexts:
    """Random token ids with these lengths (speed does not depend on which tokens)."""
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return TokenizedTexts(rng.integers(1, vocab_size, size=int(offsets[-1])), offsets, pad_id=0)


@dataclass
class StepBatch:
    """One training batch on the device, with what the host knows of it (no device sync needed)."""

    query_ids: torch.Tensor
    query_mask: torch.Tensor
    passage_ids: torch.Tensor
    passage_mask: torch.Tensor
    positive_mask: torch.Tensor
    lengths: np.ndarray  # unpadded length of every query and passage
    padded_tokens: int
    buckets: list[tuple[torch.Tensor, int]]  # passage rows by length and their padded width
    inverse: torch.Tensor  # puts the bucketed passages back in batch order
    bucketed_tokens: int


def step_batch(batch: dict, buckets: int, device: torch.device) -> StepBatch:
    query_lengths, lengths = batch["query_mask"].sum(1), batch["passage_mask"].sum(1)
    order = torch.argsort(lengths, stable=True)
    chunks = [(rows, int(lengths[rows].max())) for rows in order.chunk(buckets)]
    return StepBatch(
        *(batch[k].to(device) for k in ("query_ids", "query_mask", "passage_ids", "passage_mask", "positive_mask")),
        lengths=torch.cat([query_lengths, lengths]).numpy(),
        padded_tokens=batch["query_ids"].numel() + batch["passage_ids"].numel(),
        buckets=[(rows.to(device), width) for rows, width in chunks], inverse=torch.argsort(order).to(device),
        bucketed_tokens=batch["query_ids"].numel() + sum(len(rows) * width for rows, width in chunks),
    )


def training_batches(sizes: Sizes, count: int, seed: int, device: torch.device) -> list[StepBatch]:
    """``count`` batches of the paper's protocol from ContrastiveBatches over synthetic texts:
    B queries of ``query_tokens`` tokens, their B positives and K shared random passages."""
    rng = np.random.default_rng(seed)
    num_pairs = count * sizes.batch_size
    corpus = synthetic_texts(passage_lengths(num_pairs * 4, rng, sizes.length_divisor), sizes.vocab_size, rng)
    queries = synthetic_texts(np.full(num_pairs, sizes.query_tokens), sizes.vocab_size, rng)
    pairs = np.stack([np.arange(num_pairs)] * 2, axis=1)
    stream = iter(ContrastiveBatches(pairs, queries, corpus, {i: {i} for i in range(num_pairs)},
                                     sizes.batch_size, sizes.num_negatives, seed))
    return [step_batch(next(stream), sizes.buckets, device) for _ in range(count)]


@dataclass(frozen=True)
class Variant:
    """How the step is run; ``attention`` None is transformers' default for the model."""

    attention: str | None = None
    fused_adamw: bool = False
    bucketing: bool = False
    compile: bool = False


@dataclass
class CheckValues:
    """What the first steps of a variant computed, to compare with the default's."""

    loss: float
    loss_after_update: float
    centred_scores: torch.Tensor
    grads: torch.Tensor


@dataclass
class Stepper:
    """One variant of the training step, ready to run. It is ContrastiveRetriever.training_step on
    one device (its gathers are identities), then Lightning's gradient clipping and AdamW step."""

    model: BiEncoder
    forward: Callable
    optimizer: torch.optim.Optimizer
    bucketing: bool
    autocast: Callable[[], ContextManager]
    gradient_clip: float
    in_batch_negatives: bool

    def loss(self, batch: StepBatch) -> tuple[torch.Tensor, torch.Tensor]:
        with self.autocast():
            queries = self.forward(batch.query_ids, batch.query_mask)
            passages = self.encode_passages(batch)
            scores = self.model.score(queries, passages)
            loss = contrastive_loss(scores, batch.positive_mask, self.in_batch_negatives, num_positives=len(queries))
        return loss, scores

    def encode_passages(self, batch: StepBatch) -> torch.Tensor:
        if not self.bucketing:
            return self.forward(batch.passage_ids, batch.passage_mask)
        parts = [self.forward(batch.passage_ids[rows, :width], batch.passage_mask[rows, :width])
                 for rows, width in batch.buckets]
        return torch.cat(parts)[batch.inverse]

    def update(self) -> None:
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.gradient_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def step(self, batch: StepBatch) -> None:
        self.loss(batch)[0].backward()
        self.update()

    def check(self, batch: StepBatch) -> CheckValues:
        """Loss, scores and gradient of a first step with dropout off, and the loss after its update."""
        self.model.eval()
        try:
            loss, scores = self.loss(batch)
            loss.backward()
            grads = torch.cat([p.grad.flatten().float() if p.grad is not None else p.new_zeros(p.numel())
                               for p in self.model.parameters()])
            self.update()
            after = self.loss(batch)[0].item()  # with grad, as timed: a compiled forward is not traced again
            self.optimizer.zero_grad(set_to_none=True)
        finally:
            self.model.train()
        scores = scores.detach().float()
        return CheckValues(loss.item(), after, scores - scores.mean(dim=1, keepdim=True), grads)


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp(min=1e-30))


def compare(reference: CheckValues, candidate: CheckValues) -> dict:
    """The variant's relative differences from the default, and whether all are within tolerance."""
    change, change_ref = candidate.loss_after_update - candidate.loss, reference.loss_after_update - reference.loss
    differences = {
        "loss": abs(candidate.loss - reference.loss) / max(abs(reference.loss), 1e-30),
        "loss_change": abs(change - change_ref) / max(abs(change_ref), 1e-30),
        "scores": relative(candidate.centred_scores, reference.centred_scores),
        "grads": relative(candidate.grads, reference.grads),
    }
    passed = all(differences[k] <= CHECK_TOLERANCE[k] for k in differences)
    return {"passed": passed, "loss": candidate.loss, "reference_loss": reference.loss,
            "differences": differences, "tolerance": CHECK_TOLERANCE}


def failure(err: BaseException) -> str:
    """A one-line status for a failed stage or variant (the traceback is kept beside it)."""
    first_line = (str(err).strip().splitlines() or [""])[0][:300]
    return f"failed: {type(err).__name__}: {first_line}"


class Run:
    """One invocation: settings, device, the report being written, and what stages share."""

    def __init__(self, args: argparse.Namespace):
        self.dry_run, self.seed, self.out = args.dry_run, args.seed, Path(args.out)
        self.device = torch.device("cpu" if args.dry_run else "cuda")
        self.protocol = paper_protocol()
        sizes = full_sizes(self.protocol)
        self.sizes = replace(sizes, **DRY_RUN_SIZES) if args.dry_run else sizes
        self.started = time.perf_counter()
        self.deadline = self.started + args.deadline_s
        self.stage_end = self.deadline
        self.compile_backend = "eager" if args.dry_run else "inductor"  # inductor's CPU build takes minutes
        name = torch.cuda.get_device_name() if self.device.type == "cuda" else platform.processor() or "cpu"
        spec = SPEC_BF16_TFLOPS.get(name)
        self.peaks = {"spec": spec * 1e12 if spec else None, "gemm": None}
        self.reference: CheckValues | None = None
        self.best: tuple[str, Variant] | None = None  # the fastest correct non-compiled variant
        self._base: BiEncoder | None = None
        self._batches: list[StepBatch] | None = None
        self.report = {
            "dry_run": self.dry_run, "deadline_s": args.deadline_s,
            "environment": environment(self.device, name),
            "peak_bf16_tflops": {"spec": spec, "spec_source": "NVIDIA datasheet, dense" if spec else None,
                                 "measured_gemm": None},
            "protocol": {**asdict(self.protocol), "sizes": asdict(self.sizes), "passage_lengths": LENGTHS_FILE.name,
                         "flops": "per sequence of s tokens: 6*N*s + 12*L*d*s^2 (see train_flops)"},
            "stages": {}, "fastest": None,
        }

    def log(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.started:6.1f} s] {message}", flush=True)

    def autocast(self) -> ContextManager:
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def over_budget(self) -> bool:
        return time.perf_counter() > self.stage_end

    def build(self, arch: dict) -> BiEncoder:
        """A BiEncoder of this shape with random weights of the run's seed, in training mode."""
        torch.manual_seed(self.seed)
        p = self.protocol
        model = build_biencoder("scratch", arch=arch, vocab_size=self.sizes.vocab_size, dropout=p.dropout,
                                proj_dim=p.proj_dim, pooling=p.pooling, similarity=p.similarity,
                                temperature=p.temperature)
        return model.to(self.device).train()

    def base_model(self) -> BiEncoder:
        if self._base is None:
            self._base = self.build(miniature_archs(self.sizes)[BASE_MODEL])
        return self._base

    def batches(self) -> list[StepBatch]:
        if self._batches is None:
            self._batches = training_batches(self.sizes, self.sizes.warmup + self.sizes.steps, self.seed, self.device)
        return self._batches

    def prepare(self, initial: BiEncoder, variant: Variant) -> Stepper:
        """A copy of ``initial`` set up as ``variant`` says, with its optimizer."""
        model = copy.deepcopy(initial)
        if variant.attention:
            model.encoder.set_attn_implementation(variant.attention)
        forward = torch.compile(model, dynamic=True, backend=self.compile_backend) if variant.compile else model
        fused = True if variant.fused_adamw else None  # None: PyTorch's default, as training uses today
        optimizer = adamw(model, self.protocol.lr, self.protocol.weight_decay, fused=fused)
        return Stepper(model, forward, optimizer, variant.bucketing, self.autocast, self.protocol.gradient_clip,
                       self.protocol.in_batch_negatives)

    def step_figures(self, model: BiEncoder, batches: list[StepBatch], times: list[float], bucketing: bool) -> dict:
        """Median step time, tokens/s, FLOPs and utilisation of timed steps over ``batches``."""
        config = model.encoder.config
        median = statistics.median(times)
        n_params = model.non_embedding_parameters()
        flops = statistics.fmean(train_flops(n_params, config.num_hidden_layers, config.hidden_size, b.lengths)
                                 for b in batches)
        tokens = statistics.fmean(float(b.lengths.sum()) for b in batches)
        padded = statistics.fmean(b.bucketed_tokens if bucketing else b.padded_tokens for b in batches)
        return {"N": n_params, "step_times_s": times, "median_step_s": median, "tokens_per_step": tokens,
                "padded_tokens_per_step": padded, "tokens_per_s": tokens / median, "flops_per_step": flops,
                "tflops": flops / median / 1e12, "mfu_spec": utilisation(flops, median, self.peaks["spec"]),
                "mfu_gemm": utilisation(flops, median, self.peaks["gemm"])}

    def reference_check(self) -> CheckValues:
        """The default's first step on a fresh copy of bert_base: what every variant is compared with."""
        if self.reference is None:
            self.reference = self.prepare(self.base_model(), Variant()).check(self.batches()[0])
        return self.reference

    def measure_variant(self, name: str, variant: Variant) -> dict:
        """Check ``variant`` against the default on the first batch, then time it at bert_base."""
        record = {"name": name, **asdict(variant)}
        try:
            if self.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            started = time.perf_counter()
            stepper = self.prepare(self.base_model(), variant)
            record["attention_used"] = stepper.model.encoder.config._attn_implementation
            batches = self.batches()
            record["check"] = compare(self.reference_check(), stepper.check(batches[0]))
            for batch in batches[: self.sizes.warmup]:
                stepper.step(batch)
            synchronize(self.device)
            record["setup_s"] = time.perf_counter() - started  # copy, check, warm-up (and compiles)
            times = time_calls(stepper.step, batches[self.sizes.warmup :], 0, self.device)
            record.update(self.step_figures(stepper.model, batches[self.sizes.warmup :], times, variant.bucketing))
            if self.device.type == "cuda":
                record["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
            record["status"] = "done"
            self.log(f"{name}: {record['median_step_s'] * 1e3:.1f} ms/step, check "
                     f"{'passed' if record['check']['passed'] else 'FAILED'}")
        except Exception as err:  # one variant failing must not cost the others
            record["status"], record["traceback"] = failure(err), traceback.format_exc(limit=-4)
            self.log(f"{name}: {record['status']}")
        finally:
            if variant.compile:
                torch._dynamo.reset()
        return record

    def save(self) -> None:
        write_json_atomic(self.out / "gpu_check.json", self.report)
        write_text_atomic(self.out / "gpu_check.md", render_markdown(self.report))


def environment(device: torch.device, name: str) -> dict:
    env = {"device": name, "torch": torch.__version__, "transformers": transformers.__version__,
           "python": platform.python_version(), "host_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(cuda=torch.version.cuda, memory_gib=props.total_memory / 2**30,
                   multiprocessors=props.multi_processor_count)
    return env


def correct(record: dict) -> bool:
    return record.get("status") == "done" and record["check"]["passed"] and not record.get("repeat")


def fastest(records: list[dict]) -> dict | None:
    candidates = [r for r in records if correct(r)]
    return min(candidates, key=lambda r: r["median_step_s"]) if candidates else None


def as_variant(record: dict) -> Variant:
    return Variant(**{k: record[k] for k in ("attention", "fused_adamw", "bucketing", "compile")})


def stage_gemm(run: Run, record: dict) -> None:
    n = run.sizes.gemm
    a, b = (torch.randn(n, n, device=run.device, dtype=torch.bfloat16) for _ in range(2))
    times = time_calls(lambda _: a @ b, list(range(13)), 3, run.device)
    median = statistics.median(times)
    record.update(size=n, times_s=times, median_s=median, tflops=2 * n**3 / median / 1e12)
    run.peaks["gemm"] = 2 * n**3 / median
    run.report["peak_bf16_tflops"]["measured_gemm"] = record["tflops"]


def stage_train(run: Run, record: dict) -> None:
    variants = record["variants"] = []

    def add(name: str, variant: Variant, **extra) -> None:
        if run.over_budget():
            variants.append({"name": name, **asdict(variant), "status": "skipped: stage budget spent"})
        else:
            variants.append({**run.measure_variant(name, variant), **extra})
        run.save()

    add("default", Variant())
    add("eager attention", Variant(attention="eager"))
    best = fastest(variants)
    add("+ fused AdamW", replace(as_variant(best) if best else Variant(), fused_adamw=True))
    best = fastest(variants)
    add("+ length bucketing", replace(as_variant(best) if best else Variant(), bucketing=True))
    add("default (again)", Variant(), repeat=True)
    first, again = variants[0], variants[-1]
    if first.get("status") == again.get("status") == "done":
        record["repeat_difference"] = abs(again["median_step_s"] - first["median_step_s"]) / first["median_step_s"]
    best = fastest(variants)
    run.best = (best["name"], as_variant(best)) if best else None
    update_fastest(run)


def update_fastest(run: Run) -> None:
    records = [r for stage in ("train", "compile") for r in run.report["stages"].get(stage, {}).get("variants", [])]
    best, default = fastest(records), next((r for r in records if r["name"] == "default" and correct(r)), None)
    if best:
        run.report["fastest"] = {
            "name": best["name"], **{k: best[k] for k in ("attention_used", "fused_adamw", "bucketing", "compile")},
            "median_step_s": best["median_step_s"],
            "speedup_over_default": default["median_step_s"] / best["median_step_s"] if default else None,
        }


def stage_profile(run: Run, record: dict, top: int = 15) -> None:
    """The kernels (ops on a CPU) that take most of two steps of today's default."""
    stepper, batches = run.prepare(run.base_model(), Variant()), run.batches()
    for batch in batches[:2]:
        stepper.step(batch)
    cuda = run.device.type == "cuda"
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if cuda else [])
    profiled = batches[2:4] if len(batches) >= 4 else batches[:2]
    with torch.profiler.profile(activities=activities) as profiler:
        for batch in profiled:
            stepper.step(batch)
        synchronize(run.device)
    # On a GPU the kernels' own rows (an op's row repeats its kernels' time); on a CPU the ops' self time.
    attr = "self_device_time_total" if cuda else "self_cpu_time_total"
    events = [e for e in profiler.key_averages() if getattr(e, attr) > 0
              and (not cuda or e.device_type == torch.autograd.DeviceType.CUDA)]
    total = sum(getattr(e, attr) for e in events)
    record["time_per_step_ms"] = total / 1e3 / len(profiled)
    record["kernels"] = [
        {"name": e.key[:120], "calls_per_step": e.count / len(profiled),
         "ms_per_step": getattr(e, attr) / 1e3 / len(profiled), "share": getattr(e, attr) / total}
        for e in sorted(events, key=lambda e: getattr(e, attr), reverse=True)[:top]
    ]


def stage_miniatures(run: Run, record: dict) -> None:
    """The step of every miniature with today's default and the fastest correct train variant."""
    variants = [("default", Variant())] + ([run.best] if run.best and run.best[1] != Variant() else [])
    batches = run.batches()[: run.sizes.mini_warmup + run.sizes.mini_steps]
    rows = record["rows"] = []
    record["variant_names"] = [name for name, _ in variants]
    for model_name, arch in miniature_archs(run.sizes).items():
        if run.over_budget():
            rows.append({"model": model_name, "status": "skipped: stage budget spent"})
            continue
        initial = run.build(arch)
        for name, variant in variants:
            try:
                stepper = run.prepare(initial, variant)
                times = time_calls(stepper.step, batches, run.sizes.mini_warmup, run.device)
                figures = run.step_figures(stepper.model, batches[run.sizes.mini_warmup :], times, variant.bucketing)
                rows.append({"model": model_name, "layers": arch["num_hidden_layers"], "hidden": arch["hidden_size"],
                             "variant": name, "status": "done", **figures,
                             "hours_per_run": figures["median_step_s"] * run.protocol.max_steps / 3600})
            except Exception as err:
                rows.append({"model": model_name, "variant": name, "status": failure(err)})
        timed = [r for r in rows if r["model"] == model_name and "median_step_s" in r]
        run.log(f"miniature {model_name}: " + ", ".join(f"{r['variant']} {r['median_step_s'] * 1e3:.1f} ms"
                                                         for r in timed))
        del initial
        run.save()
    record["study_hours"] = {
        name: sum(r["hours_per_run"] for r in rows if r.get("variant") == name and r["status"] == "done")
        for name, _ in variants
    }
    record["complete"] = all(r["status"] == "done" for r in rows)


def stage_encode(run: Run, record: dict) -> None:
    """Evaluation's encode_texts (length-sorted batches, bf16) over a subcorpus at bert_base."""
    rng = np.random.default_rng(run.seed + 1)
    n, batch_size = run.sizes.encode_passages, run.sizes.encode_batch
    corpus = synthetic_texts(passage_lengths(n, rng, run.sizes.length_divisor), run.sizes.vocab_size, rng)
    model, rows = run.base_model(), np.arange(n)
    encode_texts(model, corpus, rows[: 4 * batch_size], batch_size, run.autocast)  # warm-up
    synchronize(run.device)
    started = time.perf_counter()
    encode_texts(model, corpus, rows, batch_size, run.autocast)
    synchronize(run.device)
    seconds = time.perf_counter() - started
    p = run.protocol  # a paper run encodes, every eval.every_n_steps, the pool and the test pairs, then ranks
    texts = p.max_steps // p.eval_every * (p.pool_size + 2 * DEV_SMALL_QUERIES) + p.subcorpus_size + DEV_SMALL_QUERIES
    record.update(passages=n, batch_size=batch_size, encode_s=seconds, passages_per_s=n / seconds,
                  tokens_per_s=float(corpus.lengths().sum()) / seconds, mean_length=float(corpus.lengths().mean()),
                  evaluation_texts_per_run=texts, evaluation_encode_h_per_run=texts * seconds / n / 3600)


def stage_search(run: Run, record: dict) -> None:
    """The project's exact search (FAISS flat inner product, top-k run dict) on the host."""
    try:
        import faiss
    except ImportError:
        record["status"] = f"skipped: faiss not installed (carry the faiss-cpu wheel {FAISS_WHEEL}: docs/gpu.md)"
        return
    rng = np.random.default_rng(run.seed + 2)
    s, dim = run.sizes, run.protocol.proj_dim
    queries = rng.standard_normal((s.search_queries, dim), dtype=np.float32)
    passages = rng.standard_normal((s.search_passages, dim), dtype=np.float32)
    started = time.perf_counter()
    found = search(queries, passages, range(s.search_queries), range(s.search_passages), k=s.top_k, progress=False)
    seconds = time.perf_counter() - started
    record.update(queries=s.search_queries, passages=s.search_passages, dim=dim, k=s.top_k, search_s=seconds,
                  queries_per_s=s.search_queries / seconds, results_per_query=len(next(iter(found.values()))),
                  faiss=faiss.__version__, faiss_threads=faiss.omp_get_max_threads())


def drscale_loop(query: torch.Tensor, positive: torch.Tensor, pool: torch.Tensor, negative_idx: torch.Tensor
                 ) -> list[float]:
    """DRScale's evaluate.py loop on given negatives: per pair and repeat, its scores and one loss call."""
    loss_fn = torch.nn.CrossEntropyLoss(reduction="none")
    target = torch.zeros(1, dtype=torch.long, device=query.device)
    out = []
    for i in range(len(query)):
        q = query[i : i + 1]
        positive_score = (q * positive[i : i + 1]).sum(dim=-1)
        total = 0.0
        for draw in negative_idx[i]:
            scores = torch.cat([positive_score, (q * pool[draw]).sum(dim=-1)]).unsqueeze(0)
            total += loss_fn(scores, target).mean().item()
        out.append(total / len(negative_idx[i]))
    return out


def stage_ce(run: Run, record: dict) -> None:
    """Vectorised CE over every pair vs the DRScale loop on the first pairs, same negatives."""
    s, device = run.sizes, run.device
    generator = torch.Generator(device=device).manual_seed(run.seed)
    query, positive = (torch.randn(s.ce_pairs, s.ce_dim, device=device, generator=generator) / s.ce_dim**0.5
                       for _ in range(2))
    pool = torch.randn(s.ce_pool, s.ce_dim, device=device, generator=generator) / s.ce_dim**0.5
    started = time.perf_counter()
    negatives = sample_negatives(s.ce_pool, s.ce_pairs, s.ce_negatives, s.ce_repeats, seed=run.seed)
    record["sampling_s"] = time.perf_counter() - started  # on the host, once per run
    negatives = negatives.to(device)
    ours = lambda _=None: per_pair_contrastive_entropy(query, positive, pool, negatives)  # noqa: E731
    times = time_calls(ours, [None] * 4, 1, device)
    per_pair = ours()
    few = s.loop_pairs
    drscale_loop(query[:2], positive[:2], pool, negatives[:2])  # warm-up
    synchronize(device)
    started = time.perf_counter()
    loop = torch.tensor(drscale_loop(query[:few], positive[:few], pool, negatives[:few]), dtype=torch.float64)
    loop_s = time.perf_counter() - started
    ours_s = statistics.median(times)
    extrapolated = loop_s / few * s.ce_pairs
    common = per_pair[:few].double().cpu()
    record.update(pairs=s.ce_pairs, K=s.ce_negatives, R=s.ce_repeats, pool=s.ce_pool, dim=s.ce_dim, ours_s=ours_s,
                  ours_times_s=times, loop_pairs=few, loop_s=loop_s, loop_per_pair_ms=loop_s / few * 1e3,
                  loop_extrapolated_s=extrapolated, ratio=extrapolated / ours_s, mean_ce=float(per_pair.mean()),
                  common_mean_ours=float(common.mean()), common_mean_loop=float(loop.mean()),
                  common_max_abs_difference=float((common - loop).abs().max()))


def stage_compile(run: Run, record: dict) -> None:
    """torch.compile on top of the fastest correct variant of `train` (the default without it)."""
    base = run.best[1] if run.best else Variant()
    record["backend"] = run.compile_backend
    if run.dry_run:
        record["note"] = "dry run on a CPU: dynamo's graph capture only, no inductor code generation"
    record["variants"] = [run.measure_variant("+ torch.compile", replace(base, compile=True))]
    update_fastest(run)


STAGE_FUNCTIONS = {
    "gemm": stage_gemm, "train": stage_train, "profile": stage_profile, "miniatures": stage_miniatures,
    "encode": stage_encode, "search": stage_search, "ce": stage_ce, "compile": stage_compile,
}


def run_stage(run: Run, name: str) -> None:
    """Run one stage into the report; a failure is recorded and the next stage goes on."""
    record = run.report["stages"][name] = {"status": "running"}
    if time.perf_counter() > run.deadline:
        record["status"] = "skipped: deadline reached"
        run.save()
        return
    started = time.perf_counter()
    run.stage_end = min(run.deadline, started + STAGE_BUDGET_S.get(name, float("inf")))
    run.log(f"stage {name}")
    try:
        STAGE_FUNCTIONS[name](run, record)
        if record["status"] == "running":
            record["status"] = "done"
    except Exception as err:
        record["status"] = failure(err)
        record["traceback"] = traceback.format_exc(limit=-4)
        if run.device.type == "cuda":
            torch.cuda.empty_cache()
    record["seconds"] = time.perf_counter() - started
    run.log(f"stage {name}: {record['status']} in {record['seconds']:.1f} s")
    run.save()


def markdown_table(headers: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers),
            *("| " + " | ".join(str(cell).replace("|", "/") for cell in row) + " |" for row in rows)]


def fmt(value, digits: int = 1, scale: float = 1.0, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.{digits}f}%" if percent else f"{value * scale:,.{digits}f}"


def variant_rows(records: list[dict]) -> list[list]:
    rows = []
    for r in records:
        if r.get("status") != "done":
            rows.append([r["name"], r.get("attention_used", "-"), r["fused_adamw"], r["bucketing"], r["compile"],
                         r.get("status"), *["-"] * 6])
            continue
        rows.append([r["name"], r["attention_used"], r["fused_adamw"], r["bucketing"], r["compile"],
                     "passed" if r["check"]["passed"] else "FAILED", fmt(r["median_step_s"], 1, 1e3),
                     fmt(r["tokens_per_s"], 0), fmt(r["tflops"], 1), fmt(r["mfu_spec"], 1, percent=True),
                     fmt(r["mfu_gemm"], 1, percent=True), fmt(r["setup_s"], 1)])
    return rows


VARIANT_HEADERS = ["variant", "attention", "fused AdamW", "bucketing", "compile", "check", "median step (ms)",
                   "tokens/s", "TFLOP/s", "MFU (spec)", "MFU (GEMM)", "setup (s)"]


def markdown_gemm(stage: dict, report: dict) -> list[str]:
    return markdown_table(["size", "median (ms)", "TFLOP/s"],
                          [[f"{stage['size']}^3 bf16", fmt(stage["median_s"], 2, 1e3), fmt(stage["tflops"], 0)]])


def markdown_variants(stage: dict, report: dict) -> list[str]:
    p, sizes = report["protocol"], report["protocol"]["sizes"]
    shape = "bert_base shape" + (" (width / 16, depth / 12)" if report["dry_run"] else "")
    lines = [f"{shape}, random weights; {sizes['batch_size']} queries of {sizes['query_tokens']} tokens, "
             f"{sizes['batch_size']} positives + {sizes['num_negatives']} shared negatives of MS MARCO's lengths "
             f"(cap {p['max_passage_length']}, / {sizes['length_divisor']}), AdamW, bf16 autocast; median of "
             f"{sizes['steps']} steps after {sizes['warmup']}. MFU counts unpadded tokens only.", ""]
    lines += markdown_table(VARIANT_HEADERS, variant_rows(stage["variants"]))
    if "repeat_difference" in stage:
        lines += ["", f"The default timed twice differs by {fmt(stage['repeat_difference'], 1, percent=True)}: "
                      "smaller differences between variants are noise."]
    return lines


def markdown_profile(stage: dict, report: dict) -> list[str]:
    return [f"Default step, {fmt(stage['time_per_step_ms'], 1)} ms of kernel time per step.", "",
            *markdown_table(["kernel", "calls/step", "ms/step", "share"],
                            [[k["name"], fmt(k["calls_per_step"], 0), fmt(k["ms_per_step"], 2),
                              fmt(k["share"], 1, percent=True)] for k in stage["kernels"]])]


def markdown_miniatures(stage: dict, report: dict) -> list[str]:
    rows = [[r["model"], r["variant"], f"{r['N']:,}", fmt(r["median_step_s"], 1, 1e3), fmt(r["tokens_per_s"], 0),
             fmt(r["mfu_spec"], 1, percent=True), fmt(r["mfu_gemm"], 1, percent=True), fmt(r["hours_per_run"], 2)]
            if r["status"] == "done" else [r["model"], r.get("variant", "-"), r["status"], *["-"] * 5]
            for r in stage["rows"]]
    lines = [f"Same batches; {report['protocol']['max_steps']:,} steps a run (training steps only).", "",
             *markdown_table(["model", "variant", "N", "median step (ms)", "tokens/s", "MFU (spec)", "MFU (GEMM)",
                              "h per run"], rows)]
    if "study_hours" in stage:
        totals = ", ".join(f"{name} {fmt(hours, 1)} h" for name, hours in stage["study_hours"].items())
        lines += ["", f"The 24-model study, training steps: {totals}"
                      + ("" if stage["complete"] else " (incomplete: some shapes were not measured)")]
    return lines


def markdown_encode(stage: dict, report: dict) -> list[str]:
    return [*markdown_table(["passages", "batch", "seconds", "passages/s", "tokens/s"],
                            [[f"{stage['passages']:,}", stage["batch_size"], fmt(stage["encode_s"], 2),
                              fmt(stage["passages_per_s"], 0), fmt(stage["tokens_per_s"], 0)]]),
            "", f"At this rate a paper run's evaluation ({stage['evaluation_texts_per_run']:,} texts: the pool and "
                f"the test pairs every {report['protocol']['eval_every']} steps, the ranking at the end) encodes for "
                f"{fmt(stage['evaluation_encode_h_per_run'], 2)} h at bert_base (queries counted as passages)."]


def markdown_search(stage: dict, report: dict) -> list[str]:
    return markdown_table(["queries", "passages", "k", "seconds", "queries/s", "FAISS threads"],
                          [[f"{stage['queries']:,}", f"{stage['passages']:,}", stage["k"], fmt(stage["search_s"], 2),
                            fmt(stage["queries_per_s"], 0), stage["faiss_threads"]]])


def markdown_ce(stage: dict, report: dict) -> list[str]:
    few = stage["loop_pairs"]
    return [*markdown_table(
        ["pairs", "K", "R", "pool", "ours (s)", "loop (ms/pair)", "loop, all pairs (s, extrapolated)", "ratio",
         f"mean CE on the first {few} pairs: ours / loop"],
        [[f"{stage['pairs']:,}", stage["K"], stage["R"], f"{stage['pool']:,}", fmt(stage["ours_s"], 3),
          fmt(stage["loop_per_pair_ms"], 2), fmt(stage["loop_extrapolated_s"], 1), fmt(stage["ratio"], 0),
          f"{stage['common_mean_ours']:.6f} / {stage['common_mean_loop']:.6f}"]]),
        "", f"The loop was timed on {few} pairs and extrapolated per pair; max |per-pair difference| "
            f"{stage['common_max_abs_difference']:.1e}. Sampling the negatives (host, once per run): "
            f"{fmt(stage['sampling_s'], 2)} s."]


MARKDOWN = {"gemm": markdown_gemm, "train": markdown_variants, "profile": markdown_profile,
            "miniatures": markdown_miniatures, "encode": markdown_encode, "search": markdown_search,
            "ce": markdown_ce, "compile": markdown_variants}


def render_markdown(report: dict) -> str:
    """The report as Markdown: a summary row per stage, then each finished stage's table."""
    env, peak, stages = report["environment"], report["peak_bf16_tflops"], report["stages"]
    lines = [f"# GPU check: {env['device']}", ""]
    if report["dry_run"]:
        lines += ["**Dry run: toy sizes on a CPU. These numbers measure nothing; they only show the script works.**",
                  ""]
    lines += [f"torch {env['torch']}, transformers {env['transformers']}, CUDA {env.get('cuda', '-')}, "
              f"{env['host_cpus']} host CPUs. bf16 peak: spec {fmt(peak['spec'], 0)} TFLOP/s, measured GEMM "
              f"{fmt(peak['measured_gemm'], 0)} TFLOP/s.", ""]
    lines += markdown_table(["stage", "status", "seconds"],
                            [[name, s["status"], fmt(s.get("seconds"), 1)] for name, s in stages.items()])
    if best := report.get("fastest"):
        lines += ["", f"Fastest correct step: **{best['name']}** (attention {best['attention_used']}, fused AdamW "
                      f"{best['fused_adamw']}, bucketing {best['bucketing']}, compile {best['compile']}), "
                      f"{fmt(best['median_step_s'], 1, 1e3)} ms, {fmt(best['speedup_over_default'], 2)}x the default."]
    for name, stage in stages.items():
        lines += ["", f"## {name}", ""]
        if stage["status"] == "done":
            lines += MARKDOWN[name](stage, report)
        else:
            lines.append(f"Status: {stage['status']}")
            if stage.get("variants"):  # what a stopped or failed stage measured before
                lines += ["", *markdown_table(VARIANT_HEADERS, variant_rows(stage["variants"]))]
    return "\n".join(lines) + "\n"


def failures(report: dict) -> list[str]:
    """What failed: stages, variants and miniature rows."""
    out = []
    for name, stage in report["stages"].items():
        parts = [stage, *stage.get("variants", []), *stage.get("rows", [])]
        out += [f"{name}: {p.get('name') or p.get('model') or ''} {p['status']}" for p in parts
                if p.get("status", "").startswith("failed")]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outputs/gpu_check", help="folder for gpu_check.json and gpu_check.md")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    parser.add_argument("--dry-run", action="store_true", help="every stage at toy sizes on the CPU")
    parser.add_argument("--deadline-s", type=float, default=420.0, help="no stage starts after this many seconds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(unknown)}: choose from {', '.join(STAGES)}")
    if not args.dry_run and not torch.cuda.is_available():
        parser.error("no CUDA device: run on a GPU, or add --dry-run for the toy sizes on the CPU")
    run = Run(args)
    for name in STAGES:
        if name in stages:
            run_stage(run, name)
    print(render_markdown(run.report))
    return 1 if failures(run.report) else 0


if __name__ == "__main__":
    sys.exit(main())
