"""A data set made ready to train or evaluate on: read (from its source index when the files are
unchanged), its tokenizer built and its token caches, then its texts released, so a process holds
ids and the memmapped tokens, not the corpus.

All of it runs under the data set's lock (:func:`dense_scaling.data.source_index.data_set_lock`):
of several runs or data-parallel ranks starting together on a cold cache, one reads the texts,
trains the tokenizer and tokenizes; the others wait, then start from the index and the caches it
left, without reading a text.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from transformers import PreTrainedTokenizerFast

from dense_scaling.data.readers import RetrievalData
from dense_scaling.data.source_index import data_set_lock, read_indexed
from dense_scaling.data.token_cache import Tokens, tokenize_data
from dense_scaling.data.tokenizer import TokenizerRecipe


@dataclass(frozen=True)
class Prepared:
    data: RetrievalData
    tokenizer: PreTrainedTokenizerFast
    tokens: Tokens


def prepare_data(reader: Callable[[], RetrievalData] | RetrievalData, tokenizer: TokenizerRecipe,
                 max_query_length: int, max_passage_length: int, cache_dir: str | Path) -> Prepared:
    """``reader``'s data set (or a :class:`RetrievalData` in memory, kept as it is), the tokenizer
    ``tokenizer`` builds for it and its token caches under ``cache_dir``."""
    if not callable(reader):
        built = tokenizer.build(reader, cache_dir)
        return Prepared(reader, built, tokenize_data(reader, built, max_query_length, max_passage_length, cache_dir))
    with data_set_lock(reader, cache_dir):
        data = read_indexed(reader, cache_dir)
        built = tokenizer.build(data, cache_dir)
        tokens = tokenize_data(data, built, max_query_length, max_passage_length, cache_dir)
    return Prepared(data.with_lazy_texts(reader), built, tokens)  # the token caches hold the texts: keep ids
