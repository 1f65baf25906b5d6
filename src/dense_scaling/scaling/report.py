"""params.json and report.md: what a fit found (fit.py writes them atomically)."""

from __future__ import annotations

import math

from .analysis import Analysis
from .budget import Allocation, CostModel
from .collect import Skipped
from .compare import Comparison
from .predict import Estimate, Prediction
from .ranking import MAPPED_METRICS, MetricMap
from .sweep import KINDS, GroupFit, SweepFits

FIT_FORMAT = "dense-scaling/fit/v2"


def params_document(inputs, skipped: list[Skipped], sweep: SweepFits | None, cost: CostModel, analysis: Analysis,
                    preset=None) -> dict:
    """Everything the fit found, unrounded, as one JSON-ready dict."""
    return {
        "format": FIT_FORMAT,
        "inputs": [str(p) for p in inputs],
        "skipped": [{"path": s.path, "reason": s.reason} for s in skipped],
        "warnings": [] if sweep is None else sweep.warnings,
        "fits": [] if sweep is None else [f.to_dict() for f in sweep.fits],
        "notes": ([] if sweep is None else sweep.notes) + analysis.notes,
        "comparisons": [c.to_dict() for c in analysis.comparisons],
        "exponent_ratios": {label: e.to_dict() for label, e in analysis.exponent_ratios.items()},
        "metric_maps": {data: {m: mm.to_dict() for m, mm in maps.items()} for data, maps in analysis.maps.items()},
        "training_protocols": {label: p.to_dict() for label, p in analysis.protocols.items()},
        "compute_frontiers": {label: [o.to_dict() for o in optima] for label, optima in analysis.frontiers.items()},
        "predictions": [p.to_dict() for p in analysis.predictions],
        "preset": None if preset is None else preset.to_dict(),
        "cost_model": cost.to_dict(),
        "budget": {source: [a.to_dict() for a in allocations] for source, allocations in analysis.allocations.items()},
    }


def _param_cell(fit: GroupFit, name: str) -> str:
    value = fit.result.law.params()[name]
    if fit.result.ci95 is None:
        return f"{value:.4g}"
    low, high = fit.result.ci95[name]
    return f"{value:.4g} [{low:.4g}, {high:.4g}]"


def _heldout_text(fit: GroupFit) -> str:
    return "; ".join(f"{h.mean_relative_error:.2%} ({h.axis}={h.held_out_value:.3g})"
                     for h in fit.result.heldouts) or "-"


def _fits_section(fits: list[GroupFit]) -> list[str]:
    law = fits[0].result.law
    names = list(law.param_names)
    lines = [f"### {law.kind} law: `{type(law).__name__}`", "",
             "| group | runs | " + " | ".join(names) + " | R^2 | held-out rel. error | converged |",
             "|" + "---|" * (len(names) + 5)]
    for fit in fits:
        lines.append(f"| {fit.label} | {fit.result.n_points} | "
                     + " | ".join(_param_cell(fit, n) for n in names)
                     + f" | {fit.result.r2:.4f} | {_heldout_text(fit)} | {'yes' if fit.result.converged else 'NO'} |")
    lines += ["", *[f"- {fit.label}: `{fit.result.law.formula()}`" for fit in fits], ""]
    return lines


def _percent(value) -> str:
    return "-" if value is None else f"{value:.2%}"


def _comparison_section(comparisons: list[Comparison], ratios: dict[str, Estimate]) -> list[str]:
    lines = ["## Joint law forms compared", "",
             "Each form fitted to the same runs; held-out: refit without the largest N (then D), mean relative "
             "error predicting them; AIC = n ln(RSS/n) + 2k on log L.", ""]
    for c in comparisons:
        lines += [f"### {c.label}", "", "| form | R^2 | AIC | held-out largest N | held-out largest D | mean | converged |",
                  "|---|---|---|---|---|---|---|"]
        for s in c.scores:
            lines.append(f"| {s.form} | {s.r2:.4f} | {s.aic:.1f} | {_percent(s.heldout_N)} | {_percent(s.heldout_D)} "
                         f"| {s.heldout_mean:.2%} | {'yes' if s.converged else 'NO'} |")
        lines += ["", f"Verdict: {c.verdict}.", ""]
    if ratios:
        lines += ["Data-to-model exponent ratio alpha/beta (D must grow as N^(alpha/beta) to keep both terms in "
                  "proportion):", "", *[f"- {label}: {ratio.text('.3g')}" for label, ratio in ratios.items()], ""]
    return lines


def _maps_section(maps: dict[str, dict[str, MetricMap]]) -> list[str]:
    lines = ["## CE to ranking metrics", "",
             "Fitted across runs and checkpoints; the form is chosen by its mean absolute error (MAE) on held-out "
             "runs (up to five folds).", "",
             "| data | metric | chosen form | held-out MAE per form | points (runs) | CE range | residual SD |",
             "|---|---|---|---|---|---|---|"]
    for data, by_metric in maps.items():
        for m in by_metric.values():
            errors = ", ".join(f"{form} {error:.4f}" for form, error in m.held_out_errors.items())
            lines.append(f"| {data} | {m.metric} | `{m.formula()}` | {errors} | {m.n_points} ({m.n_runs}) | "
                         f"{m.ce_range[0]:.3g}-{m.ce_range[1]:.3g} | {m.to_dict()['residual_sd']:.4f} |")
    return lines + [""]


