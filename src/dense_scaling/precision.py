"""Training precision chosen by the hardware: ``trainer.precision=auto`` trains in bf16-mixed where
the device computes bf16 natively (a CUDA GPU of compute capability 8.0 or more; a CPU with
AVX512_BF16 or AMX, read from its flags at run time) and in fp32 otherwise. On a CPU without
native bf16, autocast emulates it and a step is slower than in fp32, so an explicit bf16 request
there is honoured with a warning.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

log = logging.getLogger("dense_scaling")

AUTO, FP32, BF16 = "auto", "32-true", "bf16-mixed"
NATIVE_CPU_BF16 = ("amx_bf16", "avx512_bf16")
"""CPU flags (as /proc/cpuinfo spells them) of instructions that compute bf16 natively."""
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path | None = None) -> frozenset[str] | None:
    """The CPU's feature flags (x86 ``flags``, Arm ``Features``; from :data:`CPUINFO` unless
    ``cpuinfo`` is given), or None where they cannot be read."""
    try:
        text = Path(cpuinfo or CPUINFO).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None


def cpu_precision(flags: frozenset[str] | None) -> tuple[str, str]:
    """(precision, why) for a CPU with ``flags``."""
    if flags is None:
        return FP32, f"the CPU's flags could not be read ({CPUINFO}), so native bf16 is not known"
    native = [flag for flag in NATIVE_CPU_BF16 if flag in flags]
    if native:
        return BF16, f"the CPU computes bf16 natively ({', '.join(native)})"
    return FP32, ("the CPU has no native bf16 (neither " + " nor ".join(NATIVE_CPU_BF16)
                  + " in its flags); bf16 autocast would be emulated and slower")


def cuda_precision(capability: tuple[int, int]) -> tuple[str, str]:
    """(precision, why) for a CUDA GPU of compute ``capability``."""
    major, minor = capability
    if major >= 8:
        return BF16, f"the GPU (compute capability {major}.{minor}) computes bf16 natively"
    return FP32, f"the GPU's compute capability {major}.{minor} is below 8.0, which has no native bf16"


def _uses_cuda(accelerator: str) -> bool:
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def choose(requested, accelerator: str) -> tuple[str, str, bool]:
    """(precision, the line that says which and why, whether that line is a warning) for
    ``trainer.precision`` and ``trainer.accelerator``."""
    requested = str(requested)
    cuda = _uses_cuda(str(accelerator))
    if requested == AUTO:
        if cuda and not torch.cuda.is_available():
            return FP32, f"precision {FP32} (trainer.precision=auto): accelerator {accelerator} but no CUDA device is visible", False
        chosen, why = cuda_precision(torch.cuda.get_device_capability()) if cuda else cpu_precision(cpu_flags())
        return chosen, f"precision {chosen} (trainer.precision=auto): {why}", False
    line = f"precision {requested} (trainer.precision={requested}, as asked)"
    flags = None if cuda or not requested.startswith("bf16") else cpu_flags()
    if flags is not None:
        native, why = cpu_precision(flags)
        if native != BF16:
            return requested, (f"{line}; warning: {why}, so this run will be slower than in fp32; "
                               f"trainer.precision=auto picks fp32 here"), True
    return requested, line, False


def trainer_precision(trainer_cfg) -> str:
    """The precision to build the Lightning Trainer with; logs one line saying which and why
    (a warning when bf16 was asked for on a CPU that emulates it)."""
    chosen, line, warning = choose(trainer_cfg.get("precision", AUTO), trainer_cfg.get("accelerator", "auto"))
    (log.warning if warning else log.info)(line)
    return chosen
