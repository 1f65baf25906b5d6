"""Sweep results -> fitted laws, plots, report, budget optimum, compute frontier.

    python -m dense_scaling.fit PATH... [--law model|data|joint|compute|dimension|all|none]
        [--form paper|chinchilla|compare] [--out DIR] [--method robust|lsq] [--bootstrap N]
        [--holdout] [--weighted] [--predict N=1e9,D=5e5 ...] [--preset NAME]
        [--budgets 5000 20000 150000 1000000] [--flops 1e15 1e17] [--wandb]

PATH is a run folder, a Hydra multirun folder (searched recursively), a
results.json file or a quoted glob. ``--preset NAME`` runs the budget analysis
on one of the paper's published joint laws, with or without PATH. Writes
params.json, report.md and the figures (PNG and SVG) to DIR (default:
``<first PATH>/fit``, or ``./fit`` with only a preset). Protocol warnings go to
stderr and the report. Bad input prints ``error: ...`` and exits 2.
"""

from __future__ import annotations

import argparse
import glob
import re
import sys
from pathlib import Path

import numpy as np

from dense_scaling.scaling import plots
from dense_scaling.scaling.analysis import Analysis, analyse
from dense_scaling.scaling.budget import CostModel
from dense_scaling.scaling.collect import ce_vs_ranking, check_records, collect
from dense_scaling.scaling.errors import ScalingInputError
from dense_scaling.scaling.fitting import HUBER_DELTA
from dense_scaling.scaling.laws import JOINT_FORMS
from dense_scaling.scaling.predict import parse_point
from dense_scaling.scaling.presets import PRESETS, get_preset
from dense_scaling.results import RANKING_METRICS, write_json_atomic, write_text_atomic
from dense_scaling.scaling.report import params_document, render_report
from dense_scaling.scaling.sweep import FORM_CHOICES, LAW_CHOICES, fit_sweep

DEFAULT_BUDGETS = (5_000.0, 20_000.0, 150_000.0, 1_000_000.0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dense_scaling.fit", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", metavar="PATH", help="run folders, multirun folders, results.json files or globs")
    parser.add_argument("--law", choices=(*LAW_CHOICES, "none"), default="all",
                        help="which law to fit (default: all the data supports; none: only CE against ranking, Fig. 2)")
    parser.add_argument("--form", choices=FORM_CHOICES, default="paper",
                        help="joint law form: paper (Eq. 8), chinchilla (E + A/N^a + B/D^b), or compare both")
    parser.add_argument("--method", choices=("robust", "lsq"), default="robust",
                        help=f"robust: Huber (delta {HUBER_DELTA:g}) on log L; lsq: the paper's least squares; "
                             f"both from a grid of starts")
    parser.add_argument("--bootstrap", type=int, default=100, metavar="N", help="bootstrap resamples for 95%% CIs (0: none)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--holdout", action="store_true",
                        help="refit without the largest N (D for data laws; both, in turn, for joint laws) and report the error predicting it")
    parser.add_argument("--weighted", action="store_true", help="weight points by their ce.reported_ci95")
    parser.add_argument("--predict", action="append", default=[], metavar="N=1e9,D=5e5",
                        help="predict CE (and ranking metrics) at these sizes with every law taking exactly them; repeatable")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="budget analysis from a published law (needs no PATH)")
    parser.add_argument("--budgets", type=float, nargs="+", default=list(DEFAULT_BUDGETS), metavar="USD")
    parser.add_argument("--flops", type=float, nargs="+", metavar="C",
                        help="compute budgets (FLOPs) of the compute frontier (default: decades over the runs' compute x 1000)")
    parser.add_argument("--out", type=Path, help="output folder (default: <first PATH>/fit)")
    parser.add_argument("--wandb", action="store_true",
                        help="log the figures and fitted parameters to wandb in the study's group (offline without an API key)")
    return parser


def _default_out(paths: list[str]) -> Path:
    """``<first PATH>/fit``: for a glob, the folder before its first wildcard; for a file, its folder."""
    if not paths:
        return Path("fit")
    parts = Path(paths[0]).parts
    plain = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts))
    base = Path(*parts[:plain]) if plain else Path(".")
    return (base.parent if base.is_file() else base) / "fit"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.=-]+", "_", text).strip("_")


