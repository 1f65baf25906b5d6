import numpy as np
import pytest
import torch

from dense_scaling.metrics import build_negative_pool, build_subcorpus, sample_negatives

CORPUS = 5_000
POSITIVES = np.random.default_rng(0).choice(CORPUS, size=300, replace=False)


def test_pool_excludes_every_test_positive_and_is_seeded():
    pool = build_negative_pool(CORPUS, POSITIVES, pool_size=2_000, seed=1)
    assert len(pool) == 2_000 and len(np.unique(pool)) == 2_000
    assert np.all(np.diff(pool) > 0)
    assert not np.isin(POSITIVES, pool).any()
    np.testing.assert_array_equal(pool, build_negative_pool(CORPUS, POSITIVES, pool_size=2_000, seed=1))
    assert not np.array_equal(pool, build_negative_pool(CORPUS, POSITIVES, pool_size=2_000, seed=2))


def test_pool_keeps_every_other_passage_when_the_corpus_is_small():
    pool = build_negative_pool(CORPUS, POSITIVES)  # default 1M > corpus
    np.testing.assert_array_equal(pool, np.setdiff1d(np.arange(CORPUS), POSITIVES))


def test_positive_out_of_corpus_raises():
    with pytest.raises(ValueError, match="corpus row indices"):
        build_negative_pool(100, [5, 100])


def test_negatives_depend_on_the_seed_only():
    """Common random numbers: each evaluation of each model of a sweep rebuilds the same draws."""
    drawn = [
        build_negative_pool(CORPUS, POSITIVES, pool_size=1_000, seed=3)[
            sample_negatives(1_000, 50, num_negatives=32, repeats=2, seed=3).numpy()
        ]
        for _model in range(2)
    ]
    np.testing.assert_array_equal(drawn[0], drawn[1])  # corpus indices of the negatives
    other = sample_negatives(1_000, 50, num_negatives=32, repeats=2, seed=4)
    assert not torch.equal(other, sample_negatives(1_000, 50, num_negatives=32, repeats=2, seed=3))


@pytest.mark.parametrize("pool_size", [60, 1_000])  # permutation and rejection samplers
def test_negatives_are_distinct_within_a_draw_and_uniform(pool_size):
    k = 20
    idx = sample_negatives(pool_size, 300, num_negatives=k, repeats=4, seed=0).numpy()
    assert idx.shape == (300, 4, k) and idx.dtype == np.int64
    assert idx.min() >= 0 and idx.max() < pool_size
    rows = np.sort(idx.reshape(-1, k), axis=1)
    assert (np.diff(rows, axis=1) > 0).all()
    counts = np.bincount(idx.ravel(), minlength=pool_size)
    expected = idx.size / pool_size
    assert np.abs(counts - expected).max() < 5 * np.sqrt(expected)


def test_too_many_negatives_for_the_pool_raises():
    with pytest.raises(ValueError, match="enlarge the pool"):
        sample_negatives(10, 5, num_negatives=11)


def test_subcorpus_holds_every_positive_and_is_seeded():
    sub = build_subcorpus(CORPUS, POSITIVES, subcorpus_size=1_000, seed=5)
    assert len(sub) == 1_000 and np.all(np.diff(sub) > 0)
    assert np.isin(POSITIVES, sub).all()
    np.testing.assert_array_equal(sub, build_subcorpus(CORPUS, POSITIVES, subcorpus_size=1_000, seed=5))
    assert not np.array_equal(sub, build_subcorpus(CORPUS, POSITIVES, subcorpus_size=1_000, seed=6))


def test_subcorpus_is_the_whole_corpus_when_smaller():
    np.testing.assert_array_equal(build_subcorpus(CORPUS, POSITIVES), np.arange(CORPUS))


def test_subcorpus_smaller_than_the_positives_raises():
    with pytest.raises(ValueError, match="raise subcorpus_size"):
        build_subcorpus(CORPUS, POSITIVES, subcorpus_size=100)
