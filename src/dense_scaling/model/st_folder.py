"""sentence-transformers folders: write a BiEncoder as one, read one back as the parts of a BiEncoder.

Both directions go through sentence-transformers' own modules (Transformer, Pooling, Dense,
Normalize) and its own save and load, never through its file formats, so a folder written here is
whatever the installed sentence-transformers writes and reads. sentence-transformers is the ``hf``
extra: it is imported only when a folder is written or read.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from huggingface_hub import try_to_load_from_cache
from torch import nn

from dense_scaling.model import lora
from dense_scaling.results import atomic_directory

MODULES_FILE = "modules.json"  # what makes a folder a sentence-transformers one
SETTINGS_FILE = "biencoder.json"  # our settings beside theirs (the temperature, which they have no place for)
POOLING_MODES = {"mean": "mean", "cls": "cls", "last": "lasttoken"}  # ours -> sentence-transformers' Pooling


def is_sentence_transformer(path: str | Path | None) -> bool:
    """Whether ``path`` is a local sentence-transformers folder, or the hub id of one in the local cache."""
    if path is None:
        return False
    if Path(path).is_dir():
        return (Path(path) / MODULES_FILE).is_file()
    try:
        return isinstance(try_to_load_from_cache(str(path), MODULES_FILE), str)
    except ValueError:  # not a valid hub id either
        return False


def _modules():
    try:
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer import modules
    except ImportError:
        raise ImportError(
            "sentence-transformers folders need the sentence-transformers package: pip install 'dense-scaling[hf]'"
        ) from None
    return SentenceTransformer, modules


def write_sentence_transformer(model, tokenizer, folder: str | Path, query_length: int, passage_length: int,
                               card: str) -> Path:
    """Write ``model`` (a BiEncoder) with ``tokenizer`` as a sentence-transformers folder: Transformer
    (queries truncated to ``query_length`` tokens by ``encode_query``, passages to ``passage_length``
    by ``encode_document`` and ``encode``), Pooling, Dense (identity activation), Normalize when the
    similarity is cosine; ``card`` becomes its README.md. The folder appears whole or not at all;
    an existing non-empty ``folder`` is refused."""
    SentenceTransformer, modules = _modules()
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} exists and is not empty; export to a new folder or delete it first")
    folder.parent.mkdir(parents=True, exist_ok=True)
    hidden, proj = model.projection.in_features, model.projection
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}.") as staging, \
            atomic_directory(folder) as out:
        encoder_dir = Path(staging) / "encoder"
        lora.merged(model.encoder).save_pretrained(encoder_dir)
        tokenizer.save_pretrained(encoder_dir)
        transformer = modules.Transformer(str(encoder_dir), max_seq_length=max(query_length, passage_length),
                                          query_length=query_length, document_length=passage_length)
        dense = modules.Dense(hidden, proj.out_features, bias=True, activation_function=nn.Identity(),
                              init_weight=proj.weight.detach().clone(), init_bias=proj.bias.detach().clone())
        parts = [transformer, modules.Pooling(hidden, POOLING_MODES[model.pooling]), dense]
        parts += [modules.Normalize()] if model.similarity == "cos" else []
        similarity = "cosine" if model.similarity == "cos" else "dot"
        SentenceTransformer(modules=parts, similarity_fn_name=similarity, device="cpu").save(str(out))
        (out / "README.md").write_text(card, encoding="utf-8")
        (out / SETTINGS_FILE).write_text(json.dumps({"temperature": model.temperature}, indent=2) + "\n")
    return folder


@dataclass
class SentenceTransformerParts:
    """What a sentence-transformers folder says, in a BiEncoder's terms; ``projection`` is None when
    it has no Dense module; ``temperature`` is None unless it was exported from here."""

    encoder: nn.Module
    pooling: str
    similarity: str
    projection: nn.Linear | None
    temperature: float | None


def read_sentence_transformer(folder: str | Path, config: dict | None = None) -> SentenceTransformerParts:
    """Load ``folder`` with sentence-transformers (offline; ``config``: settings that replace its
    Transformer config's, e.g. the dropout) and take it apart: it must be a Transformer, a mean, CLS or
    last-token Pooling, at most one Dense with identity activation, and an optional Normalize."""
    SentenceTransformer, modules = _modules()
    loaded = list(SentenceTransformer(str(folder), device="cpu", local_files_only=True, config_kwargs=config or {}))
    kinds = [type(module).__name__ for module in loaded]
    pattern = {"Transformer": 0, "Pooling": 1, "Dense": 2, "Normalize": 3}
    order = [pattern.get(kind, -1) for kind in kinds]
    if kinds[:2] != ["Transformer", "Pooling"] or -1 in order or order != sorted(set(order)):
        raise ValueError(f"{folder}: its modules are {' -> '.join(kinds)}; a BiEncoder is Transformer -> Pooling "
                         f"(mean, cls or lasttoken) -> optional Dense -> optional Normalize")
    found = dict(zip(kinds, loaded))
    ours = {mode: name for name, mode in POOLING_MODES.items()}
    pooling = ours.get(found["Pooling"].pooling_mode)
    if pooling is None:
        raise ValueError(f"{folder}: pooling '{found['Pooling'].pooling_mode}' is not one a BiEncoder has "
                         f"({', '.join(POOLING_MODES.values())})")
    dense = found.get("Dense")
    if dense is not None and (not isinstance(dense.activation_function, nn.Identity) or dense.use_residual):
        raise ValueError(f"{folder}: its Dense module has activation {type(dense.activation_function).__name__}"
                         f"{' and a residual' if dense.use_residual else ''}; a BiEncoder's projection is linear")
    settings = Path(folder) / SETTINGS_FILE
    temperature = json.loads(settings.read_text())["temperature"] if settings.is_file() else None
    return SentenceTransformerParts(found["Transformer"].model, pooling, "cos" if "Normalize" in found else "dot",
                                    dense and _linear(dense.linear), temperature)


def _linear(layer: nn.Linear) -> nn.Linear:
    """``layer`` with a bias (zeros where it had none), as a BiEncoder's projection has."""
    if layer.bias is None:
        layer.bias = nn.Parameter(torch.zeros(layer.out_features, dtype=layer.weight.dtype))
    return layer

