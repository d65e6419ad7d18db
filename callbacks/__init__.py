"""Figures and reports: logged to every attached logger and saved as PNG in the run directory."""

from callbacks.confusion_matrix import ConfusionMatrixFigure
from callbacks.prediction_writer import PredictionWriter
from callbacks.sample_grid import SampleGrid

__all__ = ["ConfusionMatrixFigure", "SampleGrid", "PredictionWriter"]

# Vision labs (issue 3)
from callbacks.conv_filters import ConvFilters  # noqa: E402
from callbacks.feature_maps import FeatureMaps  # noqa: E402
from callbacks.finetuning import PhasedFinetuning  # noqa: E402
from callbacks.label_histogram import LabelHistogram  # noqa: E402
from callbacks.misclassified import MisclassifiedExamples  # noqa: E402
from callbacks.weight_images import WeightImages  # noqa: E402

__all__ += ["LabelHistogram", "WeightImages", "ConvFilters", "FeatureMaps", "MisclassifiedExamples", "PhasedFinetuning"]
