"""Decide which laws a table of runs supports, and fit each group.

Groups never mix data sets, annotation types or embedding dimensions:

* model law: one fit per (data, annotation, D, proj_dim), over N;
* data law: one fit per (data, annotation, N, proj_dim), over D;
* joint law: one fit per (data, annotation, proj_dim), over N and D, in the paper's form, the
  Chinchilla form, or both (``form="compare"``, with both held-out checks for each);
* compute law: one fit per (data, annotation, proj_dim), over the training FLOPs C of the
  compute-efficient runs (:func:`compute_efficient`);
* dimension law: one fit per (data, annotation, N, D), over proj_dim.

Asking for one law fits every group and fails with a clear error if a group cannot identify
the law; ``"all"`` fits the groups that can and records why the others were not fitted.
Protocol warnings (``protocol.py``) are collected for the fitted runs and each fit.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .collect import RunRecord
from .errors import ScalingInputError
from .fitting import DISTINCT_RTOL, FitResult, bootstrap, distinct_values, fit_law, holdout, require_distinct, sigma_from_ci95
from .laws import JOINT_FORMS, LAWS
from .protocol import fit_warnings, run_warnings

KINDS = ("model", "data", "joint", "compute", "dimension")
LAW_CHOICES = (*KINDS, "all")
FORM_CHOICES = (*JOINT_FORMS, "compare")
_GROUP_FIELDS = {"model": ("data", "annotation", "D", "proj_dim"), "data": ("data", "annotation", "N", "proj_dim"),
                 "joint": ("data", "annotation", "proj_dim"), "compute": ("data", "annotation", "proj_dim"),
                 "dimension": ("data", "annotation", "N", "D")}
_LAW_TITLE = {"model": "model-size", "data": "data-size", "joint": "joint", "compute": "compute",
              "dimension": "dimension"}


@dataclass(frozen=True)
class GroupFit:
    """One fitted group of runs."""

    kind: str
    key: dict
    records: tuple[RunRecord, ...]
    result: FitResult

    @property
    def form(self) -> str | None:
        return getattr(self.result.law, "form", None)

    @property
    def label(self) -> str:
        suffix = f" [{self.form} form]" if self.form not in (None, "paper") else ""
        return group_label(self.key) + suffix

    def column(self, name: str) -> np.ndarray:
        return np.array([getattr(r, name) for r in self.records], dtype=float)

    def to_dict(self) -> dict:
        return {"group": self.key, "label": self.label, "runs": [r.path for r in self.records],
                **self.result.to_dict()}


@dataclass
class SweepFits:
    """Every fit of a sweep, notes on what was not fitted or checked, and protocol warnings."""

    fits: list[GroupFit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def of_kind(self, kind: str, form: str | None = "paper") -> list[GroupFit]:
        """The fits of ``kind``; for joint fits only those of ``form`` (None: every form)."""
        return [f for f in self.fits if f.kind == kind and (kind != "joint" or form is None or f.form == form)]


def group_label(key: dict) -> str:
    sizes = " ".join(f"{k}={key[k]:g}" for k in ("N", "D", "proj_dim") if key.get(k) is not None)
    return " ".join(part for part in (f"{key.get('data')}/{key.get('annotation')}", sizes) if part)


def _groups(records, kind: str) -> dict[tuple, list[RunRecord]]:
    groups = defaultdict(list)
    for record in records:
        groups[tuple(getattr(record, f) for f in _GROUP_FIELDS[kind])].append(record)
    def order(item):  # names alphabetically, sizes numerically
        return tuple((0, "", v) if isinstance(v, float) else (1, str(v), 0.0) for v in item[0])
    return dict(sorted(groups.items(), key=order))


def compute_efficient(records: list[RunRecord]) -> list[RunRecord]:
    """The runs on the compute-efficient frontier: at each compute level (runs within 1% of C
    count as one level) the run with the lowest CE, kept when it beats every cheaper level."""
    with_flops = [r for r in records if r.C]
    frontier, best = [], float("inf")
    for level in distinct_values([r.C for r in with_flops]):  # a level spans [level, level x 1.01]
        winner = min((r for r in with_flops if level <= r.C <= level * (1 + DISTINCT_RTOL)), key=lambda r: r.L)
        if winner.L < best:
            frontier.append(winner)
            best = winner.L
    return frontier


def _single_size(kind: str, records: list[RunRecord]) -> bool:
    """True when the group's runs share one value of the law's input (or have none)."""
    values = [getattr(r, LAWS[kind].inputs[0]) for r in records]
    return None in values or distinct_values(values).size < 2


def _points_of(kind: str, records: list[RunRecord], label: str) -> list[RunRecord]:
    """The runs a fit of ``kind`` uses: every run; for compute the compute-efficient ones; runs
    without the law's input are refused."""
    input_name = LAWS[kind].inputs[0]
    missing = [r.path for r in records if any(getattr(r, name) is None for name in LAWS[kind].inputs)]
    if missing:
        what = {"C": "training FLOPs (flops, or tokens_seen with the config)", "proj_dim": "proj_dim"}[input_name]
        raise ScalingInputError(f"{label}: {len(missing)} run(s) have no {what}, e.g. {missing[0]}; "
                                f"fit runs written by dense_scaling.train")
    return compute_efficient(records) if kind == "compute" else records