_SIZE_FIGURES = (("model", "N", "ce_vs_N", "model-size law per data size"),
                 ("data", "D", "ce_vs_D", "data-size law per model size"),
                 ("compute", "C", "ce_vs_C", "compute law over the compute-efficient runs"),
                 ("dimension", "proj_dim", "ce_vs_proj_dim", "embedding-dimension law per model and data size"))


def _plot_fits(sweep, analysis: Analysis, out: Path) -> list[Path]:
    written = []
    for kind, axis, name, title in _SIZE_FIGURES:
        fits = sweep.of_kind(kind)
        if fits:
            series = [plots.Series(f.label, f.column(axis), f.column("L"), f.result.law) for f in fits]
            written += plots.plot_size_fits(axis, series, out / name, title)
    data_fits = sweep.of_kind("data")
    if len({f.key["annotation"] for f in data_fits}) > 1:
        series = [plots.Series(f"{f.key['annotation']} (N={f.key['N']:.3g})", f.column("D"), f.column("L"), f.result.law)
                  for f in data_fits]
        written += plots.plot_size_fits("D", series, out / "ce_vs_D_by_annotation", "data-size law per annotation type")
    for fit in sweep.of_kind("joint", form=None):
        held = fit.result.heldout
        law = fit.result.law if held is None else held.law
        written += plots.plot_joint(law, fit.column("N"), fit.column("D"), fit.column("L"),
                                    out / f"joint_{_slug(fit.label)}", None if held is None else held.held_out_value)
        if fit.label in analysis.frontiers:
            runs = plots.Series("runs", fit.column("N"), fit.column("L"))
            written += plots.plot_iso_flops(fit.result.law, analysis.protocols[fit.label], analysis.frontiers[fit.label],
                                            runs, out / f"isoflops_{_slug(fit.label)}",
                                            f"compute-optimal frontier of {fit.label}: {fit.result.law.formula()}")
    return written


def _plot_budgets(analysis: Analysis, cost: CostModel, out: Path) -> list[Path]:
    written = []
    for source, allocations in analysis.allocations.items():
        for inference, name in ((False, "budget_without_inference"), (True, "budget_with_inference")):
            chosen = [a for a in allocations if a.include_inference == inference]
            written += plots.plot_budgets(analysis.budget_laws[source], cost, chosen, out / f"{name}_{_slug(source)}")
    return written


def _plot_ce_vs_metrics(records, analysis: Analysis, out: Path) -> list[Path]:
    """Fig. 2 and its points as a table; the fitted CE-to-metric curves when there is one data set."""
    points = ce_vs_ranking(records)
    if not points:
        return []
    maps = next(iter(analysis.maps.values())) if len(analysis.maps) == 1 else None
    return [*plots.plot_ce_vs_metrics(points, out / "ce_vs_metrics", maps),
            _write_ce_vs_metrics_table(points, out / "ce_vs_metrics.tsv")]


def _write_ce_vs_metrics_table(points: dict[str, list[dict[str, float]]], path: Path) -> Path:
    """The figure's points as a table: run, step (empty for a run's single reported point), CE, metrics."""
    header = "\t".join(["run", "step", "ce", *RANKING_METRICS])
    lines = [header] + [
        "\t".join([label, "" if np.isnan(row["step"]) else f"{row['step']:.0f}",
                   *(f"{row[k]:.6g}" for k in ("ce", *RANKING_METRICS))])
        for label, rows in points.items() for row in rows
    ]
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def _collect(args):
    """The checked records under args.paths, and the skipped files."""
    if not args.paths:
        return [], []
    records, skipped = collect(args.paths)
    for s in skipped:
        print(f"skipped {s.path}: {s.reason}", file=sys.stderr)
    check_records(records)
    return records, skipped


