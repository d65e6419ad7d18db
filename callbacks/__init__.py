"""Figures and reports: logged to every attached logger and saved as PNG in the run directory."""

from callbacks.attention_heatmap import AttentionHeatmap
from callbacks.confusion_matrix import ConfusionMatrixFigure
from callbacks.conv_filters import ConvFilters
from callbacks.feature_maps import FeatureMaps
from callbacks.finetuning import PhasedFinetuning
from callbacks.image_grids import ImageGrids, LossCurves
from callbacks.label_histogram import LabelHistogram
from callbacks.misclassified import MisclassifiedExamples
from callbacks.parameter_counts import ParameterCounts
from callbacks.periodic_checkpoint import PeriodicCheckpoint
from callbacks.prediction_writer import PredictionWriter
from callbacks.sample_grid import SampleGrid
from callbacks.weight_images import WeightImages

__all__ = ["AttentionHeatmap", "ConfusionMatrixFigure", "ConvFilters", "FeatureMaps", "ImageGrids",
           "LabelHistogram", "LossCurves", "MisclassifiedExamples", "ParameterCounts", "PeriodicCheckpoint",
           "PhasedFinetuning", "PredictionWriter", "SampleGrid", "WeightImages"]
