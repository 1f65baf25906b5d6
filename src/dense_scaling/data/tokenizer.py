"""Tokenizers: a pretrained one (hub id or folder), a WordPiece vocab file, or one trained on a corpus.

Transformers 5 trap: ``BertTokenizerFast(vocab_file=...)`` silently builds a 5-token vocabulary,
so a vocab file is loaded through ``tokenizers.BertWordPieceTokenizer`` instead.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Sequence

from tokenizers import BertWordPieceTokenizer, Tokenizer
from transformers import AutoTokenizer, PreTrainedTokenizerFast

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
    """A WordPiece tokenizer trained on ``texts``, cached on disk by their fingerprint and vocab size."""
    key = hashlib.sha1(f"{texts_fingerprint}|{vocab_size}|{lowercase}".encode()).hexdigest()[:16]
    vocab_file = Path(cache_dir) / "tokenizers" / f"wordpiece-{key}" / "vocab.txt"
    if not vocab_file.exists():
        wordpiece = BertWordPieceTokenizer(lowercase=lowercase)
        wordpiece.train_from_iterator(texts, vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS.values()))
        vocab_file.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=vocab_file.parent) as tmp:
            (written,) = wordpiece.save_model(tmp)
            os.replace(written, vocab_file)
    return from_vocab(vocab_file, lowercase=lowercase)


def fingerprint(tokenizer: PreTrainedTokenizerFast) -> str:
    """A hash of everything that decides the token ids: the serialised fast tokenizer, less its
    truncation and padding state (which each call sets anew)."""
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    state.pop("truncation", None)
    state.pop("padding", None)
    return hashlib.sha1(json.dumps(state, sort_keys=True).encode()).hexdigest()
