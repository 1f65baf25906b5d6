"""Intervals on what users act on: predictions at given sizes, budget and compute optima, the
exponent ratio and the floor, each recomputed over the bootstrap laws."""

import numpy as np
import pytest

from dense_scaling.scaling.budget import CostModel, optimal_allocation
from dense_scaling.scaling.collect import RunRecord
from dense_scaling.scaling.compute import TrainingProtocol, compute_optimum
from dense_scaling.scaling.errors import ScalingInputError
from dense_scaling.scaling.fitting import bootstrap, fit_law
from dense_scaling.scaling.laws import JointLaw
from dense_scaling.scaling.predict import (budget_predictions, default_flop_budgets, exponent_ratio, floor_prediction,
                                           frontier_predictions, parse_point, predict_point, with_metrics)
from dense_scaling.scaling.ranking import fit_metric_map

TRUTH = JointLaw(A=3.6e4, B=7.1e3, alpha=0.56, beta=1.31, d=0.03)


@pytest.fixture(scope="module")
def fitted():
    N, D = (g.ravel() for g in np.meshgrid(np.geomspace(4e5, 9e7, 5), np.geomspace(1e3, 5e5, 4)))
    L = TRUTH.predict(N, D) * np.exp(np.random.default_rng(0).normal(0, 0.01, N.size))
    return bootstrap(fit_law(JointLaw, L, N=N, D=D), L, N=N, D=D, n_boot=30, seed=0)


def test_parse_point_reads_sizes_and_refuses_anything_else():
    assert parse_point("N=1e9,D=5e5") == {"N": 1e9, "D": 5e5}
    assert parse_point(" proj_dim = 256 ") == {"proj_dim": 256.0}
    for bad in ("N=abc", "N=-1", "1e9", "N=", ""):
        with pytest.raises(ScalingInputError, match="--predict"):
            parse_point(bad)


def test_a_prediction_at_given_sizes_covers_the_truth(fitted):
    prediction = predict_point("joint", fitted.law, fitted.samples, {"D": 5e5, "N": 1e8})
    assert prediction.what == "N=1e+08, D=500000" and prediction.kind == "point"
    low, high = prediction.ce.ci95
    assert low <= float(TRUTH.predict(1e8, 5e5)) <= high and low <= prediction.ce.value <= high
    assert len(prediction.ce_samples) == 30


def test_budget_and_compute_optima_carry_intervals_around_the_fitted_optimum(fitted):
    cost = CostModel()
    (budget,) = budget_predictions("joint", fitted.law, fitted.samples, cost, [20_000], include_inference=False)
    best = optimal_allocation(fitted.law, cost, 20_000, include_inference=False)
    assert (budget.quantities["N"].value, budget.quantities["D"].value, budget.ce.value) == (best.N, best.D, best.loss)
    for name in ("N", "D", "CE"):
        low, high = budget.quantities[name].ci95
        assert low <= budget.quantities[name].value <= high, name
    protocol = TrainingProtocol(steps=400, batch_size=32, tokens_per_pair=60.0)
    (frontier,) = frontier_predictions("joint", fitted.law, fitted.samples, protocol, [1e16])
    assert frontier.quantities["N"].value == compute_optimum(fitted.law, protocol, 1e16).N
    assert frontier.what == "C = 1e+16 FLOPs" and frontier.kind == "frontier"


def test_exponent_ratio_and_floor_are_derived_from_each_bootstrap_law(fitted):
    ratio = exponent_ratio(fitted.law, fitted.samples)
    assert ratio.value == fitted.law.alpha / fitted.law.beta
    assert ratio.ci95[0] <= TRUTH.alpha / TRUTH.beta <= ratio.ci95[1]
    floor = floor_prediction("joint", fitted.law, fitted.samples)
    assert floor.ce.value == fitted.law.d and floor.ce.ci95 == pytest.approx(fitted.ci95["d"])
    assert exponent_ratio(fitted.law, ()).ci95 is None  # without bootstrap: a point value only


def test_predictions_are_translated_into_ranking_metrics(fitted):
    ce = np.linspace(0.05, 2.0, 30)
    metric_map = fit_metric_map("map@10", ce, 0.9 / (1 + np.exp(3 * (ce - 1.0))), np.arange(30) // 5, n_boot=10)
    prediction = with_metrics(predict_point("joint", fitted.law, fitted.samples, {"N": 1e7, "D": 1e4}),
                              {"map@10": metric_map})
    value = prediction.metrics["map@10"]
    assert value["value"] == pytest.approx(float(metric_map.predict(prediction.ce.value)))
    assert value["ci95"][0] <= value["value"] <= value["ci95"][1]
    assert with_metrics(prediction, {}) is prediction


def test_default_flop_budgets_span_the_runs_and_three_decades_beyond():
    runs = [RunRecord(path=str(c), N=1.0, D=1.0, L=1.0, C=c) for c in (2.7e11, 3.9e12)]
    assert default_flop_budgets(runs) == [1e11, 1e12, 1e13, 1e14, 1e15, 1e16]
    assert default_flop_budgets([RunRecord(path="x", N=1.0, D=1.0, L=1.0)]) == []
