"""Check a composed training config before any data is read: types, ranges, choices, unknown keys.

Each failure names the key, the value and what is allowed. The keys a section may hold come from
the config files themselves (``conf/train.yaml``'s ``training:`` block, ``conf/eval/default.yaml``),
so a misspelt or invented key (``+training.foo=1``) is refused rather than silently ignored.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import resources

import yaml
from omegaconf import DictConfig, OmegaConf


class ConfigError(ValueError):
    """A setting a user gave cannot work; the message names the key, the value and the fix."""


@dataclass(frozen=True)
class Number:
    """An int (``integer``) or a real number within bounds; ``none_ok``: null is allowed too."""

    integer: bool = True
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself excluded
    high_open: bool = False
    none_ok: bool = False

    def problem(self, value) -> str | None:
        if value is None:
            return None if self.none_ok else "must be set (it is null)"
        kinds = (int,) if self.integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            return f"is not {'a whole number' if self.integer else 'a number'}"
        if value != value:
            return "is NaN"
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return f"must be {'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            return f"must be {'<' if self.high_open else '<='} {self.high:g}"
        return None

    def allowed(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        bounds = [f"{'>' if self.low_open else '>='} {self.low:g}"] if self.low is not None else []
        bounds += [f"{'<' if self.high_open else '<='} {self.high:g}"] if self.high is not None else []
        return " ".join([kind, " and ".join(bounds)] if bounds else [kind]) + (", or null" if self.none_ok else "")


@dataclass(frozen=True)
class Choice:
    options: tuple

    def problem(self, value) -> str | None:
        return None if value in self.options else "is not one of the choices"

    def allowed(self) -> str:
        return "one of " + ", ".join(map(str, self.options))


COUNT, POSITIVE = Number(low=0), Number(low=1)
FLAG = Choice((True, False))
RULES = {
    "seed": Number(),
    "init": Choice(("scratch", "pretrained")),
    "pooling": Choice(("mean", "cls", "last")),
    "similarity": Choice(("dot", "cos")),
    "temperature": Number(integer=False, low=0, low_open=True),
    "proj_dim": POSITIVE,
    "training.max_steps": POSITIVE,
    "training.batch_size": POSITIVE,
    "training.num_negatives": COUNT,
    "training.in_batch_negatives": FLAG,
    "training.gradient_checkpointing": FLAG,
    "training.grad_cache": Number(low=1, none_ok=True),
    "training.lr": Number(integer=False, low=0, low_open=True),
    "training.weight_decay": Number(integer=False, low=0),
    "training.warmup_steps": COUNT,
    "training.dropout": Number(integer=False, low=0, high=1, high_open=True, none_ok=True),
    "lora.r": Number(low=1, none_ok=True),
    "lora.alpha": Number(integer=False, low=0, low_open=True),
    "lora.dropout": Number(integer=False, low=0, high=1, high_open=True),
    "training.num_workers": COUNT,
    "training.checkpoint_every_n_steps": POSITIVE,
    "data.num_train_pairs": Number(low=1, none_ok=True),
    "data.val_queries": COUNT,
    "data.subset_seed": Number(),
    "data.max_query_length": Number(low=3),
    "data.max_passage_length": Number(low=3),
    "eval.enabled": FLAG,
    "eval.every_n_steps": POSITIVE,
    "eval.protocol": Choice(("test-best", "val-selected")),
    "eval.ranking": FLAG,
    "eval.ranking_every_eval": FLAG,
    "eval.num_negatives": POSITIVE,
    "eval.repeats": POSITIVE,
    "eval.pool_size": Number(low=1, none_ok=True),
    "eval.subcorpus_size": POSITIVE,
    "eval.top_k": POSITIVE,
    "eval.seed": Number(),
    "eval.batch_size": POSITIVE,
}
"""What each setting may hold. A key absent from the config (``eval=none`` has no K) is not checked."""

HINTS = {
    "eval.every_n_steps": "to evaluate only at the end, set it to training.max_steps",
    "training.max_steps": "a run trains for exactly this many optimizer steps",
}


TARGETS = {"data": "dense_scaling.data.datamodule.RetrievalDataModule",
           "model": "dense_scaling.model.biencoder.build_biencoder",
           "tokenizer": "dense_scaling.data.tokenizer.TrainedWordPiece"}
"""The groups that instantiate themselves (dense_scaling.build), with what the default configs name."""


def _closed_sections() -> dict[str, set[str]]:
    """The keys each closed section may hold, read from the config files."""
    conf = resources.files("dense_scaling.conf")
    train = yaml.safe_load(conf.joinpath("train.yaml").read_text(encoding="utf-8"))
    evaluation = yaml.safe_load(conf.joinpath("eval", "default.yaml").read_text(encoding="utf-8"))
    return {"training": set(train["training"]), "eval": set(evaluation)}


def check_train_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` listing every setting of ``cfg`` that cannot work."""
    problems = [f"{group} has no _target_: a {group} config names what it builds; add one to its file, e.g. "
                f"'_target_: {target}', as the package's conf/{group}/*.yaml have it"
                for group, target in TARGETS.items() if "_target_" not in (OmegaConf.select(cfg, group) or {})]
    for section, known in _closed_sections().items():
        for key in OmegaConf.select(cfg, section, default={}) or {}:
            if key not in known:
                close = difflib.get_close_matches(str(key), sorted(known), n=1)
                hint = f"did you mean {section}.{close[0]}?" if close else f"known keys: {', '.join(sorted(known))}"
                problems.append(f"{section}.{key} is not a setting ({hint})")
    for key, rule in RULES.items():
        if OmegaConf.select(cfg, key, default="<absent>") == "<absent>":
            continue
        value = OmegaConf.select(cfg, key)
        problem = rule.problem(value)
        if problem:
            hint = f"; {HINTS[key]}" if key in HINTS else ""
            problems.append(f"{key}={value!r} {problem}: give {rule.allowed()}{hint}")
    if problems:
        raise ConfigError("invalid settings: " + "; ".join(problems))