def _fit(args, records):
    """The sweep of fits (None for --law none or a preset alone)."""
    if not records:
        return None
    if args.law == "none":
        if not ce_vs_ranking(records):
            raise ScalingInputError("--law none draws CE against ranking metrics, but no run has ranking metrics "
                                    "(train with eval.ranking=true)")
        return None
    return fit_sweep(records, law=args.law, method=args.method, n_boot=args.bootstrap, seed=args.seed,
                     weighted=args.weighted, with_holdout=args.holdout, form=args.form)


def _ci(value: dict, spec: str) -> str:
    low, high = value["ci95"]
    interval = "" if np.isnan(low) else f" [{low:{spec}}, {high:{spec}}]"  # NaN without bootstrap
    return f"{value['value']:{spec}}{interval}"


def _print_summary(sweep, analysis: Analysis) -> None:
    for warning in [] if sweep is None else sweep.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for fit in [] if sweep is None else sweep.fits:
        print(f"{fit.kind} {fit.label}: {fit.result.law.formula()}  R^2={fit.result.r2:.4f}"
              + ("" if fit.result.converged else "  (NOT converged)"))
    for comparison in analysis.comparisons:
        print(f"compare {comparison.label}: {comparison.verdict}")
    for note in ([] if sweep is None else sweep.notes) + analysis.notes:
        print(f"note: {note}", file=sys.stderr)
    for p in analysis.of_kind("point") + analysis.of_kind("budget"):
        sizes = "".join(f", {name}={p.quantities[name].text('.3g')}" for name in ("N", "D") if name in p.quantities)
        metrics = "".join(f", {m} {_ci(v, '.3f')}" for m, v in p.metrics.items())
        print(f"{p.kind} {p.what} ({p.source}){sizes}: CE={p.ce.text('.4f')}{metrics}")


def _run(args) -> int:
    if not args.paths and args.preset is None:
        raise ScalingInputError("nothing to do: give at least one PATH of results, or --preset NAME")
    preset = None if args.preset is None else get_preset(args.preset)
    if preset is not None and not isinstance(preset.law, tuple(JOINT_FORMS.values())):
        joint = ", ".join(n for n, p in PRESETS.items() if p.law.kind == "joint")
        raise ScalingInputError(f"preset {preset.name} is a {preset.law.kind}-size law; budget analysis needs a "
                                f"joint law: use {joint}")
    points = [parse_point(text) for text in args.predict]
    out = args.out or _default_out(args.paths)
    records, skipped = _collect(args)
    sweep = _fit(args, records)
    cost = CostModel()
    analysis = analyse(records, sweep, cost, args.budgets, preset=preset, points=points,
                       flop_budgets=args.flops, n_boot=args.bootstrap, seed=args.seed)
    written = [] if sweep is None else _plot_fits(sweep, analysis, out)
    written += _plot_ce_vs_metrics(records, analysis, out)
    written += _plot_budgets(analysis, cost, out)
    document = params_document(args.paths, skipped, sweep, cost, analysis, preset)
    write_json_atomic(out / "params.json", document, non_finite_as_null=True)
    write_text_atomic(out / "report.md", render_report(document, sweep, analysis, args.method, args.bootstrap))
    _print_summary(sweep, analysis)
    for label, optima in analysis.frontiers.items():
        print(f"frontier {label}: {len(optima)} compute-optimal (N, D) from C = {optima[0].flops:.3g} to "
              f"{optima[-1].flops:.3g} FLOPs, with intervals and ranking metrics, in report.md")
    print(f"wrote params.json, report.md and {len(written)} figure files (PNG + SVG) to {out}")
    if args.wandb:
        from dense_scaling.wandb_setup import log_fit

        print(f"wandb: logged to {log_fit(out, sweep, written, _study(sweep))}")
    return 0


def _study(sweep) -> str | None:
    """The study (wandb group) of the fitted runs, or None."""
    studies = sorted({r.study for fit in ([] if sweep is None else sweep.fits) for r in fit.records if r.study})
    return "+".join(studies) or None


def main(argv=None) -> int:
    """CLI entry point; returns the exit status (2 on bad input, with ``error: ...`` on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except ScalingInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
