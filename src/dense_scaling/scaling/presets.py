"""The paper's published fits as named presets, for budget analysis without training.

Provenance: Fang et al., "Scaling Laws for Dense Retrieval", SIGIR 2024 (arXiv 2403.18684), read
in the paper itself, at the precision it prints:

* model-size fits, Section 4.1, Table 1 ("Fitting parameters for model size scaling", Eq. 6):
  MS MARCO A = 3.22e4, alpha = 0.53, delta_N = 0.04, R^2 0.991; T2Ranking A = 9.89e6,
  alpha = 0.53, delta_N = 0.14, R^2 0.999;
* data-size fits, Section 4.2, Table 2 ("Fitting parameters for data size scaling", Eq. 7):
  MS MARCO B = 3.49e3, beta = 1.05, delta_D = 0.05, R^2 0.954; T2Ranking B = 6.04e4,
  beta = 0.50, delta_D = 0.15, R^2 0.991;
* the joint law, Section 4.4, Eq. 8 with the coefficients of Eqs. 9-10: A ~ 3.6e4, B ~ 7.1e3
  (Eq. 9), alpha ~ 0.56, beta ~ 1.31, delta ~ 0.03 (Eq. 10), printed with "~". Section 4.4 does
  not name the data set it was fitted on. We label it MS MARCO: that is our reading, not the
  paper's statement (its A ~ 3.6e4 is close to MS MARCO's 3.22e4 in Table 1, far from
  T2Ranking's 9.89e6). The paper gives no R^2 for it and no second joint fit.

The paper fits by least squares (Section 4.1) on the models' best test CE over 10,000 steps.

Units. The paper counts N as non-embedding parameters (footnote 2, after Kaplan et al.); its
code (DRScale, jingtaozhan/DRScale) adds the pooler and the 768-d projection and plots in units
of 1024^2 ("M", so BERT-base is 82.24M). Its A is nevertheless in plain parameters: refitting
L(N) to the five points in DRScale's plot.py (N given in 1024^2 units) with N converted to plain
parameters gives A = 3.15e4 (alpha 0.45, d_N 0.032 from those five points alone), while the same
fit with N in 1024^2 units gives A = 0.03. Each preset records ``n_unit`` (plain parameters per
unit of N in the published law, here 1) and ``law`` is always in plain parameters. The pooler
and projection (1.2M parameters for BERT-base) are counted in the paper's N and excluded from
ours; at the billions of parameters of a budget optimum the difference is negligible. D counts
annotated (query, positive) pairs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import ScalingInputError
from .laws import DataSizeLaw, JointLaw, ModelSizeLaw

PAPER = "Fang et al., Scaling Laws for Dense Retrieval, SIGIR 2024 (arXiv 2403.18684)"
N_COUNTING = "non-embedding + pooler + projection parameters (DRScale's count)"


@dataclass(frozen=True)
class Preset:
    """A published law, converted to plain parameter units, with where it came from."""

    name: str
    law: object
    dataset: str
    source: str
    n_unit: float
    n_counting: str
    r2: float | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "law": self.law.kind, "params": self.law.params(), "formula": self.law.formula(),
                "dataset": self.dataset, "source": self.source, "n_unit": self.n_unit,
                "n_counting": self.n_counting, "r2": self.r2}


def _in_plain_units(law, n_unit: float):
    """Rescale A so that N is in plain parameters (A/N is unit-free); a data-size law has no N."""
    return dataclasses.replace(law, A=law.A * n_unit) if hasattr(law, "A") else law


def _preset(name, law, dataset, source, n_unit=1.0, r2=None) -> Preset:
    return Preset(name=name, law=_in_plain_units(law, n_unit), dataset=dataset, source=source,
                  n_unit=n_unit, n_counting=N_COUNTING, r2=r2)


PRESETS: dict[str, Preset] = {p.name: p for p in (
    _preset("msmarco_model", ModelSizeLaw(A=3.22e4, alpha=0.53, d_N=0.04), "MS MARCO passage",
            f"{PAPER}, Section 4.1, Table 1", r2=0.991),
    _preset("t2ranking_model", ModelSizeLaw(A=9.89e6, alpha=0.53, d_N=0.14), "T2Ranking",
            f"{PAPER}, Section 4.1, Table 1", r2=0.999),
    _preset("msmarco_data", DataSizeLaw(B=3.49e3, beta=1.05, d_D=0.05), "MS MARCO passage",
            f"{PAPER}, Section 4.2, Table 2", r2=0.954),
    _preset("t2ranking_data", DataSizeLaw(B=6.04e4, beta=0.50, d_D=0.15), "T2Ranking",
            f"{PAPER}, Section 4.2, Table 2", r2=0.991),
    _preset("msmarco_joint", JointLaw(A=3.6e4, B=7.1e3, alpha=0.56, beta=1.31, d=0.03),
            "MS MARCO passage (our reading: Section 4.4 names no data set)",
            f"{PAPER}, Section 4.4, Eq. 8 with Eqs. 9-10 (values printed as approximate)"),
)}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; a clear error lists the others."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ScalingInputError(f"unknown preset {name!r}; available: {', '.join(sorted(PRESETS))}") from None