def _sigma(records, label: str):
    missing = [r.path for r in records if r.L_ci95 is None]
    if missing:
        raise ScalingInputError(f"{label}: {missing[0]} has no ce.reported_ci95 to weight by; drop --weighted")
    return np.array([sigma_from_ci95(r.L_ci95) for r in records])


def _fit_group(kind, law_cls, key, records, method, n_boot, seed, weighted, holdout_axes, notes, warnings) -> GroupFit:
    label = f"{_LAW_TITLE[kind]} fit for {group_label(key)}" + (
        f" ({law_cls.form} form)" if getattr(law_cls, "form", "paper") != "paper" else "")
    records = _points_of(kind, records, label)
    points = {name: np.array([getattr(r, name) for r in records], dtype=float) for name in law_cls.inputs}
    L = np.array([r.L for r in records])
    sigma = _sigma(records, label) if weighted else None
    try:
        result = fit_law(law_cls, L, sigma=sigma, method=method, **points)
    except ScalingInputError as exc:
        raise ScalingInputError(f"{label}: {exc}") from None
    if n_boot:
        try:
            result = bootstrap(result, L, sigma=sigma, n_boot=n_boot, seed=seed, **points)
        except ScalingInputError as exc:
            notes.append(f"{label}: no bootstrap intervals ({exc})")
    for axis in holdout_axes(law_cls):
        try:
            result = holdout(result, L, sigma=sigma, axis=axis, **points)
        except ScalingInputError as exc:
            notes.append(f"{label}: no held-out check ({exc})")
    if not result.converged:
        notes.append(f"{label}: the optimizer did not converge ({result.convergence.message}); "
                     f"treat its parameters with care")
    warnings.extend(fit_warnings(f"{_LAW_TITLE[kind]} fit for {group_label(key)}", law_cls, records))
    return GroupFit(kind=kind, key=key, records=tuple(records), result=result)


def fit_sweep(records: list[RunRecord], law: str = "all", method: str = "robust", n_boot: int = 0, seed: int = 0,
              weighted: bool = False, with_holdout: bool = False, form: str = "paper") -> SweepFits:
    """Fit ``law`` (or every law the runs support, for ``"all"``) to each group of ``records``;
    joint laws in ``form`` (``"paper"``, ``"chinchilla"`` or ``"compare"``: both, each checked by
    leaving out the largest N and the largest D)."""
    if law not in LAW_CHOICES:
        raise ScalingInputError(f"unknown law {law!r}; use one of {', '.join(LAW_CHOICES)}")
    if form not in FORM_CHOICES:
        raise ScalingInputError(f"unknown form {form!r}; use one of {', '.join(FORM_CHOICES)}")
    if not records:
        raise ScalingInputError("no usable runs to fit (every results.json was skipped)")
    for name in LAWS[law].inputs if law not in ("all", "compute") else ():
        values = [getattr(r, name) for r in records]
        if None not in values and len(set(values)) == 1:  # no group can vary it: say so before grouping hides why
            require_distinct(LAWS[law], name, values)
    forms = list(JOINT_FORMS.values()) if form == "compare" else [JOINT_FORMS[form]]

    def holdout_axes(law_cls):
        if form == "compare" and law_cls.kind == "joint":
            return law_cls.inputs
        return law_cls.inputs if with_holdout else ()

    sweep = SweepFits()
    for kind in (KINDS if law == "all" else (law,)):
        for values, members in _groups(records, kind).items():
            if law == "all" and kind != "joint" and _single_size(kind, members):
                continue  # not a study of this law (e.g. one proj_dim per group): nothing to note
            key = dict(zip(_GROUP_FIELDS[kind], values))
            for law_cls in forms if kind == "joint" else [LAWS[kind]]:
                try:
                    sweep.fits.append(_fit_group(kind, law_cls, key, members, method, n_boot, seed, weighted,
                                                 holdout_axes, sweep.notes, sweep.warnings))
                except ScalingInputError as exc:
                    if law != "all":
                        raise ScalingInputError(
                            f"{exc} (or use --law all to fit only the groups that support a law)") from None
                    sweep.notes.append(f"not fitted: {exc}")
    if not sweep.fits:
        raise ScalingInputError(
            "the runs support no law: a model-size fit needs >= 3 distinct N at one D, a data-size fit >= 3 "
            "distinct D at one N, a joint fit >= 2 N and >= 2 D (and >= 5 runs); add runs")
    fitted = {r.path: r for fit in sweep.fits for r in fit.records}
    sweep.warnings = run_warnings(list(fitted.values())) + list(dict.fromkeys(sweep.warnings))  # forms share runs
    return sweep
