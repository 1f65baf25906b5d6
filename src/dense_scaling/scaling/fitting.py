"""Fit any law of ``laws.py`` to its points; bootstrap CIs; held-out error.

Two methods share one routine, parameterised by the law class, and both start from every
point of the law's data-driven grid of starts (``law.start_grid``), keeping the best end point:

* ``"robust"`` (default): Chinchilla's approach 3 as Epoch AI re-did it
  (epoch-research/analyzing-chinchilla). Positive constants are fitted through
  their logs, exponents directly; the loss is the Huber loss (delta 1e-3) of the
  residuals of log L; L-BFGS-B with tight tolerances.
* ``"lsq"``: least squares on L itself, the paper's objective (Levenberg-Marquardt,
  as ``scipy.optimize.curve_fit`` runs it). From the one start ``curve_fit`` uses by
  default it often ends far from the minimum; from the grid it finds it.

Convergence is checked and reported: the optimizer's own flag, how many starts reached the
best objective, and whether an exponent ended on a bound (robust) or below zero (lsq).

Optional per-point standard deviations ``sigma`` (e.g. from each run's CE
confidence interval) weight the residuals: lsq divides residuals of L by sigma,
robust divides residuals of log L by sigma / L (relative to their mean, so the
Huber threshold keeps its meaning).

``bootstrap`` keeps the law refitted to every resample, so that any quantity derived from a
law (a prediction, a budget optimum, an exponent ratio) gets its interval from ``interval``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property, wraps
from types import SimpleNamespace

import numpy as np
from scipy.optimize import least_squares, minimize
from threadpoolctl import threadpool_limits

from .errors import ScalingInputError

HUBER_DELTA = 1e-3
EXPONENT_BOUNDS = (1e-3, 10.0)
LOG_CONSTANT_BOUNDS = (-100.0, 100.0)
_SAME_MINIMUM_RTOL = 1e-5
DISTINCT_RTOL = 0.01  # sizes within 1% of each other count as one (FLOP counts of equal runs differ slightly)
_OTHER_LAW = {"N": "data", "D": "model"}


def _one_blas_thread(function):
    """Run ``function`` with BLAS limited to one thread.

    L-BFGS-B calls BLAS on 3-5 element vectors; extra BLAS threads only add
    wake-up latency, which made fits 10x slower on a busy two-core machine.
    """
    @wraps(function)
    def wrapper(*args, **kwargs):
        with threadpool_limits(1, user_api="blas"):
            return function(*args, **kwargs)
    return wrapper


@dataclass(frozen=True)
class Convergence:
    """How the optimizer ended; ``converged`` is the verdict.

    For a multi-start fit the verdict is agreement: at least two starts ended at
    the best objective and no exponent sits on a bound. (L-BFGS-B often stops
    with ABNORMAL_TERMINATION_IN_LNSRCH at a minimum it cannot improve in
    floating point, so its own flag, kept in ``best_succeeded``, is weaker
    evidence.) A single-start fit relies on the optimizer's flag.
    """

    n_starts: int
    n_succeeded: int
    n_at_best: int
    best_succeeded: bool
    at_bound: tuple[str, ...]
    message: str

    @property
    def converged(self) -> bool:
        settled = self.n_at_best >= 2 if self.n_starts > 1 else self.best_succeeded
        return settled and not self.at_bound

    @classmethod
    def of_starts(cls, runs, at_bound: tuple[str, ...]) -> "Convergence":
        """The verdict on optimizer results ``runs`` (each with ``fun`` and ``success``), best first."""
        best = runs[0]
        tolerance = _SAME_MINIMUM_RTOL * max(abs(best.fun), 1e-12)
        return cls(n_starts=len(runs), n_succeeded=sum(bool(run.success) for run in runs),
                   n_at_best=sum(run.fun - best.fun <= tolerance for run in runs),
                   best_succeeded=bool(best.success), at_bound=at_bound, message=str(best.message))


@dataclass(frozen=True)
class HeldOut:
    """Extrapolation check: fit without the largest ``axis`` value, predict it."""

    axis: str
    held_out_value: float
    n_fit: int
    law: object
    observed: tuple[float, ...]
    predicted: tuple[float, ...]

    @property
    def relative_errors(self) -> np.ndarray:
        observed = np.asarray(self.observed)
        return np.abs(np.asarray(self.predicted) - observed) / observed

    @property
    def mean_relative_error(self) -> float:
        return float(self.relative_errors.mean())

    def to_dict(self) -> dict:
        return {"axis": self.axis, "held_out_value": self.held_out_value, "n_fit": self.n_fit,
                "n_held_out": len(self.observed), "params_without_held_out": self.law.params(),
                "observed": list(self.observed), "predicted": list(self.predicted),
                "mean_relative_error": self.mean_relative_error}


@dataclass(frozen=True)
class FitResult:
    """A fitted law with its diagnostics. Parameters are never rounded.

    ``aic`` is Akaike's criterion for Gaussian residuals of log L: n ln(RSS_log / n) + 2k.
    ``samples`` are the laws refitted to the bootstrap resamples; ``heldouts`` the held-out checks.
    """

    law: object
    method: str
    n_points: int
    r2: float
    objective: float
    convergence: Convergence
    aic: float = float("nan")
    weighted: bool = False
    ci95: dict[str, tuple[float, float]] | None = None
    n_bootstrap: int = 0
    n_bootstrap_failed: int = 0
    samples: tuple = ()
    heldouts: tuple[HeldOut, ...] = ()

    @property
    def converged(self) -> bool:
        return self.convergence.converged

    @property
    def heldout(self) -> HeldOut | None:
        """The first held-out check (along the law's first input), if any."""
        return self.heldouts[0] if self.heldouts else None

    def heldout_along(self, axis: str) -> HeldOut | None:
        return next((h for h in self.heldouts if h.axis == axis), None)

    def to_dict(self) -> dict:
        return {
            "law": self.law.kind, "form": getattr(self.law, "form", None), "formula": self.law.formula(),
            "params": self.law.params(), "method": self.method, "weighted": self.weighted,
            "n_points": self.n_points, "r2": self.r2, "aic": self.aic,
            "objective": self.objective, "converged": self.converged,
            "convergence": dataclasses.asdict(self.convergence),
            "ci95": None if self.ci95 is None else {k: list(v) for k, v in self.ci95.items()},
            "n_bootstrap": self.n_bootstrap, "n_bootstrap_failed": self.n_bootstrap_failed,
            "heldout": None if self.heldout is None else self.heldout.to_dict(),
            "heldouts": [h.to_dict() for h in self.heldouts],
        }


@dataclass(frozen=True)
class _Points:
    """Validated points in the form the optimizers use."""

    inputs: tuple[np.ndarray, ...]
    L: np.ndarray
    sigma: np.ndarray | None

    # cached: the optimizers read them at every step of every start
    @cached_property
    def log_inputs(self) -> tuple[np.ndarray, ...]:
        return tuple(np.log(x) for x in self.inputs)

    @cached_property
    def log_L(self) -> np.ndarray:
        return np.log(self.L)

    @cached_property
    def lin_scale(self) -> np.ndarray:
        return np.ones_like(self.L) if self.sigma is None else self.sigma

    @cached_property
    def log_scale(self) -> np.ndarray:
        if self.sigma is None:
            return np.ones_like(self.L)
        relative = self.sigma / self.L
        return relative / relative.mean()


def _as_positive_array(name: str, values, n: int | None = None) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ScalingInputError(f"{name} must be numbers ({exc})") from None
    if n is not None and array.size != n:
        raise ScalingInputError(f"{name} has {array.size} values but L has {n}; give one per point")
    bad = np.flatnonzero(~np.isfinite(array) | (array <= 0))
    if bad.size:
        i = int(bad[0])
        raise ScalingInputError(
            f"{name} must be positive and finite, but point {i} has {name} = {float(array[i])!r}; "
            f"fix or remove that run")
    return array


def distinct_values(values) -> np.ndarray:
    """The distinct values of ``values``, sorted; values within ``DISTINCT_RTOL`` of the previous
    distinct one count as the same."""
    ordered = np.unique(np.asarray(values, dtype=float))
    kept = ordered[:1].tolist()
    for value in ordered[1:]:
        if value > kept[-1] * (1.0 + DISTINCT_RTOL):
            kept.append(value)
    return np.array(kept)


def require_distinct(law_cls, name: str, values) -> None:
    """Raise unless ``values`` of input ``name`` vary enough to identify ``law_cls``."""
    distinct = distinct_values(values)
    if distinct.size == 1:
        other = _OTHER_LAW.get(name) if len(law_cls.inputs) == 1 else None
        hint = f" (did you mean --law {other}?)" if other else ""
        same = "the same" if np.unique(np.asarray(values, dtype=float)).size == 1 else "within 1% of the same"
        raise ScalingInputError(
            f"all {np.size(values)} runs have {same} {name} = {distinct[0]:g}: a {law_cls.kind} law needs runs "
            f"at different values of {name}{hint}")
    needed = 2 if len(law_cls.inputs) > 1 else len(law_cls.param_names)
    if distinct.size < needed:
        raise ScalingInputError(
            f"only {distinct.size} distinct values of {name} (values within 1% count as one); a {law_cls.kind} law "
            f"needs at least {needed}: add runs at other values of {name}")


def _points(law_cls, L, inputs: dict, sigma) -> _Points:
    """Check the points can identify the law; raise a clear error if not."""
    L = _as_positive_array("L", L)
    arrays = []
    for name in law_cls.inputs:
        if inputs.get(name) is None:
            raise ScalingInputError(f"a {law_cls.kind} law needs {name} for every point; pass {name}=...")
        arrays.append(_as_positive_array(name, inputs[name], L.size))
    n_params = len(law_cls.param_names)
    if L.size < n_params:
        raise ScalingInputError(
            f"a {law_cls.kind} law has {n_params} parameters ({', '.join(law_cls.param_names)}) but only "
            f"{L.size} point{'s' if L.size != 1 else ''} to fit them; add runs so there are at least {n_params}")
    for name, x in zip(law_cls.inputs, arrays):
        require_distinct(law_cls, name, x)
    sigma = None if sigma is None else _as_positive_array("sigma", sigma, L.size)
    return _Points(tuple(arrays), L, sigma)


def _subset(law_cls, points: _Points, index) -> _Points:
    """The points selected by ``index``, checked again (a subset may no longer identify the law)."""
    inputs = dict(zip(law_cls.inputs, (x[index] for x in points.inputs)))
    return _points(law_cls, points.L[index], inputs, None if points.sigma is None else points.sigma[index])


def _exponent_flags(law_cls, theta, bounds=None) -> tuple[str, ...]:
    """Exponents on a bound (within 1e-6) or, without bounds, not positive: a fit to distrust."""
    flagged = []
    for i, name in enumerate(law_cls.param_names):
        if name not in law_cls.exponent_names:
            continue
        if bounds is None:
            if theta[i] <= 0:
                flagged.append(name)
        elif min(theta[i] - bounds[i][0], bounds[i][1] - theta[i]) < 1e-6:
            flagged.append(name)
    return tuple(flagged)


def _bounds(law_cls) -> list[tuple[float, float]]:
    return [EXPONENT_BOUNDS if name in law_cls.exponent_names else LOG_CONSTANT_BOUNDS
            for name in law_cls.param_names]


def _theta(law) -> np.ndarray:
    """The unconstrained parameter vector of a law (inverse of ``from_theta``)."""
    values = law.params()
    return np.array([values[name] if name in law.exponent_names else np.log(values[name])
                     for name in law.param_names])


def _huber_objective(theta, law_cls, points: _Points):
    """Sum of Huber losses of scaled log residuals, divided by delta, and its gradient."""
    log_pred, jac = law_cls.log_predict(theta, points.log_inputs)
    scale = points.log_scale
    residual = (log_pred - points.log_L) / scale
    size, delta = np.abs(residual), HUBER_DELTA
    loss = np.where(size <= delta, 0.5 * residual ** 2, delta * (size - 0.5 * delta)) / delta
    slope = np.clip(residual, -delta, delta) / delta
    return float(loss.sum()), jac.T @ (slope / scale)


def _run_robust(law_cls, points: _Points, starts: np.ndarray):
    bounds = _bounds(law_cls)
    runs = sorted((minimize(_huber_objective, start, args=(law_cls, points), jac=True, method="L-BFGS-B",
                            bounds=bounds, options={"maxiter": 5000, "ftol": 1e-14, "gtol": 1e-10})
                   for start in starts), key=lambda run: run.fun)
    best = runs[0]
    return best.x, float(best.fun), Convergence.of_starts(runs, _exponent_flags(law_cls, best.x, bounds))


def _run_lsq(law_cls, points: _Points, starts: np.ndarray):
    def residuals(theta):
        return (np.exp(law_cls.log_predict(theta, points.log_inputs)[0]) - points.L) / points.lin_scale

    def jacobian(theta):
        log_pred, jac = law_cls.log_predict(theta, points.log_inputs)
        return jac * (np.exp(log_pred) / points.lin_scale)[:, None]

    runs = []
    with np.errstate(over="ignore", invalid="ignore"):
        for start in starts:
            try:
                run = least_squares(residuals, start, jac=jacobian, method="lm")
            except ValueError as exc:  # the start itself overflows: a failed start
                runs.append(SimpleNamespace(x=start, fun=np.inf, success=False, message=str(exc)))
                continue
            runs.append(SimpleNamespace(x=run.x, fun=2 * run.cost if np.isfinite(run.cost) else np.inf,
                                        success=run.success, message=run.message))
    runs.sort(key=lambda run: run.fun)
    best = runs[0]
    return best.x, float(best.fun), Convergence.of_starts(runs, _exponent_flags(law_cls, best.x))


def _r2(law, points: _Points) -> float:
    predicted = law.predict(*points.inputs)
    residual = np.sum((points.L - predicted) ** 2)
    total = np.sum((points.L - points.L.mean()) ** 2)
    return float(1.0 - residual / total) if total > 0 else float("nan")


def _aic(law, points: _Points) -> float:
    """n ln(RSS / n) + 2k for the residuals of log L."""
    with np.errstate(divide="ignore", invalid="ignore"):
        residual = np.log(law.predict(*points.inputs)) - points.log_L
    rss = float(np.sum(residual ** 2))
    n = points.L.size
    if not np.isfinite(rss):
        return float("inf")
    return float(n * np.log(max(rss, 1e-300) / n) + 2 * len(law.param_names))


_RUNNERS = {"robust": _run_robust, "lsq": _run_lsq}


def _fit_points(law_cls, points: _Points, method: str, starts=None) -> FitResult:
    if method not in _RUNNERS:
        raise ScalingInputError(f"unknown fitting method {method!r}; use 'robust' or 'lsq'")
    starts = law_cls.start_grid(points.log_inputs, points.log_L) if starts is None else starts
    theta, objective, convergence = _RUNNERS[method](law_cls, points, np.atleast_2d(starts))
    with np.errstate(over="ignore"):  # a diverged lsq fit reports A = inf rather than a warning
        law = law_cls.from_theta(theta)
    return FitResult(law=law, method=method, n_points=points.L.size, r2=_r2(law, points), objective=objective,
                     convergence=convergence, aic=_aic(law, points), weighted=points.sigma is not None)


@_one_blas_thread
def fit_law(law_cls, L, *, sigma=None, method: str = "robust", p0=None, **inputs) -> FitResult:
    """Fit ``law_cls`` (a law of ``laws.py``) to points: ``L`` and one array per input of the law
    (``N=``, ``D=``, ``C=``, ``proj_dim=``).

    ``p0`` is an optional start given as a law instance; it replaces the grid of starts (one
    start, as ``curve_fit`` would use it).
    """
    points = _points(law_cls, L, inputs, sigma)
    starts = None if p0 is None else _theta(p0)
    return _fit_points(law_cls, points, method, starts)


@_one_blas_thread
def bootstrap(result: FitResult, L, *, sigma=None, n_boot: int = 200, seed: int = 0, level: float = 0.95,
              **inputs) -> FitResult:
    """Percentile CIs: resample the runs with replacement, refit, take quantiles; the refitted
    laws are kept in ``samples`` (see :func:`interval`).

    Each refit starts from the full-data optimum (a warm start keeps this cheap);
    resamples that cannot identify the law (too few distinct N or D) are counted
    as failed and left out.
    """
    law_cls = type(result.law)
    points = _points(law_cls, L, inputs, sigma)
    if points.L.size <= len(law_cls.param_names):  # every usable resample is the same set: zero-width CIs
        raise ScalingInputError(
            f"{points.L.size} points for {len(law_cls.param_names)} parameters: the law passes through them, so "
            f"resampling cannot say how uncertain it is; add runs for confidence intervals")
    rng = np.random.default_rng(seed)
    start = _theta(result.law)
    laws, failed = [], 0
    for _ in range(n_boot):
        index = rng.integers(0, points.L.size, points.L.size)
        try:
            resample = _subset(law_cls, points, index)
        except ScalingInputError:
            failed += 1
            continue
        laws.append(_fit_points(law_cls, resample, result.method, start).law)
    if not laws:
        raise ScalingInputError("no bootstrap resample could be fitted; add runs at more distinct sizes")
    values = np.array([[law.params()[name] for name in law_cls.param_names] for law in laws])
    ci = {name: percentile_interval(values[:, i], level) for i, name in enumerate(law_cls.param_names)}
    return dataclasses.replace(result, ci95=ci, n_bootstrap=len(laws), n_bootstrap_failed=failed,
                               samples=tuple(laws))


def percentile_interval(values, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of the finite ``values`` (NaNs if there are none)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def interval(result: FitResult, quantity, level: float = 0.95) -> tuple[float, float] | None:
    """The bootstrap percentile interval of ``quantity(law)`` (any function of a fitted law), or
    None when ``result`` has no bootstrap samples."""
    if not result.samples:
        return None
    return percentile_interval([quantity(law) for law in result.samples], level)


@_one_blas_thread
def holdout(result: FitResult, L, *, sigma=None, axis: str | None = None, **inputs) -> FitResult:
    """Refit without the points at the largest ``axis`` value (default: the law's first input)
    and record how well that fit predicts them (appended to ``heldouts``)."""
    law_cls = type(result.law)
    axis = axis or law_cls.inputs[0]
    if axis not in law_cls.inputs:
        raise ScalingInputError(f"a {law_cls.kind} law has no {axis} to hold out; use one of {law_cls.inputs}")
    points = _points(law_cls, L, inputs, sigma)
    x = points.inputs[law_cls.inputs.index(axis)]
    held = x == x.max()
    try:
        kept = _subset(law_cls, points, ~held)
    except ScalingInputError as exc:
        raise ScalingInputError(f"held-out check without the largest {axis} ({x.max():g}): {exc}") from None
    reduced = _fit_points(law_cls, kept, result.method)
    predicted = reduced.law.predict(*(v[held] for v in points.inputs))
    check = HeldOut(axis=axis, held_out_value=float(x.max()), n_fit=kept.L.size, law=reduced.law,
                    observed=tuple(points.L[held].tolist()), predicted=tuple(np.atleast_1d(predicted).tolist()))
    return dataclasses.replace(result, heldouts=(*result.heldouts, check))


def sigma_from_ci95(ci95) -> float:
    """Standard deviation implied by a symmetric normal 95% interval (lo, hi)."""
    low, high = ci95
    return (float(high) - float(low)) / (2 * 1.959963984540054)
