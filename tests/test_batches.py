import numpy as np

from dense_scaling.data.batches import ContrastiveBatches, positive_mask
from dense_scaling.data.token_cache import TokenizedTexts


def _texts(n):
    lengths = np.arange(n) % 3 + 2
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return TokenizedTexts(np.arange(offsets[-1], dtype=np.int32) + 5, offsets, pad_id=0)


def test_positive_mask_marks_every_labelled_positive():
    mask = positive_mask(np.array([0, 1]), np.array([10, 11, 12, 10]), {0: {10, 12}, 1: {11}})
    assert mask.tolist() == [[True, False, True, True], [False, True, False, False]]


def _stream(rank=0, world=1, pairs=None, start=0):
    pairs = pairs if pairs is not None else np.array([(q, q + 1) for q in range(12)])
    positives = {int(q): {int(p)} for q, p in pairs}
    return ContrastiveBatches(pairs, _texts(12), _texts(20), positives, batch_size=4, num_negatives=3,
                              seed=7, rank=rank, world_size=world, start_batch=start)


def test_batch_layout_and_masks():
    batch = next(iter(_stream()))
    assert batch["query_ids"].shape[0] == 4 and batch["passage_ids"].shape[0] == 7
    assert batch["positive_mask"].shape == (4, 7)
    assert batch["positive_mask"][range(4), range(4)].all()  # each query's own positive
    assert (batch["passage_mask"].sum(1) >= 2).all()


def test_ranks_split_one_stream_without_overlap():
    def first(stream, n):
        it = iter(stream)
        return [next(it)["query_ids"] for _ in range(n)]

    single = first(_stream(), 6)
    rank0, rank1 = first(_stream(0, 2), 3), first(_stream(1, 2), 3)
    interleaved = [b for pair in zip(rank0, rank1) for b in pair]
    assert all((a.shape == b.shape) and (a == b).all() for a, b in zip(single, interleaved))


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
