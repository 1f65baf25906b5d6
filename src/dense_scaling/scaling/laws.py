"""The scaling laws: Fang et al.'s (SIGIR 2024, Eqs. 6-8), Chinchilla's joint form, and the
compute and embedding-dimension laws.

    model size   L(N)   = (A/N)^alpha + d_N                              Eq. 6
    data size    L(D)   = (B/D)^beta  + d_D                              Eq. 7
    joint        L(N,D) = [(A/N)^(alpha/beta) + B/D]^beta + d            Eq. 8 (form "paper")
    joint        L(N,D) = E + A/N^alpha + B/D^beta                       Hoffmann et al. (form "chinchilla")
    compute      L(C)   = (C0/C)^gamma + d_C                             C = training FLOPs
    dimension    L(d)   = (C/d)^gamma + delta_d                          d = embedding dimension (proj_dim)

N counts parameters (plain units, see ``presets`` for the paper's convention),
D counts annotated (query, positive) pairs, L is contrastive entropy in nats.

Besides ``predict`` and ``formula``, each law carries what the shared fitter in
``fitting.py`` needs: its parameters in an unconstrained vector ``theta``
(positive constants by their logs, exponents as they are), the log prediction
with its Jacobian, and a data-driven grid of starting points.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, astuple, dataclass
from typing import ClassVar

import numpy as np

_EXPONENT_GRID = (0.2, 0.6, 1.5)
_FLOOR_FRACTIONS = (0.1, 0.5, 0.9)  # d as a fraction of the smallest observed L


def _floor_and_reducible(log_L: np.ndarray, fraction: float) -> tuple[float, float]:
    """A start for the floor d and the reducible part L - d at the median point."""
    floor = fraction * float(np.exp(log_L.min()))
    reducible = max(float(np.exp(np.median(log_L))) - floor, 1e-6)
    return floor, reducible


def _power_plus_floor(theta: np.ndarray, log_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log[(S/x)^e + d] and its Jacobian for theta = (log S, e, log d)."""
    log_scale, exponent, log_floor = theta
    power = exponent * (log_scale - log_x)
    out = np.logaddexp(power, log_floor)
    w_power, w_floor = np.exp(power - out), np.exp(log_floor - out)
    jac = np.stack([w_power * exponent, w_power * (log_scale - log_x), w_floor], axis=1)
    return out, jac


def _power_plus_floor_grid(log_x: np.ndarray, log_L: np.ndarray) -> np.ndarray:
    """Starts spread over exponent, floor and the size of the power term."""
    starts = []
    for exponent, fraction, share in itertools.product(_EXPONENT_GRID, _FLOOR_FRACTIONS, (0.5, 2.0)):
        floor, reducible = _floor_and_reducible(log_L, fraction)
        log_scale = np.median(log_x) + np.log(share * reducible) / exponent
        starts.append((log_scale, exponent, np.log(floor)))
    return np.array(starts)


