"""Everything derived from the fitted laws: form comparison, exponent ratios, the CE-to-ranking
maps, and every prediction (floors, --predict points, budget optima, the compute frontier),
each with bootstrap intervals and translated into ranking metrics."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from .budget import Allocation, CostModel, optimal_allocation
from .collect import RunRecord, ce_vs_ranking
from .compare import Comparison, compare_forms
from .compute import ComputeOptimum, TrainingProtocol, compute_optimum
from .errors import ScalingInputError
from .predict import (Estimate, Prediction, budget_predictions, default_flop_budgets, exponent_ratio,
                      floor_prediction, frontier_predictions, predict_point, with_metrics)
from .ranking import MIN_POINTS, MetricMap, fit_metric_maps
from .sweep import SweepFits


@dataclass
class Analysis:
    """What ``analyse`` derived; ``allocations`` are the budget optima (with their 1% bands) of each
    joint law in ``budget_laws``, by source ("preset NAME", "joint fit LABEL")."""

    comparisons: list[Comparison] = field(default_factory=list)
    exponent_ratios: dict[str, Estimate] = field(default_factory=dict)  # joint fit label -> alpha/beta
    maps: dict[str, dict[str, MetricMap]] = field(default_factory=dict)  # data set -> metric -> map
    protocols: dict[str, TrainingProtocol] = field(default_factory=dict)  # joint fit label -> its protocol
    frontiers: dict[str, list[ComputeOptimum]] = field(default_factory=dict)  # joint fit label -> optima by budget
    predictions: list[Prediction] = field(default_factory=list)
    allocations: dict[str, list[Allocation]] = field(default_factory=dict)
    budget_laws: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Prediction]:
        return [p for p in self.predictions if p.kind == kind]


def metric_maps(records: list[RunRecord], n_boot: int, seed: int, notes: list[str]) -> dict[str, dict[str, MetricMap]]:
    """One CE-to-metric map per data set, over its runs' checkpoints (or reported points)."""
    by_data = defaultdict(list)
    for record in records:
        by_data[record.data].append(record)
    maps = {}
    for data, runs in sorted(by_data.items(), key=lambda item: str(item[0])):
        points = ce_vs_ranking(runs)
        fitted = fit_metric_maps(points, n_boot=n_boot, seed=seed)
        if fitted:
            maps[str(data)] = fitted
        else:
            count = sum(len(rows) for rows in points.values())
            notes.append(f"no CE-to-ranking map for {data}: {count} point(s) with ranking metrics, {MIN_POINTS} "
                         f"needed (train with eval.ranking_every_eval=true for a point per checkpoint)")
    return maps


def _matching(sweep: SweepFits, point: dict[str, float]):
    fits = [f for f in sweep.fits if set(f.result.law.inputs) == set(point)]
    if not fits:
        inputs = sorted({", ".join(f.result.law.inputs) for f in sweep.fits})
        raise ScalingInputError(f"--predict {','.join(point)}: no fitted law takes exactly these inputs (the fitted "
                                f"laws take: {'; '.join(inputs)}); give N=...,D=... for a joint law")
    return fits


def analyse(records: list[RunRecord], sweep: SweepFits | None, cost: CostModel, budgets, preset=None,
            points=(), flop_budgets=None, n_boot: int = 0, seed: int = 0) -> Analysis:
    """Derive everything the report shows from the fitted ``sweep`` (None: a preset only)."""
    analysis = Analysis()
    analysis.maps = metric_maps(records, n_boot, seed, analysis.notes) if records else {}
    sources = [] if preset is None else [(f"preset {preset.name}", preset.law, (), None)]
    predictions = []
    if sweep is not None:
        analysis.comparisons = compare_forms(sweep.fits)
        for fit in sweep.fits:
            predictions.append((fit.key.get("data"), floor_prediction(fit.label, fit.result.law, fit.result.samples)))
        for point in points:
            for fit in _matching(sweep, point):
                predictions.append((fit.key.get("data"),
                                    predict_point(fit.label, fit.result.law, fit.result.samples, point)))
        for fit in sweep.of_kind("joint", form=None):
            law, samples, data = fit.result.law, fit.result.samples, fit.key.get("data")
            analysis.exponent_ratios[fit.label] = exponent_ratio(law, samples)
            sources.append((f"joint fit {fit.label}", law, samples, data))
            try:
                protocol = TrainingProtocol.of_runs(fit.records)
            except ScalingInputError as exc:
                analysis.notes.append(f"no compute frontier for {fit.label}: {exc}")
                continue
            analysis.protocols[fit.label] = protocol
            flops = flop_budgets or default_flop_budgets(fit.records)
            analysis.frontiers[fit.label] = [compute_optimum(law, protocol, c) for c in flops]
            predictions += [(data, p) for p in frontier_predictions(fit.label, law, samples, protocol, flops)]
    for source, law, samples, data in sources:
        analysis.budget_laws[source] = law
        analysis.allocations[source] = [optimal_allocation(law, cost, b, inference)
                                        for inference in (False, True) for b in budgets]
        for inference in (False, True):
            predictions += [(data, p) for p in budget_predictions(source, law, samples, cost, budgets, inference)]
    analysis.predictions = [with_metrics(p, analysis.maps.get(str(data))) for data, p in predictions]
    return analysis
