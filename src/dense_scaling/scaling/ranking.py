"""From contrastive entropy to ranking metrics: a monotone map fitted across runs and checkpoints.

The paper's Fig. 2 shows MAP@10, NDCG@10 and Recall@1000 falling with CE; a budget plan needs
the metric. Each metric m is fitted as a decreasing function of CE L in one of three forms:

    logistic       m = top / (1 + exp(slope (L - mid)))      top in (0, 1], slope > 0
    logit-linear   m = 1 / (1 + exp(slope (L - mid)))        the logistic with top = 1
    exponential    m = scale exp(-slope L)                   scale > 0, slope > 0

by least squares on m (``scipy.optimize.least_squares``, bounded, from a small grid of starts).
The form is chosen by held-out error: split the runs into at most five folds (a fold holds whole
runs, all their checkpoints; single checkpoints when there is one run), refit without each fold,
and take the mean absolute error on what was left out (leave-one-run-out up to five runs).

Intervals are bootstrap prediction intervals: resample the runs (checkpoints for a single run),
refit the chosen form; a prediction at CE L is f_b(L_b) + e_b over the resamples b, with e_b a
residual of the full fit drawn at random (the scatter of a single model around the curve, which
the paper notes: similar CE does not guarantee similar ranking), and L_b the law's own bootstrap
prediction when the CE comes from a fitted law. The metric is clipped to [0, 1].
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from .fitting import percentile_interval

MAPPED_METRICS = ("map@10", "ndcg@10", "recall@1000")
MIN_POINTS = 5
FOLDS = 5


def _logistic(L, top, slope, mid):
    return top / (1.0 + np.exp(np.clip(slope * (L - mid), -700, 700)))


FORMS = {
    # name: (function of (L, *params), bounds, parameter names)
    "logistic": (_logistic, ([1e-6, 1e-6, -np.inf], [1.0, np.inf, np.inf]), ("top", "slope", "mid")),
    "logit-linear": (lambda L, slope, mid: _logistic(L, 1.0, slope, mid), ([1e-6, -np.inf], [np.inf, np.inf]),
                     ("slope", "mid")),
    "exponential": (lambda L, scale, slope: scale * np.exp(-slope * L), ([1e-9, 1e-6], [np.inf, np.inf]),
                    ("scale", "slope")),
}


def _starts(form: str, L: np.ndarray, m: np.ndarray) -> list[tuple[float, ...]]:
    mids, slopes = np.quantile(L, (0.25, 0.5, 0.75)), (0.5, 2.0, 8.0)
    if form == "logistic":
        return [(min(1.0, 1.05 * m.max()), s, c) for s, c in itertools.product(slopes, mids)]
    if form == "logit-linear":
        return list(itertools.product(slopes, mids))
    return [(max(m.max(), 1e-6) * np.exp(s * L.min()), s) for s in slopes]


def _fit_form(form: str, L: np.ndarray, m: np.ndarray, starts=None) -> np.ndarray:
    """Least-squares parameters of ``form`` through (L, m), the best over ``starts`` (default: a grid)."""
    function, bounds, _ = FORMS[form]
    best = None
    with np.errstate(over="ignore", invalid="ignore"):
        for start in starts or _starts(form, L, m):
            start = np.clip(start, np.add(bounds[0], 1e-12), np.subtract(bounds[1], 1e-12))
            run = least_squares(lambda p: function(L, *p) - m, start, bounds=bounds, method="trf")
            if best is None or run.cost < best.cost:
                best = run
    return best.x


def _groups(labels: np.ndarray) -> np.ndarray:
    """Resampling / held-out units: runs, or single checkpoints when there is one run."""
    return labels if np.unique(labels).size > 1 else np.arange(labels.size)


def _held_out_error(form: str, L, m, units, start) -> float:
    """Mean absolute error on each fold of runs left out (at most ``FOLDS`` folds), the form
    refitted without it from ``start`` (its fit to every point)."""
    function = FORMS[form][0]
    errors = []
    for fold in np.array_split(np.unique(units), min(FOLDS, np.unique(units).size)):
        out = np.isin(units, fold)
        if (~out).sum() < len(FORMS[form][2]) + 1:
            continue
        params = _fit_form(form, L[~out], m[~out], [start])
        errors.append(np.abs(function(L[out], *params) - m[out]))
    return float(np.mean(np.concatenate(errors))) if errors else float("inf")


@dataclass(frozen=True)
class MetricMap:
    """One metric as a fitted function of CE, with its held-out errors and bootstrap refits."""

    metric: str
    form: str
    params: tuple[float, ...]
    held_out_errors: dict[str, float]
    n_points: int
    n_runs: int
    ce_range: tuple[float, float]
    residuals: tuple[float, ...]
    samples: tuple[tuple[float, ...], ...] = ()

    def predict(self, ce) -> np.ndarray:
        return np.clip(FORMS[self.form][0](np.asarray(ce, dtype=float), *self.params), 0.0, 1.0)

    def formula(self) -> str:
        names = FORMS[self.form][2]
        return f"{self.metric} = {self.form}(CE; " + ", ".join(f"{n}={v:.4g}" for n, v in zip(names, self.params)) + ")"

    def interval(self, ce: float, ce_samples=None, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
        """Prediction interval of the metric at CE ``ce`` (``ce_samples``: the CE's own bootstrap values)."""
        if not self.samples:
            return float("nan"), float("nan")
        rng = np.random.default_rng(seed)
        function = FORMS[self.form][0]
        ces = np.full(len(self.samples), float(ce)) if ce_samples is None or len(ce_samples) == 0 else \
            np.resize(np.asarray(ce_samples, dtype=float), len(self.samples))
        noise = rng.choice(np.asarray(self.residuals), size=len(self.samples))
        with np.errstate(over="ignore", invalid="ignore"):
            values = np.array([function(c, *p) for c, p in zip(ces, self.samples)]) + noise
        return percentile_interval(np.clip(values, 0.0, 1.0), level)

    def to_dict(self) -> dict:
        return {"metric": self.metric, "form": self.form, "formula": self.formula(),
                "params": dict(zip(FORMS[self.form][2], self.params)), "held_out_mae": self.held_out_errors,
                "n_points": self.n_points, "n_runs": self.n_runs, "ce_range": list(self.ce_range),
                "residual_sd": float(np.std(self.residuals)), "n_bootstrap": len(self.samples)}


def fit_metric_map(metric: str, ce, values, runs, n_boot: int = 100, seed: int = 0) -> MetricMap:
    """Fit ``metric`` (``values``) against ``ce`` over points labelled by their ``runs``; choose
    the form with the smallest held-out error; bootstrap the chosen form ``n_boot`` times."""
    L, m, labels = np.asarray(ce, dtype=float), np.asarray(values, dtype=float), np.asarray(runs)
    units = _groups(labels)
    fits = {form: _fit_form(form, L, m) for form in FORMS}
    errors = {form: _held_out_error(form, L, m, units, fits[form]) for form in FORMS}
    form = min(errors, key=errors.get)
    params = fits[form]
    residuals = m - FORMS[form][0](L, *params)
    rng = np.random.default_rng(seed)
    unique = np.unique(units)
    samples = []
    for _ in range(n_boot):
        chosen = rng.choice(unique, size=unique.size)
        index = np.concatenate([np.flatnonzero(units == u) for u in chosen])
        samples.append(tuple(_fit_form(form, L[index], m[index], [params])))
    return MetricMap(metric=metric, form=form, params=tuple(float(p) for p in params), held_out_errors=errors,
                     n_points=int(L.size), n_runs=int(np.unique(labels).size),
                     ce_range=(float(L.min()), float(L.max())), residuals=tuple(residuals.tolist()),
                     samples=tuple(samples))


def fit_metric_maps(points: dict[str, list[dict[str, float]]], n_boot: int = 100,
                    seed: int = 0) -> dict[str, MetricMap]:
    """A map per metric of ``MAPPED_METRICS`` from CE-vs-ranking ``points`` (by run label, as
    ``collect.ce_vs_ranking`` gives them); empty when there are fewer than ``MIN_POINTS`` points."""
    rows = [(label, row) for label, run_rows in points.items() for row in run_rows]
    if len(rows) < MIN_POINTS:
        return {}
    labels = [label for label, _ in rows]
    ce = [row["ce"] for _, row in rows]
    return {metric: fit_metric_map(metric, ce, [row[metric] for _, row in rows], labels, n_boot, seed)
            for metric in MAPPED_METRICS}


def translate(maps: dict[str, MetricMap], ce: float, ce_samples=None) -> dict[str, dict[str, float]]:
    """A CE prediction as each mapped metric: value and 95% prediction interval."""
    out = {}
    for metric, metric_map in maps.items():
        low, high = metric_map.interval(ce, ce_samples)
        out[metric] = {"value": float(metric_map.predict(ce)), "ci95": [low, high],
                       "extrapolated": not metric_map.ce_range[0] <= ce <= metric_map.ce_range[1]}
    return out
