"""Scaling laws for dense retrieval: fit, bootstrap, budget, plot. Imports no torch.

    from dense_scaling.scaling import collect, fit_sweep, fit_law, ModelSizeLaw
    records, skipped = collect(["multirun/2024-06-01"])
    result = fit_law(ModelSizeLaw, [r.L for r in records], N=[r.N for r in records])
"""

from .budget import Allocation, CostModel, budget_line, optimal_allocation
from .collect import RunRecord, Skipped, check_records, collect, columns
from .errors import ScalingInputError
from .fitting import FitResult, bootstrap, fit_law, holdout, sigma_from_ci95
from .laws import LAWS, DataSizeLaw, JointLaw, ModelSizeLaw
from .presets import PRESETS, Preset, get_preset
from .sweep import GroupFit, SweepFits, fit_sweep

__all__ = [
    "Allocation", "CostModel", "budget_line", "optimal_allocation",
    "RunRecord", "Skipped", "check_records", "collect", "columns",
    "ScalingInputError",
    "FitResult", "bootstrap", "fit_law", "holdout", "sigma_from_ci95",
    "LAWS", "DataSizeLaw", "JointLaw", "ModelSizeLaw",
    "PRESETS", "Preset", "get_preset",
    "GroupFit", "SweepFits", "fit_sweep",
]
