"""The cost model reproduces the paper's prices; the optimum moves the right way."""

import dataclasses

import numpy as np
import pytest

from dense_scaling.scaling.budget import CostModel, budget_line, optimal_allocation
from dense_scaling.scaling.errors import ScalingInputError
from dense_scaling.scaling.laws import DataSizeLaw, JointLaw, ModelSizeLaw
from dense_scaling.scaling.presets import PRESETS, get_preset

PAPER = CostModel()
LAW = get_preset("msmarco_joint").law
BUDGETS = (5_000, 20_000, 150_000, 1_000_000)


def test_paper_inputs_give_the_papers_prices():
    assert PAPER.dollars_per_flop == pytest.approx(3.93 / 3600 / (312e12 * 0.25))
    assert round(PAPER.z_infer, 2) == 0.43  # Eq. 14: 2 FLOPs x 30e12 pages x 512 tokens x $/FLOP
    assert PAPER.tokens_per_step == 256 * (30 + 2 * 60)  # Section 5: a query, a positive and a negative per pair
    assert float(f"{PAPER.z_train:.3g}") == 3.22e-8  # Eq. 13: 6 FLOPs x 10,000 steps x 38,400 tokens x $/FLOP
    assert PAPER.z_data == 0.6


def test_prices_follow_their_inputs():
    assert dataclasses.replace(PAPER, utilization=0.5).z_infer == pytest.approx(PAPER.z_infer / 2)
    assert dataclasses.replace(PAPER, train_steps=20_000).z_train == pytest.approx(2 * PAPER.z_train)
    from_batch = dataclasses.replace(PAPER, batch_size=2, query_tokens=3, passage_tokens=5, negatives=7)
    assert from_batch.tokens_per_step == 2 * (3 + 5) + 7 * 5
    assert dataclasses.replace(from_batch, train_tokens_per_step=1000).tokens_per_step == 1000
    assert PAPER.cost(1e6, 1e3, include_inference=False) == pytest.approx(0.6e3 + PAPER.z_train * 1e6)


@pytest.mark.parametrize("inference", [False, True])
def test_bigger_budget_buys_bigger_model_and_more_data(inference):
    optima = [optimal_allocation(LAW, PAPER, b, inference) for b in BUDGETS]
    assert all(a.N < b.N and a.D < b.D and a.loss > b.loss for a, b in zip(optima, optima[1:]))
    for budget, best in zip(BUDGETS, optima):
        assert float(PAPER.cost(best.N, best.D, inference)) == pytest.approx(budget)


@pytest.mark.parametrize("budget", BUDGETS)
def test_inference_cost_buys_a_smaller_model_trained_on_more_data_per_parameter(budget):
    free, paid = (optimal_allocation(LAW, PAPER, budget, inference) for inference in (False, True))
    assert paid.N < free.N
    assert paid.D / paid.N > 100 * free.D / free.N
    # Encoding 30T pages costs 0.43 $/param: it takes most of the budget, so D itself shrinks too.
    assert paid.cost_infer > 0 == free.cost_infer and paid.D < free.D


def test_optimum_is_the_minimum_of_the_budget_line_and_the_band_is_where_loss_is_within_one_percent():
    best = optimal_allocation(LAW, PAPER, 20_000, include_inference=False)
    N, D, loss = budget_line(LAW, PAPER, 20_000, include_inference=False, n_points=20_000)
    assert best.loss <= loss.min() * (1 + 1e-9)
    assert np.log(best.N) == pytest.approx(np.log(N[np.argmin(loss)]), abs=0.01)
    low, high = best.N_band
    assert low < best.N < high
    for edge in best.N_band:
        D_edge = (20_000 - PAPER.z_train * edge) / PAPER.z_data
        assert float(LAW.predict(edge, D_edge)) == pytest.approx(1.01 * best.loss, rel=1e-6)
    inside = (N > low) & (N < high)
    assert (loss[inside] <= 1.01 * best.loss).all() and (loss[~inside] >= 1.01 * best.loss * (1 - 1e-9)).all()


def test_non_positive_budget_is_refused():
    with pytest.raises(ScalingInputError, match="budget must be positive"):
        optimal_allocation(LAW, PAPER, 0)


def test_presets_are_the_papers_tables_and_equations_with_their_sources():
    model = get_preset("msmarco_model")
    assert isinstance(model.law, ModelSizeLaw) and model.n_unit == 1.0 and "DRScale" in model.n_counting
    expected = {  # read in the paper: Table 1, Table 2, Eqs. 9-10
        "msmarco_model": ({"A": 3.22e4, "alpha": 0.53, "d_N": 0.04}, 0.991, "Table 1"),
        "t2ranking_model": ({"A": 9.89e6, "alpha": 0.53, "d_N": 0.14}, 0.999, "Table 1"),
        "msmarco_data": ({"B": 3.49e3, "beta": 1.05, "d_D": 0.05}, 0.954, "Table 2"),
        "t2ranking_data": ({"B": 6.04e4, "beta": 0.50, "d_D": 0.15}, 0.991, "Table 2"),
        "msmarco_joint": ({"A": 3.6e4, "B": 7.1e3, "alpha": 0.56, "beta": 1.31, "d": 0.03}, None, "Eqs. 9-10"),
    }
    assert set(PRESETS) == set(expected)
    for name, (params, r2, where) in expected.items():
        preset = PRESETS[name]
        assert preset.law.params() == params and preset.r2 == r2, name
        assert "2403.18684" in preset.source and where in preset.source and "secondary" not in preset.source
    assert isinstance(PRESETS["msmarco_joint"].law, JointLaw) and isinstance(PRESETS["msmarco_data"].law, DataSizeLaw)
    with pytest.raises(ScalingInputError, match="available: msmarco_data, msmarco_joint, msmarco_model"):
        get_preset("t2ranking_joint")
