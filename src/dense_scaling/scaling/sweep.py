"""Decide which laws a table of runs supports, and fit each group.

Groups never mix data sets or annotation types:

* model law: one fit per (data, annotation, D), over N;
* data law: one fit per (data, annotation, N), over D;
* joint law: one fit per (data, annotation), over N and D.

Asking for one law (``"model"``, ``"data"``, ``"joint"``) fits every group and
fails with a clear error if a group cannot identify the law; ``"all"`` fits the
groups that can and records why the others were not fitted.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .collect import RunRecord
from .errors import ScalingInputError
from .fitting import FitResult, bootstrap, fit_law, holdout, require_distinct, sigma_from_ci95
from .laws import LAWS

LAW_CHOICES = ("model", "data", "joint", "all")
_GROUP_FIELDS = {"model": ("data", "annotation", "D"), "data": ("data", "annotation", "N"),
                 "joint": ("data", "annotation")}
_LAW_TITLE = {"model": "model-size", "data": "data-size", "joint": "joint"}


@dataclass(frozen=True)
class GroupFit:
    """One fitted group of runs."""

    kind: str
    key: dict
    records: tuple[RunRecord, ...]
    result: FitResult

    @property
    def label(self) -> str:
        return group_label(self.key)

    def column(self, name: str) -> np.ndarray:
        return np.array([getattr(r, name) for r in self.records], dtype=float)

    def to_dict(self) -> dict:
        return {"group": self.key, "label": self.label, "runs": [r.path for r in self.records],
                **self.result.to_dict()}


@dataclass
class SweepFits:
    """Every fit of a sweep, and notes on what was not fitted or checked."""

    fits: list[GroupFit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[GroupFit]:
        return [f for f in self.fits if f.kind == kind]


def group_label(key: dict) -> str:
    sizes = " ".join(f"{k}={key[k]:g}" for k in ("N", "D") if k in key)
    return " ".join(part for part in (f"{key.get('data')}/{key.get('annotation')}", sizes) if part)


def _groups(records, kind: str) -> dict[tuple, list[RunRecord]]:
    groups = defaultdict(list)
    for record in records:
        groups[tuple(getattr(record, f) for f in _GROUP_FIELDS[kind])].append(record)
    def order(item):  # names alphabetically, sizes numerically
        return tuple((0, "", v) if isinstance(v, float) else (1, str(v), 0.0) for v in item[0])
    return dict(sorted(groups.items(), key=order))


def _sigma(records, label: str):
    missing = [r.path for r in records if r.L_ci95 is None]
    if missing:
        raise ScalingInputError(f"{label}: {missing[0]} has no ce.reported_ci95 to weight by; drop --weighted")
    return np.array([sigma_from_ci95(r.L_ci95) for r in records])


def _fit_group(kind, key, records, method, n_boot, seed, weighted, with_holdout, notes) -> GroupFit:
    law_cls = LAWS[kind]
    label = f"{_LAW_TITLE[kind]} fit for {group_label(key)}"
    points = {name: np.array([getattr(r, name) for r in records], dtype=float) for name in law_cls.inputs}
    L = np.array([r.L for r in records])
    sigma = _sigma(records, label) if weighted else None
    try:
        result = fit_law(law_cls, L, sigma=sigma, method=method, **points)
    except ScalingInputError as exc:
        raise ScalingInputError(f"{label}: {exc}") from None
    if n_boot:
        result = bootstrap(result, L, sigma=sigma, n_boot=n_boot, seed=seed, **points)
    if with_holdout:
        try:
            result = holdout(result, L, sigma=sigma, **points)
        except ScalingInputError as exc:
            notes.append(f"{label}: no held-out check ({exc})")
    if not result.converged:
        notes.append(f"{label}: the optimizer did not converge ({result.convergence.message}); "
                     f"treat its parameters with care")
    return GroupFit(kind=kind, key=key, records=tuple(records), result=result)


def fit_sweep(records: list[RunRecord], law: str = "all", method: str = "robust", n_boot: int = 0, seed: int = 0,
              weighted: bool = False, with_holdout: bool = False) -> SweepFits:
    """Fit ``law`` (or every law the runs support, for ``"all"``) to each group of ``records``."""
    if law not in LAW_CHOICES:
        raise ScalingInputError(f"unknown law {law!r}; use one of {', '.join(LAW_CHOICES)}")
    if not records:
        raise ScalingInputError("no usable runs to fit (every results.json was skipped)")
    for name in LAWS[law].inputs if law != "all" else ():
        values = [getattr(r, name) for r in records]
        if len(set(values)) == 1:  # no group can vary it: say so before grouping hides why
            require_distinct(LAWS[law], name, values)
    sweep = SweepFits()
    for kind in (("model", "data", "joint") if law == "all" else (law,)):
        for values, members in _groups(records, kind).items():
            key = dict(zip(_GROUP_FIELDS[kind], values))
            try:
                sweep.fits.append(_fit_group(kind, key, members, method, n_boot, seed, weighted, with_holdout,
                                             sweep.notes))
            except ScalingInputError as exc:
                if law != "all":
                    raise ScalingInputError(f"{exc} (or use --law all to fit only the groups that support a law)") from None
                sweep.notes.append(f"not fitted: {exc}")
    if not sweep.fits:
        raise ScalingInputError(
            "the runs support no law: a model-size fit needs >= 3 distinct N at one D, a data-size fit >= 3 "
            "distinct D at one N, a joint fit >= 2 N and >= 2 D (and >= 5 runs); add runs")
    return sweep
