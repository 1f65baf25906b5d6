"""Tokenizers: a pretrained one (hub id or folder), a WordPiece vocab file, or one trained on a corpus.

The ``tokenizer`` config group names one of the three recipes below with ``_target_``; the
DataModule calls its ``build(data, cache_dir)`` once the data is read.

Transformers 5 trap: ``BertTokenizerFast(vocab_file=...)`` silently builds a 5-token vocabulary,
so a vocab file is loaded through ``tokenizers.BertWordPieceTokenizer`` instead.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence

from tokenizers import BertWordPieceTokenizer, Tokenizer
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from dense_scaling.results import write_text_atomic

if TYPE_CHECKING:
    from dense_scaling.data.readers import RetrievalData

TRAINER_VERSION = "fixed-alphabet-v1"  # part of a trained vocabulary's cache key: bump when training changes
ALPHABET_SIZE = 1000  # characters kept as tokens (the trainer's own default limit); rarer ones are [UNK]
SPECIAL_TOKENS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                  "mask_token": "[MASK]"}


def _wrap(wordpiece: BertWordPieceTokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(wordpiece.to_str()), **SPECIAL_TOKENS)


def from_vocab(vocab_path: str | Path, lowercase: bool = True) -> PreTrainedTokenizerFast:
    """A BERT WordPiece tokenizer from a ``vocab.txt`` file."""
    path = Path(vocab_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"vocab file {path} does not exist; pass the path of a WordPiece vocab.txt "
            f"(e.g. ../shared/data/vocab/bert-base-uncased/vocab.txt)"
        )
    return _wrap(BertWordPieceTokenizer(str(path), lowercase=lowercase))


def from_pretrained(name_or_path: str) -> PreTrainedTokenizerFast:
    """The tokenizer of a pretrained model: a local folder, or a hub id already in the local cache."""
    try:
        return AutoTokenizer.from_pretrained(name_or_path)
    except OSError as err:
        raise OSError(
            f"cannot load the tokenizer '{name_or_path}': it is neither a local folder nor in the "
            f"Hugging Face cache, and no network is available ({type(err).__name__}). Point "
            f"tokenizer.name_or_path at a folder saved with save_pretrained, or use tokenizer=vocab "
            f"or tokenizer=trained for a from-scratch model"
        ) from None


def train_wordpiece(
    texts: Sequence[str], texts_fingerprint: str, vocab_size: int, cache_dir: str | Path, lowercase: bool = True
) -> PreTrainedTokenizerFast:
    """A WordPiece tokenizer trained on ``texts``, cached on disk by their fingerprint and vocab size.

    Made deterministic: the trainer of ``tokenizers`` numbers the continuing-subword tokens
    (``##x``) in hash-map order, which changes from one process to the next, and breaks ties
    between equally frequent merges by those numbers, so the same texts gave other vocabularies
    (huggingface/tokenizers#1794). Here the alphabet (the ``ALPHABET_SIZE`` most frequent
    characters, ties by code point) and its ``##x`` tokens are given to the trainer up front,
    so every number, and every merge, is decided by the texts alone.
    """
    key = hashlib.sha1(f"{texts_fingerprint}|{vocab_size}|{lowercase}|{TRAINER_VERSION}".encode()).hexdigest()[:16]
    vocab_file = Path(cache_dir) / "tokenizers" / f"wordpiece-{key}" / "vocab.txt"
    if not vocab_file.exists():
        wordpiece = BertWordPieceTokenizer(lowercase=lowercase)
        alphabet = _alphabet(wordpiece, texts)
        wordpiece.train_from_iterator(
            texts, vocab_size=vocab_size, limit_alphabet=len(alphabet), initial_alphabet=alphabet,
            special_tokens=[*SPECIAL_TOKENS.values(), *(f"##{char}" for char in alphabet)], show_progress=False,
        )
        vocab = wordpiece.get_vocab()
        write_text_atomic(vocab_file, "".join(f"{token}\n" for token in sorted(vocab, key=vocab.get)))
    return from_vocab(vocab_file, lowercase=lowercase)


def _alphabet(wordpiece: BertWordPieceTokenizer, texts: Sequence[str]) -> list[str]:
    """The ``ALPHABET_SIZE`` most frequent characters of the normalised texts (ties by code point)."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(wordpiece.normalizer.normalize_str(text))
    ranked = sorted((char for char in counts if not char.isspace()), key=lambda char: (-counts[char], char))
    return sorted(ranked[:ALPHABET_SIZE])


class TokenizerRecipe(Protocol):
    """What a ``tokenizer`` config builds: a tokenizer for a data set, once it is read."""

    def build(self, data: "RetrievalData", cache_dir: str | Path) -> PreTrainedTokenizerFast: ...


@dataclass(frozen=True)
class Pretrained:
    """The pretrained model's own tokenizer (``tokenizer=pretrained``)."""

    name_or_path: str

    def build(self, data: "RetrievalData", cache_dir: str | Path) -> PreTrainedTokenizerFast:
        return from_pretrained(self.name_or_path)


@dataclass(frozen=True)
class Vocab:
    """A WordPiece vocab file (``tokenizer=vocab``)."""

    vocab_path: str
    lowercase: bool = True

    def build(self, data: "RetrievalData", cache_dir: str | Path) -> PreTrainedTokenizerFast:
        return from_vocab(self.vocab_path, lowercase=self.lowercase)


@dataclass(frozen=True)
class TrainedWordPiece:
    """WordPiece trained on the data set's evaluation corpus, so training-only passages such as
    ICT's do not change the vocabulary; cached (``tokenizer=trained``)."""

    vocab_size: int = 8000
    lowercase: bool = True

    def build(self, data: "RetrievalData", cache_dir: str | Path) -> PreTrainedTokenizerFast:
        return train_wordpiece(data.corpus_texts[: data.num_eval_passages], data.eval_corpus_fingerprint,
                               self.vocab_size, cache_dir, lowercase=self.lowercase)


def fingerprint(tokenizer: PreTrainedTokenizerFast) -> str:
    """A hash of everything that decides the token ids: the serialised fast tokenizer, less its
    truncation and padding state (which each call sets anew)."""
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    state.pop("truncation", None)
    state.pop("padding", None)
    return hashlib.sha1(json.dumps(state, sort_keys=True).encode()).hexdigest()
