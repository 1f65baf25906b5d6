"""Scaling laws for dense retrieval: fit, compare, bootstrap, budget, compute, plot. Imports no torch.

    from dense_scaling.scaling import collect, fit_sweep, fit_law, ModelSizeLaw
    records, skipped = collect(["multirun/2024-06-01"])
    result = fit_law(ModelSizeLaw, [r.L for r in records], N=[r.N for r in records])
"""

from .analysis import Analysis, analyse
from .budget import Allocation, CostModel, budget_line, optimal_allocation
from .collect import RunRecord, Skipped, check_records, collect, columns
from .compare import Comparison, compare_forms
from .compute import ComputeOptimum, TrainingProtocol, compute_optimum, training_flops
from .errors import ScalingInputError
from .fitting import FitResult, bootstrap, fit_law, holdout, interval, sigma_from_ci95
from .laws import JOINT_FORMS, LAWS, ChinchillaLaw, ComputeLaw, DataSizeLaw, DimensionLaw, JointLaw, ModelSizeLaw
from .presets import PRESETS, Preset, get_preset
from .ranking import MetricMap, fit_metric_map, fit_metric_maps
from .sweep import GroupFit, SweepFits, fit_sweep

__all__ = [
    "Analysis", "analyse",
    "Allocation", "CostModel", "budget_line", "optimal_allocation",
    "RunRecord", "Skipped", "check_records", "collect", "columns",
    "Comparison", "compare_forms",
    "ComputeOptimum", "TrainingProtocol", "compute_optimum", "training_flops",
    "ScalingInputError",
    "FitResult", "bootstrap", "fit_law", "holdout", "interval", "sigma_from_ci95",
    "JOINT_FORMS", "LAWS", "ChinchillaLaw", "ComputeLaw", "DataSizeLaw", "DimensionLaw", "JointLaw", "ModelSizeLaw",
    "PRESETS", "Preset", "get_preset",
    "MetricMap", "fit_metric_map", "fit_metric_maps",
    "GroupFit", "SweepFits", "fit_sweep",
]