def _metric_cells(prediction: Prediction) -> list[str]:
    cells = []
    for metric in MAPPED_METRICS:
        value = prediction.metrics.get(metric)
        if value is None:
            cells.append("-")
        else:
            low, high = value["ci95"]
            interval = "" if math.isnan(low) else f" [{low:.3f}, {high:.3f}]"  # NaN without bootstrap
            cells.append(f"{value['value']:.3f}{interval}" + ("*" if value["extrapolated"] else ""))
    return cells


def _predictions_table(title: str, predictions: list[Prediction], columns: tuple[str, ...], note: str) -> list[str]:
    header = ["source", "what", *columns, "CE", *MAPPED_METRICS]
    lines = [f"## {title}", "", note, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for p in predictions:
        sizes = [p.quantities[c].text(".3g") if c in p.quantities else "-" for c in columns]
        cells = [p.source, p.what, *sizes, p.ce.text(".4f"), *_metric_cells(p)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


_METRIC_NOTE = ("CE with its 95% bootstrap interval; each metric from the CE-to-metric map with its 95% prediction "
                "interval (* where the CE lies outside the CE range the map was fitted on).")


def _budget_section(source: str, allocations: list[Allocation]) -> list[str]:
    lines = [f"### budget optimum from {source}", "",
             "| budget ($) | inference cost | N* | D* | predicted CE | N within 1% of best CE |",
             "|---|---|---|---|---|---|"]
    for a in allocations:
        lines.append(f"| {a.budget:,.0f} | {'with' if a.include_inference else 'without'} | {a.N:.3g} | {a.D:.3g} "
                     f"| {a.loss:.4f} | {a.N_band[0]:.3g} - {a.N_band[1]:.3g} |")
    return lines + [""]


def render_report(document: dict, sweep: SweepFits | None, analysis: Analysis, method: str, n_boot: int) -> str:
    """A markdown summary: warnings, fits with CIs, R^2, held-out error, form comparison, the CE to
    ranking maps, predictions with their ranking translations, budget optima, compute frontier."""
    cost = document["cost_model"]
    lines = ["# Scaling-law fit", "",
             f"Inputs: {', '.join(document['inputs']) or '(none)'}; method `{method}`"
             + (f", 95% CIs from {n_boot} bootstrap resamples of the runs" if n_boot else ", no bootstrap") + ".", ""]
    if document["skipped"]:
        lines += ["## Skipped result files", "", *[f"- `{s['path']}`: {s['reason']}" for s in document["skipped"]], ""]
    if document["warnings"]:
        lines += ["## Protocol warnings", "", *[f"- {w}" for w in document["warnings"]], ""]
    if sweep is not None:
        lines += ["## Fits", ""]
        for kind in KINDS:
            for form in ("paper", "chinchilla") if kind == "joint" else (None,):
                if sweep.of_kind(kind, form):
                    lines += _fits_section(sweep.of_kind(kind, form))
        if document["notes"]:
            lines += ["Notes:", "", *[f"- {note}" for note in document["notes"]], ""]
    if analysis.comparisons or analysis.exponent_ratios:
        lines += _comparison_section(analysis.comparisons, analysis.exponent_ratios)
    if analysis.maps:
        lines += _maps_section(analysis.maps)
    if analysis.of_kind("point"):
        lines += _predictions_table("Predictions (--predict)", analysis.of_kind("point"), (), _METRIC_NOTE)
    if analysis.of_kind("floor"):
        lines += _predictions_table("Law floors: the best CE each law allows", analysis.of_kind("floor"), (),
                                    _METRIC_NOTE)
    if analysis.of_kind("frontier"):
        protocols = "; ".join(f"{label}: {p.steps} steps x {p.batch_size} pairs, {p.tokens_per_pair:.4g} tokens "
                              f"per pair" for label, p in analysis.protocols.items())
        lines += _predictions_table(
            "Compute-optimal frontier", analysis.of_kind("frontier"), ("N", "D"),
            "For each budget C, the (N, D) minimising the joint law under C = 6 N tokens(D, steps), "
            f"tokens(D, steps) = tokens per pair x max(D, steps x batch) ({protocols}). " + _METRIC_NOTE)
    if document["preset"]:
        preset = document["preset"]
        lines += ["## Preset", "", f"`{preset['name']}`: `{preset['formula']}` ({preset['dataset']}; {preset['source']}; "
                  f"N counted as {preset['n_counting']}).", ""]
    if analysis.allocations:
        lines += ["## Budget", "",
                  f"Cost Z(N, D) = {cost['z_data']:.3g} $/pair x D + ({cost['z_train']:.3g} train + "
                  f"{cost['z_infer']:.3g} inference) $/param x N.", ""]
        for source, allocations in analysis.allocations.items():
            lines += _budget_section(source, allocations)
        lines += _predictions_table("Budget optima with intervals and ranking metrics", analysis.of_kind("budget"),
                                    ("N", "D"), _METRIC_NOTE)
    return "\n".join(lines)
