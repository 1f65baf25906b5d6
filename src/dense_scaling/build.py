"""A training run's data and model from its composed config.

Each config group instantiates itself, the lightning-hydra-template way: ``conf/data/*.yaml``
names its DataModule, ``conf/tokenizer/*.yaml`` its tokenizer recipe and ``conf/model/*.yaml`` its
encoder builder with ``_target_``, and every field of the group file reaches that target as it is
(a new field needs no edit elsewhere). What
belongs to the run and not to a data set or an architecture is added here, in one place: the
tokenizer, the batch shape and the seed for the data; ``init``, the head (pooling, projection,
similarity, temperature), ``training.dropout`` and ``lora`` for the model.
"""
from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from dense_scaling.data.datamodule import RetrievalDataModule
from dense_scaling.model.biencoder import BiEncoder


def datamodule(cfg: DictConfig) -> RetrievalDataModule:
    """The DataModule ``cfg.data`` names, with the tokenizer ``cfg.tokenizer`` names, the run's token
    cache and its batches."""
    return instantiate(
        cfg.data,
        tokenizer=OmegaConf.to_container(cfg.tokenizer, resolve=True),
        cache_dir=cfg.cache_dir,
        batch_size=cfg.training.batch_size,
        num_negatives=cfg.training.num_negatives,
        num_workers=cfg.training.num_workers,
        seed=cfg.seed,
    )


def biencoder(cfg: DictConfig, vocab_size: int, special_tokens: dict[str, int] | None = None) -> BiEncoder:
    """The bi-encoder ``cfg.model`` names, with the run's start and head, for a tokenizer of
    ``vocab_size`` tokens (a from-scratch model also takes its ``special_tokens``' ids:
    :func:`dense_scaling.model.biencoder.special_token_ids`)."""
    return instantiate(
        cfg.model,
        init=cfg.init,
        dropout=cfg.training.dropout,
        proj_dim=cfg.proj_dim,
        pooling=cfg.pooling,
        similarity=cfg.similarity,
        temperature=cfg.temperature,
        lora_settings=OmegaConf.to_container(cfg.lora, resolve=True),
        vocab_size=vocab_size,
        special_tokens=special_tokens,
    )
