"""Protocol warnings: what in a study's runs makes its fitted law measure something else than
it claims, and what to change. ``fit`` prints them, the report and params.json keep them.

Per study (run by run):

* step-limited data: a run's D exceeds the training pairs it saw (steps x batch size), so more
  data could not help it; the law then measures the step budget at large D;
* still improving: the reported CE was measured at the run's last evaluation, so the run had
  not levelled off; the law measures the step budget, not the asymptote.

Per fit:

* neighbouring points whose CE confidence intervals overlap (the runs cannot tell the sizes
  apart);
* fewer points than the law's parameters plus two (at most one degree of freedom: the law
  passes through the points whatever their shape).
"""

from __future__ import annotations

from collections import defaultdict

from .collect import RunRecord


def _listing(records: list[RunRecord], limit: int = 6) -> str:
    """The runs by model and D (and proj_dim where it differs between them)."""
    with_dim = len({r.proj_dim for r in records}) > 1
    names = [f"{r.model} D={r.D:g}" + (f" proj_dim={r.proj_dim:g}" if with_dim and r.proj_dim else "")
             for r in records[:limit]]
    return ", ".join(names) + (f" and {len(records) - limit} more" if len(records) > limit else "")


def step_limited(records: list[RunRecord]) -> list[RunRecord]:
    """Runs whose D exceeds the training pairs they saw (steps x batch size)."""
    return [r for r in records if r.steps and r.batch_size and r.D > r.steps * r.batch_size]


def still_improving(records: list[RunRecord]) -> list[RunRecord]:
    """Runs whose reported CE comes from their last evaluation (the final step or the last entry
    of ce.history)."""
    return [r for r in records if r.reported_step is not None
            and r.reported_step in {r.steps, r.last_eval_step} - {None}]


def run_warnings(records: list[RunRecord]) -> list[str]:
    """The per-run warnings, one line per study and kind."""
    by_study = defaultdict(list)
    for record in records:
        by_study[record.study].append(record)
    warnings = []
    for study, runs in sorted(by_study.items(), key=lambda item: str(item[0])):
        limited = sorted(step_limited(runs), key=lambda r: (r.D, r.N))
        if limited:
            worst = max(limited, key=lambda r: r.D / (r.steps * r.batch_size))
            needed = -(-int(worst.D) // worst.batch_size)
            warnings.append(
                f"study {study}: {len(limited)} run(s) have more training pairs than they saw "
                f"({_listing(limited)}; e.g. D = {worst.D:g} > {worst.steps} steps x {worst.batch_size} = "
                f"{worst.steps * worst.batch_size} pairs): they are step-limited, not data-limited, and the law "
                f"under-rates large D; train at least {needed} steps (training.max_steps) or leave those D out")
        improving = sorted(still_improving(runs), key=lambda r: (r.N, r.D))
        if improving:
            warnings.append(
                f"study {study}: {len(improving)} of {len(runs)} run(s) reported their CE at their last evaluation "
                f"({_listing(improving)}): they were still improving, so the law measures the step budget, not "
                f"the asymptote; train longer (training.max_steps) until the best CE comes before the end")
    return warnings


def _overlapping_neighbours(records, axis: str, others: tuple[str, ...]) -> list[tuple[RunRecord, RunRecord]]:
    """Pairs of neighbours along ``axis`` (the other inputs equal) whose CE intervals overlap."""
    lines = defaultdict(list)
    for record in records:
        if record.L_ci95 is not None:
            lines[tuple(getattr(record, o) for o in others)].append(record)
    pairs = []
    for line in lines.values():
        line.sort(key=lambda r: getattr(r, axis))
        for a, b in zip(line, line[1:]):
            if getattr(a, axis) != getattr(b, axis) and a.L_ci95[0] <= b.L_ci95[1] and b.L_ci95[0] <= a.L_ci95[1]:
                pairs.append((a, b))
    return pairs


def fit_warnings(label: str, law_cls, records: list[RunRecord]) -> list[str]:
    """The per-fit warnings for ``records`` fitted with ``law_cls``."""
    warnings = []
    for axis in law_cls.inputs:
        others = tuple(name for name in law_cls.inputs if name != axis)
        pairs = _overlapping_neighbours(records, axis, others)
        if pairs:
            a, b = pairs[0]
            warnings.append(
                f"{label}: {len(pairs)} pair(s) of neighbouring points have overlapping CE intervals, e.g. "
                f"{axis}={getattr(a, axis):g} [{a.L_ci95[0]:.3g}, {a.L_ci95[1]:.3g}] and {axis}={getattr(b, axis):g} "
                f"[{b.L_ci95[0]:.3g}, {b.L_ci95[1]:.3g}]: the runs do not tell these sizes apart; space the "
                f"sizes further apart or evaluate on more test pairs (eval.repeats, a larger test split)")
    k, n = len(law_cls.param_names), len(records)
    if n < k + 2:
        warnings.append(
            f"{label}: {n} points for {k} parameters (fewer than parameters + 2): with at most one degree of "
            f"freedom the law fits almost any points; add runs at more sizes")
    return warnings
