"""On-disk token cache: texts tokenized once into a flat numpy memmap plus offsets.

A cache entry is keyed by the tokenizer's fingerprint, the maximum length and the texts'
fingerprint, so every run of a sweep reuses it and any change of data or tokenizer misses.
An entry's ids are written to disk chunk by chunk as they are encoded.
Entries are built in a temporary folder and renamed into place: a reader never sees half of one.
An entry is built under a file lock (``<entry>.lock``), so when several runs of a sweep or ranks of
a data-parallel run start together one builds it and the others wait and read it.
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from itertools import chain
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
    """Tokenize ``texts`` chunk by chunk, each chunk's ids appended to ``ids.npy`` as it is encoded, so
    building an entry holds one chunk of ids in memory, not the whole corpus's (twice, to concatenate)."""
    with atomic_directory(entry, shared=True) as tmp:  # another run of the sweep may build the same entry first
        lengths = []
        progress = tqdm(total=len(texts), desc=f"tokenizing {label}", unit="text", disable=len(texts) < ENCODE_CHUNK)
        with open(tmp / "ids.npy", "wb") as ids_file:
            ids_file.write(_npy_header(0))
            for start in range(0, len(texts), ENCODE_CHUNK):
                batch = list(texts[start : start + ENCODE_CHUNK])
                encoded = tokenizer(batch, truncation=True, max_length=max_length, return_attention_mask=False,
                                    return_token_type_ids=False)["input_ids"]
                chunk_lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
                np.fromiter(chain.from_iterable(encoded), dtype=np.int32, count=int(chunk_lengths.sum())).tofile(ids_file)
                lengths.append(chunk_lengths)
                progress.update(len(batch))
            offsets = np.concatenate([np.zeros(1, np.int64), *lengths]).cumsum()
            ids_file.seek(0)
            ids_file.write(_npy_header(int(offsets[-1])))  # as long as the first: numpy leaves room to grow
        progress.close()
        np.save(tmp / "offsets.npy", offsets)
        meta = {"pad_id": tokenizer.pad_token_id, "max_length": max_length, "count": len(offsets) - 1}
        (tmp / "meta.json").write_text(json.dumps(meta))


def _npy_header(count: int) -> bytes:
    """The ``.npy`` header of ``count`` int32 ids; numpy pads it so its length does not depend on ``count``."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.int32)), "fortran_order": False, "shape": (count,)}
    )
    return header.getvalue()
