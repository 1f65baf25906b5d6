"""On-disk token cache: texts tokenized once into a flat numpy memmap plus offsets.

A cache entry is keyed by the tokenizer's fingerprint, the maximum length and the texts'
fingerprint, so every run of a sweep reuses it and any change of data or tokenizer misses.
Entries are built in a temporary folder and renamed into place: a reader never sees half of one.
An entry is built under a file lock (``<entry>.lock``), so when several runs of a sweep or ranks of
a data-parallel run start together one builds it and the others wait and read it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from dense_scaling.data import tokenizer as tokenizers
from dense_scaling.results import atomic_directory, locked
from tqdm.auto import tqdm

ENCODE_CHUNK = 8192


class TokenizedTexts:
    """Token ids of many texts: ``ids[offsets[i]:offsets[i+1]]`` are text i's tokens."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray, pad_id: int):
        self.ids, self.offsets, self.pad_id = ids, offsets, pad_id

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def num_tokens(self, indices: Sequence[int]) -> int:
        """The number of tokens of texts ``indices`` (padding excluded)."""
        indices = np.asarray(indices)
        return int((self.offsets[indices + 1] - self.offsets[indices]).sum())

    def batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input_ids, attention_mask)`` for ``indices``, padded to the longest of them."""
        indices = np.asarray(indices)
        starts, ends = self.offsets[indices], self.offsets[indices + 1]
        width = int((ends - starts).max())
        input_ids = np.full((len(indices), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(indices), width), dtype=np.int64)
        for row, (start, end) in enumerate(zip(starts, ends)):
            input_ids[row, : end - start] = self.ids[start:end]
            mask[row, : end - start] = 1
        return torch.from_numpy(input_ids), torch.from_numpy(mask)


def cache_key(tokenizer_fingerprint: str, max_length: int, texts_fingerprint: str) -> str:
    return hashlib.sha1(f"{tokenizer_fingerprint}|{max_length}|{texts_fingerprint}".encode()).hexdigest()[:24]


def tokenize_cached(
    texts: Sequence[str],
    texts_fingerprint: str,
    tokenizer,
    max_length: int,
    cache_dir: str | Path,
    label: str = "texts",
) -> TokenizedTexts:
    """Token ids of ``texts`` (truncated to ``max_length`` with special tokens), from the cache
    under ``cache_dir/tokens`` or built and stored there."""
    key = cache_key(tokenizers.fingerprint(tokenizer), max_length, texts_fingerprint)
    entry = Path(cache_dir) / "tokens" / key
    if not (entry / "meta.json").exists():
        with locked(entry.with_name(f"{entry.name}.lock")):
            if not (entry / "meta.json").exists():  # not built while this process waited for the lock
                _build(texts, tokenizer, max_length, entry, label)
    meta = json.loads((entry / "meta.json").read_text())
    return TokenizedTexts(
        np.load(entry / "ids.npy", mmap_mode="r"), np.load(entry / "offsets.npy"), meta["pad_id"]
    )


@dataclass(frozen=True)
class Tokens:
    """A data set's token caches: its corpus and its queries, by row."""

    corpus: TokenizedTexts
    queries: TokenizedTexts


def tokenize_data(data, tokenizer, max_query_length: int, max_passage_length: int, cache_dir: str | Path) -> Tokens:
    """The token caches of a :class:`~dense_scaling.data.readers.RetrievalData`'s corpus and queries."""
    return Tokens(
        tokenize_cached(data.corpus_texts, data.corpus_fingerprint, tokenizer, max_passage_length, cache_dir,
                        label="corpus"),
        tokenize_cached(data.query_texts, data.queries_fingerprint, tokenizer, max_query_length, cache_dir,
                        label="queries"),
    )


def _build(texts: Sequence[str], tokenizer, max_length: int, entry: Path, label: str) -> None:
    with atomic_directory(entry, shared=True) as tmp:  # another run of the sweep may build the same entry first
        chunks, lengths = [], []
        progress = tqdm(total=len(texts), desc=f"tokenizing {label}", unit="text", disable=len(texts) < ENCODE_CHUNK)
        for start in range(0, len(texts), ENCODE_CHUNK):
            batch = list(texts[start : start + ENCODE_CHUNK])
            encoded = tokenizer(batch, truncation=True, max_length=max_length, return_attention_mask=False,
                                return_token_type_ids=False)["input_ids"]
            lengths.extend(len(ids) for ids in encoded)
            chunks.append(np.fromiter((t for ids in encoded for t in ids), dtype=np.int32))
            progress.update(len(batch))
        progress.close()
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        np.save(tmp / "ids.npy", np.concatenate(chunks) if chunks else np.zeros(0, np.int32))
        np.save(tmp / "offsets.npy", offsets)
        meta = {"pad_id": tokenizer.pad_token_id, "max_length": max_length, "count": len(lengths)}
        (tmp / "meta.json").write_text(json.dumps(meta))
