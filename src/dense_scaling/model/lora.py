"""LoRA adapters (peft) on a BiEncoder's Transformer: only the adapters and the projection train.

peft is the ``hf`` extra, imported only when adapters are asked for.
"""
from __future__ import annotations

import copy
from pathlib import Path

from torch import nn

ADAPTER_FOLDER = "adapter"


def _peft():
    try:
        import peft
    except ImportError:
        raise ImportError("lora.r needs the peft package: pip install 'dense-scaling[hf]'") from None
    return peft


def add_adapters(encoder: nn.Module, r: int, alpha: float, dropout: float = 0.0,
                 target_modules: list[str] | None = None) -> nn.Module:
    """``encoder`` with rank-``r`` LoRA adapters (scale ``alpha / r``) on ``target_modules`` (module
    names, or one name; peft's default for the model type when None) and every original weight frozen."""
    peft = _peft()
    if isinstance(target_modules, str):
        target_modules = [target_modules]
    model_type = encoder.config.model_type
    defaults = peft.utils.constants.TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING.get(model_type)
    if target_modules is None and defaults is None:
        linear = sorted({name.split(".")[-1] for name, m in encoder.named_modules() if isinstance(m, nn.Linear)})
        raise ValueError(f"lora.target_modules: peft has no default for model type '{model_type}'; name the "
                         f"modules to adapt, e.g. lora.target_modules=[{','.join(linear[:3])}] (its linear "
                         f"layers: {', '.join(linear)})")
    config = peft.LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout,
                             target_modules=list(target_modules) if target_modules is not None else None)
    try:
        return peft.get_peft_model(encoder, config)
    except ValueError as err:
        raise ValueError(f"lora.target_modules={list(target_modules or defaults)}: {err}") from None


def has_adapters(encoder: nn.Module) -> bool:
    """Whether ``encoder`` carries peft adapters."""
    return hasattr(encoder, "peft_config")


def merged(encoder: nn.Module) -> nn.Module:
    """A plain Transformers model computing what ``encoder`` computes (its adapters merged into a copy
    of its weights); ``encoder`` itself when it has none."""
    return copy.deepcopy(encoder).merge_and_unload() if has_adapters(encoder) else encoder


def save_adapters(encoder: nn.Module, folder: Path) -> None:
    """The adapters alone, as peft saves them (``PeftModel.from_pretrained(base, folder)`` reloads them)."""
    encoder.save_pretrained(folder)


def load_adapters(base: nn.Module, folder: str | Path, trainable: bool = False) -> nn.Module:
    """``base`` with the adapters saved in ``folder``."""
    return _peft().PeftModel.from_pretrained(base, str(folder), is_trainable=trainable)
