"""The LightningDataModule: read data, tokenize once into the cache, stream training batches."""
from __future__ import annotations

from functools import cached_property
from typing import Callable

import lightning as L
from torch.utils.data import DataLoader

from dense_scaling.data.batches import ContrastiveBatches
from dense_scaling.data.pairs import PairSplit, positives_by_query, relevant_pairs, split_pairs
from dense_scaling.data.readers import RetrievalData
from dense_scaling.data.prepare import prepare_data
from dense_scaling.data.tokenizer import TokenizerRecipe


class RetrievalDataModule(L.LightningDataModule):
    """Training pairs and token caches for one data set.

    ``reader`` returns the :class:`RetrievalData` (a Hydra-instantiated reader call);
    ``tokenizer`` is a recipe of :mod:`dense_scaling.data.tokenizer` (e.g. ``TrainedWordPiece()``).
    ``num_train_pairs`` (D) takes a nested seeded subset; ``val_queries`` whole training
    queries are carved out for model selection. Call :meth:`prepare` before building the model
    (it decides the vocabulary size).
    """

    def __init__(
        self,
        reader: Callable[[], RetrievalData] | RetrievalData,
        tokenizer: TokenizerRecipe,
        cache_dir: str,
        name: str = "data",
        annotation: str = "human",
        train_split: str = "train",
        test_split: str = "test",
        num_train_pairs: int | None = None,
        val_queries: int = 0,
        subset_seed: int = 0,
        max_query_length: int = 32,
        max_passage_length: int = 180,
        batch_size: int = 32,
        num_negatives: int = 256,
        num_workers: int = 1,
        seed: int = 0,
    ):
        super().__init__()
        self.reader, self.tokenizer_recipe, self.cache_dir = reader, tokenizer, str(cache_dir)
        self.name, self.annotation = name, annotation
        self.train_split, self.test_split = train_split, test_split
        self.num_train_pairs, self.val_queries, self.subset_seed = num_train_pairs, val_queries, subset_seed
        self.max_query_length, self.max_passage_length = max_query_length, max_passage_length
        self.batch_size, self.num_negatives = batch_size, num_negatives
        self.num_workers, self.seed = num_workers, seed
        self.data: RetrievalData | None = None

    def prepare(self) -> None:
        """Load the data, the tokenizer and the token caches (:func:`dense_scaling.data.prepare.prepare_data`:
        by one of several runs starting together; texts released afterwards)."""
        if self.data is not None:
            return
        prepared = prepare_data(self.reader, self.tokenizer_recipe, self.max_query_length, self.max_passage_length,
                                self.cache_dir)
        self.data, self.tokenizer, self.tokens = prepared.data, prepared.tokenizer, prepared.tokens

    @cached_property
    def pairs(self) -> PairSplit:
        """The training pairs (the nested subset of size D) and the validation pairs."""
        self.prepare()
        return split_pairs(
            relevant_pairs(self.data, self.train_split), self.num_train_pairs, self.subset_seed, self.val_queries
        )

    def setup(self, stage: str | None = None) -> None:
        self.prepare()

    def train_dataloader(self) -> DataLoader:
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        done = self.trainer.global_step if self.trainer else 0  # batches consumed before a resume
        positives = positives_by_query(self.data, list(self.data.qrels))
        batches = ContrastiveBatches(
            self.pairs.train, self.tokens.queries, self.tokens.corpus, positives,
            self.batch_size, self.num_negatives, self.seed, rank, world, start_batch=done,
        )
        return DataLoader(
            batches, batch_size=None, num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0, prefetch_factor=4 if self.num_workers > 0 else None,
        )
