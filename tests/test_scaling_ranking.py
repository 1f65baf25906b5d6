"""CE -> ranking metric maps: each form recovered from data it generated, chosen by held-out
error, with prediction intervals that carry the CE's own uncertainty."""

import numpy as np
import pytest

from dense_scaling.scaling.ranking import FORMS, fit_metric_map, fit_metric_maps, translate

LOGISTIC = {"top": 0.8, "slope": 3.0, "mid": 1.5}
EXPONENTIAL = {"scale": 0.9, "slope": 0.6}


def _checkpoints(form, params, noise=0.01, seed=0):
    """Six runs of eight checkpoints each, CE falling from 4 to 0.5-1.5, metric = form(CE) + noise."""
    rng = np.random.default_rng(seed)
    ce = np.concatenate([np.linspace(4.0, 0.5 + 0.2 * r, 8) for r in range(6)])
    values = FORMS[form][0](ce, *params.values()) + rng.normal(0, noise, ce.size)
    runs = np.repeat([f"run{r}" for r in range(6)], 8)
    return ce, values, runs


def test_a_generated_logistic_is_recovered_and_chosen_by_held_out_error():
    ce, values, runs = _checkpoints("logistic", LOGISTIC)
    fitted = fit_metric_map("map@10", ce, values, runs, n_boot=40, seed=0)
    assert fitted.form == "logistic" and fitted.n_points == 48 and fitted.n_runs == 6
    assert min(fitted.held_out_errors, key=fitted.held_out_errors.get) == "logistic"
    samples = np.array(fitted.samples)
    for i, (name, value) in enumerate(LOGISTIC.items()):
        low, high = np.percentile(samples[:, i], [2.5, 97.5])
        assert low <= value <= high and fitted.params[i] == pytest.approx(value, rel=0.05), name
    truth = FORMS["logistic"][0](1.0, *LOGISTIC.values())
    low, high = fitted.interval(1.0)
    assert low < truth < high and high - low < 0.1  # a prediction interval: curve and a run's scatter (1%)


def test_exponential_data_choose_the_exponential_form():
    ce, values, runs = _checkpoints("exponential", EXPONENTIAL, noise=0.005, seed=1)
    fitted = fit_metric_map("ndcg@10", ce, values, runs, n_boot=10)
    assert fitted.form == "exponential"
    np.testing.assert_allclose(fitted.params, list(EXPONENTIAL.values()), rtol=0.05)


def test_uncertain_ce_widens_the_metric_interval_and_extrapolation_is_flagged():
    ce, values, runs = _checkpoints("logistic", LOGISTIC, seed=2)
    fitted = fit_metric_map("map@10", ce, values, runs, n_boot=40)
    narrow = np.subtract(*fitted.interval(1.5)[::-1])
    wide = np.subtract(*fitted.interval(1.5, ce_samples=np.linspace(1.2, 1.8, 40))[::-1])
    assert wide > 2 * narrow
    translated = translate({"map@10": fitted}, 0.2, ce_samples=[0.15, 0.25])
    assert translated["map@10"]["extrapolated"] and translated["map@10"]["value"] == pytest.approx(
        float(fitted.predict(0.2)))
    assert not translate({"map@10": fitted}, 2.0)["map@10"]["extrapolated"]


def test_maps_need_enough_points_and_cover_the_three_metrics():
    rows = [{"step": s, "ce": 4.0 - s / 100, "map@10": s / 1000, "ndcg@10": s / 900, "recall@1000": 0.5 + s / 1000,
             "mrr@10": s / 1000} for s in range(0, 400, 50)]
    assert fit_metric_maps({"one run": rows[:4]}) == {}
    maps = fit_metric_maps({"one run": rows}, n_boot=5)
    assert sorted(maps) == ["map@10", "ndcg@10", "recall@1000"] and maps["map@10"].n_runs == 1
    assert all(len(m.samples) == 5 for m in maps.values())
