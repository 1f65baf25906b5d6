"""What users act on, with bootstrap intervals: predictions of CE at given sizes, budget and
compute optima, the data-to-model exponent ratio, each CE also as ranking metrics.

Every interval is the 2.5-97.5 percentile range of the quantity recomputed on each bootstrap
refit of the law (``FitResult.samples``, passed as ``samples``); without bootstrap samples (a
fit with ``--bootstrap 0``, a preset) there are point values only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .budget import CostModel, optimal_allocation
from .compute import TrainingProtocol, compute_optimum
from .errors import ScalingInputError
from .fitting import percentile_interval
from .ranking import MetricMap, translate


@dataclass(frozen=True)
class Estimate:
    """A value and its 95% bootstrap interval (None without bootstrap)."""

    value: float
    ci95: tuple[float, float] | None = None

    def to_dict(self) -> dict:
        return {"value": self.value, "ci95": None if self.ci95 is None else list(self.ci95)}

    def text(self, spec: str = ".4g") -> str:
        if self.ci95 is None:
            return format(self.value, spec)
        return f"{self.value:{spec}} [{self.ci95[0]:{spec}}, {self.ci95[1]:{spec}}]"


@dataclass(frozen=True)
class Prediction:
    """One predicted point: what was asked, the sizes and CE with intervals, and the CE as
    ranking metrics (value, 95% prediction interval) where a CE-to-metric map exists.
    ``kind``: ``"point"`` (--predict), ``"floor"`` (a law's asymptote), ``"budget"``, ``"frontier"``."""

    kind: str
    source: str
    what: str
    quantities: dict[str, Estimate]
    ce_samples: tuple[float, ...] = ()
    metrics: dict[str, dict] = field(default_factory=dict)

    @property
    def ce(self) -> Estimate:
        return self.quantities["CE"]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "source": self.source, "what": self.what,
                **{name: q.to_dict() for name, q in self.quantities.items()}, "metrics": self.metrics}


def _estimates(law, samples, quantities) -> tuple[dict[str, Estimate], tuple[float, ...]]:
    """Each field of ``quantities(law) -> dict`` at the fitted ``law``, with intervals over the
    bootstrap laws ``samples``; also the CE of every sample (for the ranking translation)."""
    point = quantities(law)
    values = [quantities(sample) for sample in samples]
    estimates = {name: Estimate(float(value), percentile_interval([v[name] for v in values]) if values else None)
                 for name, value in point.items()}
    return estimates, tuple(float(v["CE"]) for v in values)


def with_metrics(prediction: Prediction, maps: dict[str, MetricMap] | None) -> Prediction:
    """``prediction`` with its CE translated by ``maps`` (unchanged when there are none)."""
    if not maps:
        return prediction
    return dataclasses.replace(prediction, metrics=translate(maps, prediction.ce.value, prediction.ce_samples))


def parse_point(text: str) -> dict[str, float]:
    """``"N=1e9,D=5e5"`` -> {"N": 1e9, "D": 5e5}; a clear error for anything else."""
    point = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not sep or not name.strip() or not number > 0:
            raise ScalingInputError(f"--predict {text!r}: write positive sizes as NAME=VALUE pairs separated by "
                                    f"commas, e.g. N=1e9,D=5e5")
        point[name.strip()] = number
    if not point:
        raise ScalingInputError("--predict needs at least one NAME=VALUE, e.g. N=1e9,D=5e5")
    return point


def predict_point(source: str, law, samples, point: dict[str, float]) -> Prediction:
    """The law's CE at ``point`` (its inputs by name)."""
    args = [point[name] for name in law.inputs]
    estimates, ce_samples = _estimates(law, samples, lambda candidate: {"CE": float(candidate.predict(*args))})
    what = ", ".join(f"{name}={point[name]:g}" for name in law.inputs)
    return Prediction("point", source, what, estimates, ce_samples)


def floor_prediction(source: str, law, samples) -> Prediction:
    """The law's irreducible CE (its floor, reached as every size grows without bound)."""
    estimates, ce_samples = _estimates(law, samples, lambda candidate: {"CE": candidate.params()[law.floor_name]})
    what = f"floor {law.floor_name} ({', '.join(law.inputs)} -> infinity)"
    return Prediction("floor", source, what, estimates, ce_samples)


def exponent_ratio(law, samples) -> Estimate:
    """alpha / beta of a joint law: D must grow as N^(alpha/beta) to keep the model and data
    terms in proportion (in both forms)."""
    estimates, _ = _estimates(law, samples, lambda candidate: {"CE": 0.0, "ratio": candidate.alpha / candidate.beta})
    return estimates["ratio"]


def budget_predictions(source: str, law, samples, cost: CostModel, budgets, include_inference: bool):
    """The budget optimum (paper Eqs. 11-14) for each budget, with intervals on N*, D* and CE."""
    predictions = []
    for budget in budgets:
        def quantities(candidate, budget=budget):
            best = optimal_allocation(candidate, cost, budget, include_inference)
            return {"N": best.N, "D": best.D, "CE": best.loss}

        estimates, ce_samples = _estimates(law, samples, quantities)
        what = f"${budget:,.0f} {'with' if include_inference else 'without'} inference"
        predictions.append(Prediction("budget", source, what, estimates, ce_samples))
    return predictions


def frontier_predictions(source: str, law, samples, protocol: TrainingProtocol, budgets):
    """The compute-optimal (N, D) for each FLOP budget, with intervals on N*, D* and CE."""
    predictions = []
    for flops in budgets:
        def quantities(candidate, flops=flops):
            best = compute_optimum(candidate, protocol, flops)
            return {"N": best.N, "D": best.D, "CE": best.loss}

        estimates, ce_samples = _estimates(law, samples, quantities)
        predictions.append(Prediction("frontier", source, f"C = {flops:.3g} FLOPs", estimates, ce_samples))
    return predictions


def default_flop_budgets(records) -> list[float]:
    """Decades from the cheapest run's compute to 1,000 times the dearest's."""
    flops = [r.C for r in records if r.C]
    if not flops:
        return []
    low, high = np.floor(np.log10(min(flops))), np.ceil(np.log10(max(flops))) + 3
    return [float(10.0 ** k) for k in np.arange(low, high + 1)]
