"""Figures and reports: logged to every attached logger and saved as PNG in the run directory."""

from callbacks.confusion_matrix import ConfusionMatrixFigure
from callbacks.prediction_writer import PredictionWriter
from callbacks.sample_grid import SampleGrid

__all__ = ["ConfusionMatrixFigure", "SampleGrid", "PredictionWriter"]

from callbacks.attention_heatmap import AttentionHeatmap  # noqa: E402
from callbacks.parameter_counts import ParameterCounts  # noqa: E402

__all__ += ["AttentionHeatmap", "ParameterCounts"]

from callbacks.periodic_checkpoint import PeriodicCheckpoint  # noqa: E402

__all__ += ["PeriodicCheckpoint"]
