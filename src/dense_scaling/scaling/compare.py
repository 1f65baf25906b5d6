"""Which joint form extrapolates best on these runs (``fit --form compare``).

Both forms are fitted to the same runs with the same fitter; each is scored by its in-sample
R^2, its AIC (n ln(RSS/n) + 2k on log L; both forms have five parameters, so AIC differences
are differences of fit alone) and two extrapolation checks: refit without the runs at the
largest N and predict them, then the same for the largest D (mean relative error). The verdict
names the form with the smaller mean of the two held-out errors, since extrapolation is what a
law is used for; AIC is reported beside it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .sweep import GroupFit, group_label


@dataclass(frozen=True)
class FormScore:
    """One form's scores on one group of runs."""

    form: str
    formula: str
    r2: float
    aic: float
    heldout_N: float | None
    heldout_D: float | None
    converged: bool

    @property
    def heldout_mean(self) -> float:
        errors = [e for e in (self.heldout_N, self.heldout_D) if e is not None]
        return float(np.mean(errors)) if errors else float("nan")

    def to_dict(self) -> dict:
        return {"form": self.form, "formula": self.formula, "r2": self.r2, "aic": self.aic,
                "heldout_largest_N": self.heldout_N, "heldout_largest_D": self.heldout_D,
                "heldout_mean": self.heldout_mean, "converged": self.converged}


@dataclass(frozen=True)
class Comparison:
    """The forms side by side on one group, and which extrapolates best."""

    label: str
    scores: tuple[FormScore, ...]
    best: str
    verdict: str

    def to_dict(self) -> dict:
        return {"group": self.label, "scores": [s.to_dict() for s in self.scores], "best": self.best,
                "verdict": self.verdict}


def _error(fit: GroupFit, axis: str) -> float | None:
    check = fit.result.heldout_along(axis)
    return None if check is None else check.mean_relative_error


def _score(fit: GroupFit) -> FormScore:
    return FormScore(form=fit.form, formula=fit.result.law.formula(), r2=fit.result.r2, aic=fit.result.aic,
                     heldout_N=_error(fit, "N"), heldout_D=_error(fit, "D"), converged=fit.result.converged)


def _verdict(scores: list[FormScore]) -> tuple[str, str]:
    by_aic = min(scores, key=lambda s: s.aic)
    checked = [s for s in scores if np.isfinite(s.heldout_mean)]
    if not checked:
        return by_aic.form, f"no held-out check was possible; AIC prefers the {by_aic.form} form"
    best = min(checked, key=lambda s: s.heldout_mean)
    others = "; ".join(f"{s.form} {s.heldout_mean:.2%}" for s in checked if s is not best)
    aic_text = (f"AIC agrees (lower by {min(s.aic for s in scores if s is not best) - best.aic:.1f})"
                if by_aic is best else f"AIC prefers the {by_aic.form} form (lower by {best.aic - by_aic.aic:.1f})")
    return best.form, (f"the {best.form} form extrapolates best on these runs: mean leave-largest-out error "
                       f"{best.heldout_mean:.2%} (vs {others}); {aic_text}")


def compare_forms(fits: list[GroupFit]) -> list[Comparison]:
    """One comparison per group that has joint fits of more than one form."""
    groups = defaultdict(list)
    for fit in fits:
        if fit.kind == "joint":
            groups[group_label(fit.key)].append(fit)
    comparisons = []
    for label, members in groups.items():
        if len({f.form for f in members}) < 2:
            continue
        scores = [_score(f) for f in members]
        best, verdict = _verdict(scores)
        comparisons.append(Comparison(label=label, scores=tuple(scores), best=best, verdict=verdict))
    return comparisons
