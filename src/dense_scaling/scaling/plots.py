"""The paper's figures, each written as PNG and SVG.

Figures are built with ``matplotlib.figure.Figure`` and saved through the Agg
canvas, so nothing here touches pyplot's global state or needs a display.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from dense_scaling.results import atomic_open

from .budget import Allocation, budget_line
from dense_scaling.results import RANKING_METRICS
from .compute import iso_flop_curve

FORMATS = ("png", "svg")
AXIS_LABELS = {"N": "model size N (parameters)", "D": "data size D (annotated pairs)",
               "C": "training compute C (FLOPs)", "proj_dim": "embedding dimension d (proj_dim)"}


@dataclass(frozen=True)
class Series:
    """Observed points of one group and the law fitted to them (if any)."""

    label: str
    x: np.ndarray
    L: np.ndarray
    law: object | None = None


def save(fig: Figure, out_base: Path) -> list[Path]:
    """Write ``out_base``.png and .svg, each atomically; return both paths."""
    paths = [out_base.with_suffix(f".{fmt}") for fmt in FORMATS]
    for path, fmt in zip(paths, FORMATS):
        with atomic_open(path, "wb") as file:
            fig.savefig(file, format=fmt, dpi=120)
    return paths


def _colors(n: int):
    return [f"C{i % 10}" for i in range(n)]


def plot_size_fits(axis: str, series: list[Series], out_base: Path, title: str) -> list[Path]:
    """CE against N, D, C or proj_dim, one colour per group, fitted curve over its points (paper
    Figs. 1, 3, 4, 5; the compute and dimension laws)."""
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for color, s in zip(_colors(len(series)), series):
        ax.scatter(s.x, s.L, color=color, s=18, label=s.label)
        if s.law is not None:
            grid = np.geomspace(s.x.min() / 1.5, s.x.max() * 1.5, 200)
            ax.plot(grid, s.law.predict(grid), color=color, lw=1.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(AXIS_LABELS[axis])
    ax.set_ylabel("contrastive entropy")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return save(fig, out_base)


def plot_iso_flops(law, protocol, optima, runs: Series | None, out_base: Path, title: str) -> list[Path]:
    """Chinchilla-style IsoFLOP figure from a joint law: left, predicted CE against N along each
    compute budget C = 6 N tokens(D, steps), optimum starred (``optima``: ``ComputeOptimum``s) and
    the runs (``runs.x`` = N) as grey points; right, the optimal N and D against C."""
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for color, best in zip(_colors(len(optima)), optima):
        N, _, loss = iso_flop_curve(law, protocol, best.flops)
        keep = (loss <= 2 * best.loss) & (N >= best.N / 1e3)
        left.plot(N[keep], loss[keep], color=color, lw=1.2, label=f"C={best.flops:.2g}: N*={best.N:.3g}, D*={best.D:.3g}")
        left.scatter([best.N], [best.loss], color=color, marker="*", s=90, zorder=3)
    if runs is not None:
        left.scatter(runs.x, runs.L, color="grey", s=14, label="runs (their own compute)")
    left.set(xscale="log", yscale="log", xlabel=AXIS_LABELS["N"], ylabel="predicted contrastive entropy",
             title="IsoFLOP curves")
    left.legend(fontsize=6)
    flops = [b.flops for b in optima]
    right.plot(flops, [b.N for b in optima], "o-", label="N* (parameters)")
    right.plot(flops, [b.D for b in optima], "s-", label="D* (pairs)")
    right.set(xscale="log", yscale="log", xlabel=AXIS_LABELS["C"], title="compute-optimal N and D")
    right.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return save(fig, out_base)


def plot_joint(law, N, D, L, out_base: Path, held_out_N: float | None = None) -> list[Path]:
    """CE against D, one curve per N from the joint law (paper Fig. 6); hollow markers: held-out points."""
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    ax = fig.add_subplot()
    sizes = np.unique(N)
    grid = np.geomspace(D.min() / 1.5, D.max() * 1.5, 200)
    for color, size in zip(_colors(sizes.size), sizes):
        rows = N == size
        held = held_out_N is not None and size == held_out_N
        ax.scatter(D[rows], L[rows], s=24, label=f"N={size:.3g}" + (" (held out)" if held else ""),
                   facecolors="none" if held else color, edgecolors=color)
        ax.plot(grid, law.predict(size, grid), color=color, lw=1.2, ls="--" if held else "-")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("data size D (annotated pairs)")
    ax.set_ylabel("contrastive entropy")
    ax.set_title("joint law L(N, D)" + (", fitted without held-out points" if held_out_N is not None else ""))
    ax.legend(fontsize=7)
    return save(fig, out_base)


def plot_budgets(law, cost, allocations: list[Allocation], out_base: Path) -> list[Path]:
    """Loss against N along each budget line, optimum and its 1% band marked (paper Figs. 7, 8);
    ``allocations``: the optima of ``optimal_allocation``, all with or all without inference cost."""
    include_inference = allocations[0].include_inference
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    ax = fig.add_subplot()
    optima, band_starts = [], []
    for color, best in zip(_colors(len(allocations)), allocations):
        N, _, loss = budget_line(law, cost, best.budget, include_inference)
        optima.append(best.loss)
        band_starts.append(best.N_band[0])
        ax.plot(N, loss, color=color, lw=1.2, label=f"${best.budget:,.0f}: N*={best.N:.3g}, D*={best.D:.3g}")
        ax.axvspan(*best.N_band, color=color, alpha=0.12)
        ax.scatter([best.N], [best.loss], color=color, marker="*", s=90, zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(min(optima) * 0.8, max(optima) * 4)
    ax.set_xlim(left=min(band_starts) / 1e3)
    ax.set_xlabel("model size N (parameters)")
    ax.set_ylabel("predicted contrastive entropy")
    ax.set_title("budget allocation " + ("with" if include_inference else "without") + " inference cost")
    ax.legend(fontsize=7)
    return save(fig, out_base)


def plot_ce_vs_metrics(points: dict[str, list[dict[str, float]]], out_base: Path, maps=None) -> list[Path]:
    """CE against MAP@10, NDCG@10 and Recall@1000 (paper Fig. 2): one point per run, or a line
    through a run's checkpoints; ``points`` as :func:`~dense_scaling.scaling.collect.ce_vs_ranking`.
    ``maps`` (metric -> ``ranking.MetricMap``) adds each fitted curve with its 95% prediction band."""
    names = RANKING_METRICS[:3]
    fig = Figure(figsize=(4 * len(names), 3.6), layout="constrained")
    single = {label: rows[0] for label, rows in points.items() if len(rows) == 1}
    traced = {label: rows for label, rows in points.items() if len(rows) > 1}
    for i, name in enumerate(names, start=1):
        ax = fig.add_subplot(1, len(names), i)
        if single:
            ax.scatter([r["ce"] for r in single.values()], [r[name] for r in single.values()], s=14, label="runs")
        for (label, rows), color in zip(traced.items(), _colors(len(traced))):
            ax.plot([r["ce"] for r in rows], [r[name] for r in rows], "o-", ms=3, color=color, label=label)
        if maps and name in maps:
            fitted = maps[name]
            grid = np.linspace(*fitted.ce_range, 100)
            band = np.array([fitted.interval(ce) for ce in grid])
            ax.fill_between(grid, band[:, 0], band[:, 1], color="black", alpha=0.1, lw=0)
            (curve,) = ax.plot(grid, fitted.predict(grid), color="black", lw=1.5, label=f"fit: {fitted.form}")
            ax.legend(handles=[curve], fontsize=6, loc="upper right")
        ax.set_xlabel("contrastive entropy")
        ax.set_ylabel(name)
    if traced and len(traced) <= 10:
        fig.axes[0].legend(fontsize=6)
    fig.suptitle("contrastive entropy against ranking metrics" + (" across checkpoints" if traced else ""))
    return save(fig, out_base)
