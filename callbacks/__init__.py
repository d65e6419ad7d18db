"""Figures and reports: logged to every attached logger and saved as PNG in the run directory."""

from importlib import import_module
from typing import Any

# Lazy index: ``callbacks.X`` imports only the file that defines X (PEP 562), so importing one
# member never loads the others' dependencies.
_EXPORTS = {
    "AttentionHeatmap": "callbacks.attention_heatmap",
    "ConfusionMatrixFigure": "callbacks.confusion_matrix",
    "ConvFilters": "callbacks.conv_filters",
    "FeatureMaps": "callbacks.feature_maps",
    "ImageGrids": "callbacks.image_grids",
    "LabelHistogram": "callbacks.label_histogram",
    "LatentScatter": "callbacks.latent_figures",
    "LatentTraversal": "callbacks.latent_figures",
    "LossCurves": "callbacks.image_grids",
    "MisclassifiedExamples": "callbacks.misclassified",
    "ParameterCounts": "callbacks.parameter_counts",
    "PeriodicCheckpoint": "callbacks.periodic_checkpoint",
    "PhasedFinetuning": "callbacks.finetuning",
    "PredictionWriter": "callbacks.prediction_writer",
    "SampleGrid": "callbacks.sample_grid",
    "TaskEarlyStopping": "callbacks.early_stopping",
    "WeightImages": "callbacks.weight_images",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
