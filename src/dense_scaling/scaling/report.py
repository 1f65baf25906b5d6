"""params.json and report.md: what a fit found (fit.py writes them atomically)."""

from __future__ import annotations

from .budget import Allocation, CostModel
from .collect import Skipped
from .sweep import GroupFit, SweepFits

FIT_FORMAT = "dense-scaling/fit/v1"


def params_document(inputs, skipped: list[Skipped], sweep: SweepFits | None, cost: CostModel,
                    budgets: dict[str, list[Allocation]], preset=None) -> dict:
    """Everything the fit found, unrounded, as one JSON-ready dict."""
    return {
        "format": FIT_FORMAT,
        "inputs": [str(p) for p in inputs],
        "skipped": [{"path": s.path, "reason": s.reason} for s in skipped],
        "fits": [] if sweep is None else [f.to_dict() for f in sweep.fits],
        "notes": [] if sweep is None else sweep.notes,
        "preset": None if preset is None else preset.to_dict(),
        "cost_model": cost.to_dict(),
        "budget": {source: [a.to_dict() for a in allocations] for source, allocations in budgets.items()},
    }


def _param_cell(fit: GroupFit, name: str) -> str:
    value = fit.result.law.params()[name]
    if fit.result.ci95 is None:
        return f"{value:.4g}"
    low, high = fit.result.ci95[name]
    return f"{value:.4g} [{low:.4g}, {high:.4g}]"


def _fits_section(fits: list[GroupFit]) -> list[str]:
    law = fits[0].result.law
    names = list(law.param_names)
    lines = [f"### {law.kind} law: `{type(law).__name__}`", "",
             "| group | runs | " + " | ".join(names) + " | R^2 | held-out rel. error | converged |",
             "|" + "---|" * (len(names) + 5)]
    for fit in fits:
        held = fit.result.heldout
        held_text = "-" if held is None else f"{held.mean_relative_error:.2%} ({held.axis}={held.held_out_value:.3g})"
        lines.append(f"| {fit.label} | {fit.result.n_points} | "
                     + " | ".join(_param_cell(fit, n) for n in names)
                     + f" | {fit.result.r2:.4f} | {held_text} | {'yes' if fit.result.converged else 'NO'} |")
    lines += ["", *[f"- {fit.label}: `{fit.result.law.formula()}`" for fit in fits], ""]
    return lines


def _budget_section(source: str, allocations: list[Allocation]) -> list[str]:
    lines = [f"### budget optimum from {source}", "",
             "| budget ($) | inference cost | N* | D* | predicted CE | N within 1% of best CE |",
             "|---|---|---|---|---|---|"]
    for a in allocations:
        lines.append(f"| {a.budget:,.0f} | {'with' if a.include_inference else 'without'} | {a.N:.3g} | {a.D:.3g} "
                     f"| {a.loss:.4f} | {a.N_band[0]:.3g} - {a.N_band[1]:.3g} |")
    return lines + [""]


def render_report(document: dict, sweep: SweepFits | None, budgets: dict[str, list[Allocation]],
                  method: str, n_boot: int) -> str:
    """A short markdown summary: fits with CIs, R^2, held-out error, budget optima."""
    cost = document["cost_model"]
    lines = ["# Scaling-law fit", "",
             f"Inputs: {', '.join(document['inputs']) or '(none)'}; method `{method}`"
             + (f", 95% CIs from {n_boot} bootstrap resamples of the runs" if n_boot else ", no bootstrap") + ".", ""]
    if document["skipped"]:
        lines += ["## Skipped result files", "", *[f"- `{s['path']}`: {s['reason']}" for s in document["skipped"]], ""]
    if sweep is not None:
        lines += ["## Fits", ""]
        for kind in ("model", "data", "joint"):
            if sweep.of_kind(kind):
                lines += _fits_section(sweep.of_kind(kind))
        if sweep.notes:
            lines += ["Notes:", "", *[f"- {note}" for note in sweep.notes], ""]
    if document["preset"]:
        preset = document["preset"]
        lines += ["## Preset", "", f"`{preset['name']}`: `{preset['formula']}` ({preset['dataset']}; {preset['source']}; "
                  f"N counted as {preset['n_counting']}).", ""]
    if budgets:
        lines += ["## Budget", "",
                  f"Cost Z(N, D) = {cost['z_data']:.3g} $/pair x D + ({cost['z_train']:.3g} train + "
                  f"{cost['z_infer']:.3g} inference) $/param x N.", ""]
        for source, allocations in budgets.items():
            lines += _budget_section(source, allocations)
    return "\n".join(lines)
