import numpy as np
import pytest

from dense_scaling.data.pairs import split_pairs

PAIRS = np.array([(q, 100 + q) for q in range(50)] + [(q, 200 + q) for q in range(0, 50, 5)])


def _as_set(pairs):
    return {tuple(p) for p in pairs.tolist()}


def test_subsets_are_nested_across_d():
    subsets = [_as_set(split_pairs(PAIRS, d, seed=3).train) for d in (5, 20, 60)]
    assert [len(s) for s in subsets] == [5, 20, 60]
    assert subsets[0] < subsets[1] < subsets[2] == _as_set(PAIRS)


def test_seed_changes_the_subset_and_is_reproducible():
    assert _as_set(split_pairs(PAIRS, 10, seed=1).train) == _as_set(split_pairs(PAIRS, 10, seed=1).train)
    assert _as_set(split_pairs(PAIRS, 10, seed=1).train) != _as_set(split_pairs(PAIRS, 10, seed=2).train)


def test_validation_holds_whole_queries_disjoint_from_training_and_nested_training():
    small, large = split_pairs(PAIRS, 10, seed=0, val_queries=5), split_pairs(PAIRS, 40, seed=0, val_queries=5)
    assert len(np.unique(small.val[:, 0])) == 5
    assert not set(small.val[:, 0]) & set(large.train[:, 0])
    assert _as_set(small.val) == _as_set(large.val)
    assert _as_set(small.train) < _as_set(large.train)


def test_d_larger_than_available_is_a_clear_error():
    with pytest.raises(ValueError, match=r"num_train_pairs=61 but 60 training pairs are available"):
        split_pairs(PAIRS, 61, seed=0)
