"""dense-scaling: train dense retrievers across sizes, measure them, fit their scaling laws.

The public names load lazily, so ``import dense_scaling.scaling`` (the fitters) never pulls in
torch; ``from dense_scaling import BiEncoder`` does.
"""
from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "BiEncoder": "dense_scaling.model.biencoder",
    "build_biencoder": "dense_scaling.model.biencoder",
    "ContrastiveRetriever": "dense_scaling.model.module",
    "contrastive_loss": "dense_scaling.model.loss",
    "RetrievalData": "dense_scaling.data.readers",
    "load_beir": "dense_scaling.data.readers",
    "load_msmarco": "dense_scaling.data.readers",
    "load_t2ranking": "dense_scaling.data.readers",
    "RetrievalDataModule": "dense_scaling.data.datamodule",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'dense_scaling' has no attribute '{name}'")


__all__ = sorted(_EXPORTS)
