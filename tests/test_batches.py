from itertools import islice

import numpy as np
import pytest
import torch

from dense_scaling.data.batches import ContrastiveBatches, positive_mask
from dense_scaling.data.token_cache import TokenizedTexts


def _texts(n):
    lengths = np.arange(n) % 3 + 2
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return TokenizedTexts(np.arange(offsets[-1], dtype=np.int32) + 5, offsets, pad_id=0)


def test_positive_mask_marks_every_labelled_positive():
    mask = positive_mask(np.array([0, 1]), np.array([10, 11, 12, 10]), {0: {10, 12}, 1: {11}})
    assert mask.tolist() == [[True, False, True, True], [False, True, False, False]]


def _stream(rank=0, world=1, pairs=None, start=0, num_negatives=3):
    pairs = pairs if pairs is not None else np.array([(q, q + 1) for q in range(12)])
    positives = {int(q): {int(p), int(p) + 1} for q, p in pairs}
    return ContrastiveBatches(pairs, _texts(12), _texts(20), positives, batch_size=4, num_negatives=num_negatives,
                              seed=7, rank=rank, world_size=world, start_batch=start)


def _unpad(ids, mask):
    """Padding-free rows (each rank pads its share to its own longest text): row sums and lengths."""
    return torch.stack([(ids * mask).sum(1), mask.sum(1)], dim=1)


def test_batch_layout_and_masks():
    batch = next(iter(_stream()))
    assert batch["query_ids"].shape[0] == 4 and batch["passage_ids"].shape[0] == 7
    assert batch["positive_mask"].shape == (4, 7)
    assert batch["positive_mask"][range(4), range(4)].all()  # each query's own positive
    assert (batch["passage_mask"].sum(1) >= 2).all()


def test_ranks_share_every_batch_of_one_stream():
    stream = _stream(num_negatives=4)
    ranks = [iter(_stream(rank, 2, num_negatives=4)) for rank in range(2)]
    for batch in islice(iter(stream), 3):
        shares = [next(it) for it in ranks]
        queries = torch.cat([_unpad(s["query_ids"], s["query_mask"]) for s in shares])
        assert queries.tolist() == _unpad(batch["query_ids"], batch["query_mask"]).tolist()
        passages = [_unpad(s["passage_ids"], s["passage_mask"]) for s in shares]
        positives = torch.cat([p[:2] for p in passages])
        negatives = torch.cat([p[2:] for p in passages])
        whole = _unpad(batch["passage_ids"], batch["passage_mask"])
        assert torch.cat([positives, negatives]).tolist() == whole.tolist()
        mask = torch.cat([s["positive_mask"] for s in shares])  # over the whole batch's candidates
        assert mask.tolist() == batch["positive_mask"].tolist()


def test_a_batch_that_cannot_be_shared_equally_is_refused():
    with pytest.raises(ValueError, match="divisible by the 2 data-parallel devices"):
        _stream(0, 2, num_negatives=3)


def test_epochs_cover_every_pair():
    it = iter(_stream())
    seen = [tuple(next(it)["query_ids"][:, 0].tolist()) for _ in range(3)]
    firsts = sorted(x for batch in seen for x in batch)
    assert firsts == sorted(int(_texts(12).offsets[q]) + 5 for q in range(12))


def test_a_resumed_stream_goes_on_where_it_stopped():
    it, resumed = iter(_stream()), iter(_stream(start=5))
    expected = [next(it)["query_ids"] for _ in range(8)][5:]
    got = [next(resumed)["query_ids"] for _ in range(3)]
    assert all(a.shape == b.shape and (a == b).all() for a, b in zip(expected, got))
