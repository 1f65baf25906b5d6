import importlib
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dense_scaling.metrics import (
    ContrastiveEntropy,
    bootstrap_ci,
    contrastive_entropy,
    per_pair_contrastive_entropy,
    sample_negatives,
)

N, D, P, R, K = 23, 12, 150, 3, 16


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    q, p, pool = (torch.randn(n, D, generator=g) for n in (N, N, P))
    return q, p, pool, sample_negatives(P, N, K, R, seed=7)


def reference(q, p, pool, idx, temperature):
    """DRScale's computation: one cross_entropy call per pair and repeat."""
    out = []
    for i in range(len(q)):
        losses = []
        for r in range(idx.shape[1]):
            logits = torch.cat([(q[i] @ p[i])[None], pool[idx[i, r]] @ q[i]]) / temperature
            losses.append(F.cross_entropy(logits[None], torch.tensor([0])).item())
        out.append(sum(losses) / len(losses))
    return np.array(out)


@pytest.mark.parametrize("method", ["matmul", "gather", "auto"])
@pytest.mark.parametrize("chunk_size", [None, 5])
def test_equals_per_pair_cross_entropy_loop(data, method, chunk_size):
    q, p, pool, idx = data
    res = contrastive_entropy(q, p, pool, idx, temperature=0.5, chunk_size=chunk_size, method=method)
    ref = reference(q, p, pool, idx, 0.5)
    np.testing.assert_allclose(res.per_pair, ref, rtol=1e-5)
    assert res.mean == pytest.approx(ref.mean(), rel=1e-6)
    assert res.ci95[0] < res.mean < res.ci95[1]


@pytest.mark.parametrize("block_rows", [5, 48, 100])  # a part of a pair's R*K=48 draws, one pair, two pairs
def test_gathering_in_cache_sized_blocks_gives_the_loops_values(data, monkeypatch, block_rows):
    module = importlib.import_module("dense_scaling.metrics.contrastive_entropy")
    monkeypatch.setitem(module._GATHER_BLOCK_ELEMENTS, "cpu", block_rows * D)
    q, p, pool, idx = data
    values = per_pair_contrastive_entropy(q, p, pool, idx, temperature=0.5, method="gather")
    np.testing.assert_allclose(values.numpy(), reference(q, p, pool, idx, 0.5), rtol=1e-5)


def test_accepts_numpy_and_a_single_draw(data):
    q, p, pool, idx = data
    one = per_pair_contrastive_entropy(q.numpy(), p.numpy(), pool.numpy(), idx[:, 0].numpy())
    np.testing.assert_allclose(one.numpy(), reference(q, p, pool, idx[:, :1], 1.0), rtol=1e-5)


def test_perfect_encoder_tends_to_zero():
    g = torch.Generator().manual_seed(1)
    pool = torch.randn(P, D, generator=g)
    pool[:, 0] = 0  # negatives orthogonal to the direction that queries and positives share
    idx = sample_negatives(P, N, K, R, seed=0)
    ces = []
    for scale in (1.0, 3.0, 10.0):
        q = torch.zeros(N, D)
        q[:, 0] = scale
        ces.append(contrastive_entropy(q, q.clone(), pool, idx).mean)
    assert ces[0] > ces[1] > ces[2] and ces[2] < 1e-30


def test_constant_encoder_gives_log_k_plus_one():
    v = torch.randn(D, generator=torch.Generator().manual_seed(2))
    q, pool = v.expand(N, D), v.expand(P, D)
    res = contrastive_entropy(q, q, pool, sample_negatives(P, N, K, R, seed=0))
    assert np.abs(res.per_pair - math.log(K + 1)).max() < 1e-5


def test_temperature_divides_every_score(data):
    q, p, pool, idx = data
    a = contrastive_entropy(q, p, pool, idx, temperature=0.05).per_pair
    b = contrastive_entropy(q / 0.05, p, pool, idx).per_pair
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_bad_inputs_raise_clear_errors(data):
    q, p, pool, idx = data
    with pytest.raises(ValueError, match="pool rows"):
        contrastive_entropy(q, p, pool[:10], idx)
    with pytest.raises(ValueError, match="num_pairs"):
        contrastive_entropy(q, p, pool, idx[:-1])
    with pytest.raises(ValueError, match="same shape"):
        contrastive_entropy(q, p[:-1], pool, idx)
    with pytest.raises(ValueError, match="temperature"):
        contrastive_entropy(q, p, pool, idx, temperature=0.0)


def test_metric_equals_function_for_every_update_form(data):
    q, p, pool, idx = data
    expected = contrastive_entropy(q, p, pool, idx, temperature=0.5)
    metric = ContrastiveEntropy(temperature=0.5)
    metric.update(q[:7], p[:7], pool[idx[:7]])  # gathered [b, R, K, d]
    metric.update(q[7:15], p[7:15], pool, idx[7:15])  # pool + indices
    metric.update(q[15:], p[15:], pool[idx[15:]])
    assert metric.compute().item() == pytest.approx(expected.mean, rel=1e-6)
    got = metric.result()
    np.testing.assert_allclose(got.per_pair, expected.per_pair, rtol=1e-6)
    assert got.ci95 == pytest.approx(expected.ci95, rel=1e-6)


def test_metric_single_draw_form(data):
    q, p, pool, idx = data
    metric = ContrastiveEntropy()
    metric.update(q, p, pool[idx[:, 0]])  # [b, K, d]
    expected = contrastive_entropy(q, p, pool, idx[:, :1])
    assert metric.compute().item() == pytest.approx(expected.mean, rel=1e-6)


def test_bootstrap_ci_is_seeded_and_degenerate_for_constants():
    x = np.random.default_rng(0).normal(size=500)
    assert bootstrap_ci(x, seed=3) == bootstrap_ci(x, seed=3) != bootstrap_ci(x, seed=4)
    low, high = bootstrap_ci(x)
    assert low < x.mean() < high and high - low == pytest.approx(2 * 1.96 / math.sqrt(500), rel=0.2)
    assert bootstrap_ci(np.full(10, 2.5)) == (2.5, 2.5)
