"""Training batches: B (query, positive) pairs plus K random corpus passages shared by the batch."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from dense_scaling.data.token_cache import TokenizedTexts


def positive_mask(query_rows: np.ndarray, candidates: np.ndarray, positives: dict[int, set[int]]) -> torch.Tensor:
    """``mask[i, j]`` is True when candidate passage j is a labelled positive of query i."""
    mask = np.zeros((len(query_rows), len(candidates)), dtype=bool)
    for i, query in enumerate(query_rows):
        labelled = positives.get(int(query))
        if labelled:
            mask[i] = np.isin(candidates, list(labelled))
    return torch.from_numpy(mask)


class ContrastiveBatches(IterableDataset):
    """An endless, seeded stream of training batches (epochs of shuffled pairs).

    Batch ``t`` holds pairs ``t*B .. t*B+B-1`` of the current epoch's order and ``num_negatives``
    passages drawn uniformly from the corpus. Each batch is a dict of padded token tensors
    (``query_ids``, ``query_mask``, ``passage_ids``, ``passage_mask``: the B positives then the K
    negatives), ``positive_mask`` [B, B+K] and ``num_tokens``, the whole batch's non-padding
    tokens. The stream is the same whatever the number of DataLoader workers (they split it by
    batch index) or data-parallel ranks: ``B`` and ``K`` are
    global, each of ``world_size`` ranks takes the contiguous ``rank``-th share of every batch's
    queries, positives and negatives, and its ``positive_mask`` [B/world, B+K] is over the whole
    batch's candidates (gathered across ranks by the model, see ``model/distributed.py``).
    ``start_batch`` skips the stream's first batches (a resumed run goes on where it stopped).
    """

    def __init__(
        self,
        pairs: np.ndarray,
        queries: TokenizedTexts,
        corpus: TokenizedTexts,
        positives: dict[int, set[int]],
        batch_size: int,
        num_negatives: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        start_batch: int = 0,
    ):
        if len(pairs) < batch_size:
            raise ValueError(
                f"{len(pairs)} training pairs cannot fill one batch of {batch_size}; "
                f"lower training.batch_size or raise data.num_train_pairs"
            )
        if num_negatives > len(corpus):
            raise ValueError(
                f"training.num_negatives={num_negatives} is more than the corpus's {len(corpus)} passages; "
                f"lower it to at most {len(corpus)}"
            )
        if batch_size % world_size or num_negatives % world_size:
            raise ValueError(
                f"training.batch_size={batch_size} and training.num_negatives={num_negatives} must both be "
                f"divisible by the {world_size} data-parallel devices (each takes an equal share of the batch)"
            )
        self.pairs, self.queries, self.corpus, self.positives = pairs, queries, corpus, positives
        self.batch_size, self.num_negatives, self.seed = batch_size, num_negatives, seed
        self.rank, self.world_size, self.start_batch = rank, world_size, start_batch

    def batch_indices(self):
        """(pair rows, negative passages) of every batch, in stream order, for every consumer."""
        rng = np.random.default_rng(self.seed)
        per_epoch = len(self.pairs) // self.batch_size
        while True:
            order = rng.permutation(len(self.pairs))
            for t in range(per_epoch):
                negatives = rng.integers(len(self.corpus), size=self.num_negatives)
                yield order[t * self.batch_size : (t + 1) * self.batch_size], negatives

    def _share(self, items: np.ndarray) -> np.ndarray:
        """This rank's contiguous share of a batch's items."""
        size = len(items) // self.world_size
        return items[self.rank * size : (self.rank + 1) * size]

    def collate(self, rows: np.ndarray, negatives: np.ndarray) -> dict[str, torch.Tensor]:
        query_rows, positive_rows = self.pairs[rows, 0], self.pairs[rows, 1]
        candidates = np.concatenate([positive_rows, negatives])
        num_tokens = self.queries.num_tokens(query_rows) + self.corpus.num_tokens(candidates)
        query_rows = self._share(query_rows)
        query_ids, query_mask = self.queries.batch(query_rows)
        passage_ids, passage_mask = self.corpus.batch(
            np.concatenate([self._share(positive_rows), self._share(negatives)])
        )
        return {
            "query_ids": query_ids,
            "query_mask": query_mask,
            "passage_ids": passage_ids,
            "passage_mask": passage_mask,
            "positive_mask": positive_mask(query_rows, candidates, self.positives),
            "num_tokens": num_tokens,
        }

    def __iter__(self):
        worker = get_worker_info()
        workers, worker_id = (worker.num_workers, worker.id) if worker else (1, 0)
        for t, (rows, negatives) in enumerate(self.batch_indices()):
            if t >= self.start_batch and t % workers == worker_id:
                yield self.collate(rows, negatives)