class _SizeLaw:
    """What the one-size laws share: L(x) = (scale/x)^exponent + floor, with their three fields
    declared in that order and ``inputs = (x's name,)``."""

    inputs: ClassVar[tuple[str, ...]]

    def predict(self, x) -> np.ndarray:
        scale, exponent, floor = astuple(self)
        return (scale / np.asarray(x, dtype=float)) ** exponent + floor

    def formula(self) -> str:
        scale, exponent, floor = astuple(self)
        x = self.inputs[0]
        return f"L({x}) = ({scale:.6g} / {x})^{exponent:.6g} + {floor:.6g}"

    def params(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_theta(cls, theta):
        return cls(float(np.exp(theta[0])), float(theta[1]), float(np.exp(theta[2])))

    @staticmethod
    def log_predict(theta, log_inputs) -> tuple[np.ndarray, np.ndarray]:
        return _power_plus_floor(theta, log_inputs[0])

    @staticmethod
    def start_grid(log_inputs, log_L) -> np.ndarray:
        return _power_plus_floor_grid(log_inputs[0], log_L)


@dataclass(frozen=True)
class ModelSizeLaw(_SizeLaw):
    """L(N) = (A/N)^alpha + d_N (paper Eq. 6)."""

    A: float
    alpha: float
    d_N: float

    kind: ClassVar[str] = "model"
    inputs: ClassVar[tuple[str, ...]] = ("N",)
    param_names: ClassVar[tuple[str, ...]] = ("A", "alpha", "d_N")
    exponent_names: ClassVar[tuple[str, ...]] = ("alpha",)
    floor_name: ClassVar[str] = "d_N"


@dataclass(frozen=True)
class DataSizeLaw(_SizeLaw):
    """L(D) = (B/D)^beta + d_D (paper Eq. 7)."""

    B: float
    beta: float
    d_D: float

    kind: ClassVar[str] = "data"
    inputs: ClassVar[tuple[str, ...]] = ("D",)
    param_names: ClassVar[tuple[str, ...]] = ("B", "beta", "d_D")
    exponent_names: ClassVar[tuple[str, ...]] = ("beta",)
    floor_name: ClassVar[str] = "d_D"


@dataclass(frozen=True)
class ComputeLaw(_SizeLaw):
    """L(C) = (C0/C)^gamma + d_C, C the training FLOPs of a run."""

    C0: float
    gamma: float
    d_C: float

    kind: ClassVar[str] = "compute"
    inputs: ClassVar[tuple[str, ...]] = ("C",)
    param_names: ClassVar[tuple[str, ...]] = ("C0", "gamma", "d_C")
    exponent_names: ClassVar[tuple[str, ...]] = ("gamma",)
    floor_name: ClassVar[str] = "d_C"


@dataclass(frozen=True)
class DimensionLaw(_SizeLaw):
    """L(d) = (C/d)^gamma + delta_d, d the embedding dimension (``proj_dim``)."""

    C: float
    gamma: float
    delta_d: float

    kind: ClassVar[str] = "dimension"
    inputs: ClassVar[tuple[str, ...]] = ("proj_dim",)
    param_names: ClassVar[tuple[str, ...]] = ("C", "gamma", "delta_d")
    exponent_names: ClassVar[tuple[str, ...]] = ("gamma",)
    floor_name: ClassVar[str] = "delta_d"


@dataclass(frozen=True)
class JointLaw:
    """L(N, D) = [(A/N)^(alpha/beta) + B/D]^beta + d (paper Eq. 8)."""

    A: float
    B: float
    alpha: float
    beta: float
    d: float

    kind: ClassVar[str] = "joint"
    form: ClassVar[str] = "paper"
    inputs: ClassVar[tuple[str, ...]] = ("N", "D")
    param_names: ClassVar[tuple[str, ...]] = ("A", "B", "alpha", "beta", "d")
    exponent_names: ClassVar[tuple[str, ...]] = ("alpha", "beta")
    floor_name: ClassVar[str] = "d"

    def predict(self, N, D) -> np.ndarray:
        N, D = np.asarray(N, dtype=float), np.asarray(D, dtype=float)
        # In log space: a fit with a small beta has (A/N)^(alpha/beta) far past float range even
        # where the law itself is a modest number.
        log_inner = np.logaddexp(self.alpha / self.beta * np.log(self.A / N), np.log(self.B / D))
        return np.exp(self.beta * log_inner) + self.d

    def formula(self) -> str:
        return (
            f"L(N, D) = [({self.A:.6g} / N)^({self.alpha:.6g}/{self.beta:.6g})"
            f" + {self.B:.6g} / D]^{self.beta:.6g} + {self.d:.6g}"
        )

    def params(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_theta(cls, theta) -> "JointLaw":
        log_A, log_B, alpha, beta, log_d = theta
        return cls(A=float(np.exp(log_A)), B=float(np.exp(log_B)), alpha=float(alpha), beta=float(beta),
                   d=float(np.exp(log_d)))

    @staticmethod
    def log_predict(theta, log_inputs) -> tuple[np.ndarray, np.ndarray]:
        """log L and its Jacobian for theta = (log A, log B, alpha, beta, log d)."""
        log_A, log_B, alpha, beta, log_d = theta
        log_N, log_D = log_inputs
        model_term = (alpha / beta) * (log_A - log_N)
        data_term = log_B - log_D
        inner = np.logaddexp(model_term, data_term)
        reducible = beta * inner
        out = np.logaddexp(reducible, log_d)
        w_model, w_data = np.exp(model_term - inner), np.exp(data_term - inner)
        w_reducible, w_floor = np.exp(reducible - out), np.exp(log_d - out)
        jac = np.stack([
            w_reducible * w_model * alpha,
            w_reducible * w_data * beta,
            w_reducible * w_model * (log_A - log_N),
            w_reducible * (inner - w_model * model_term),
            w_floor,
        ], axis=1)
        return out, jac

    @staticmethod
    def start_grid(log_inputs, log_L) -> np.ndarray:
        """Starts over both exponents, the floor, and how the reducible loss splits between N and D."""
        log_N, log_D = log_inputs
        starts = []
        for alpha, beta, fraction, model_share in itertools.product(
                (0.3, 1.0), (0.5, 1.0, 2.0), (0.1, 0.6), (0.2, 0.8)):
            floor, reducible = _floor_and_reducible(log_L, fraction)
            inner = reducible ** (1.0 / beta)
            log_A = np.median(log_N) + np.log(model_share * inner) * beta / alpha
            log_B = np.median(log_D) + np.log((1.0 - model_share) * inner)
            starts.append((log_A, log_B, alpha, beta, np.log(floor)))
        return np.array(starts)


@dataclass(frozen=True)
class ChinchillaLaw:
    """L(N, D) = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022, Eq. 2; the additive joint form)."""

    A: float
    B: float
    E: float
    alpha: float
    beta: float

    kind: ClassVar[str] = "joint"
    form: ClassVar[str] = "chinchilla"
    inputs: ClassVar[tuple[str, ...]] = ("N", "D")
    param_names: ClassVar[tuple[str, ...]] = ("A", "B", "E", "alpha", "beta")
    exponent_names: ClassVar[tuple[str, ...]] = ("alpha", "beta")
    floor_name: ClassVar[str] = "E"

    def predict(self, N, D) -> np.ndarray:
        N, D = np.asarray(N, dtype=float), np.asarray(D, dtype=float)
        return self.E + self.A / N ** self.alpha + self.B / D ** self.beta

    def formula(self) -> str:
        return (f"L(N, D) = {self.E:.6g} + {self.A:.6g} / N^{self.alpha:.6g}"
                f" + {self.B:.6g} / D^{self.beta:.6g}")

    def params(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_theta(cls, theta) -> "ChinchillaLaw":
        log_A, log_B, log_E, alpha, beta = theta
        return cls(A=float(np.exp(log_A)), B=float(np.exp(log_B)), E=float(np.exp(log_E)), alpha=float(alpha),
                   beta=float(beta))

    @staticmethod
    def log_predict(theta, log_inputs) -> tuple[np.ndarray, np.ndarray]:
        """log L = logsumexp(log A - alpha log N, log B - beta log D, log E) and its Jacobian for
        theta = (log A, log B, log E, alpha, beta) (Besiroglu et al.'s parameterisation)."""
        log_A, log_B, log_E, alpha, beta = theta
        log_N, log_D = log_inputs
        model_term, data_term = log_A - alpha * log_N, log_B - beta * log_D
        out = np.logaddexp(np.logaddexp(model_term, data_term), log_E)
        w_model, w_data, w_floor = np.exp(model_term - out), np.exp(data_term - out), np.exp(log_E - out)
        jac = np.stack([w_model, w_data, w_floor, -w_model * log_N, -w_data * log_D], axis=1)
        return out, jac

    @staticmethod
    def start_grid(log_inputs, log_L) -> np.ndarray:
        """Starts over both exponents and the floor, the reducible loss split evenly between N and D."""
        log_N, log_D = log_inputs
        starts = []
        for alpha, beta, fraction in itertools.product((0.2, 0.5, 1.0), (0.2, 0.5, 1.0), (0.1, 0.6)):
            floor, reducible = _floor_and_reducible(log_L, fraction)
            log_A = np.log(0.5 * reducible) + alpha * np.median(log_N)  # half the reducible loss each
            log_B = np.log(0.5 * reducible) + beta * np.median(log_D)
            starts.append((log_A, log_B, np.log(floor), alpha, beta))
        return np.array(starts)


LAWS = {law.kind: law for law in (ModelSizeLaw, DataSizeLaw, JointLaw, ComputeLaw, DimensionLaw)}
"""The law classes by kind: ``"model"``, ``"data"``, ``"joint"`` (the paper's form), ``"compute"``,
``"dimension"``."""

JOINT_FORMS = {law.form: law for law in (JointLaw, ChinchillaLaw)}
"""The joint law's forms: ``"paper"`` (Eq. 8) and ``"chinchilla"`` (additive)."""
