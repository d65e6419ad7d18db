"""Figures and reports: logged to every attached logger and saved as PNG in the run directory."""

from labcore.lazy import lazy_index

# Lazy index: ``callbacks.X`` imports only the file that defines X (PEP 562), so importing one
# member never loads the others' dependencies.
_EXPORTS = {
    "AttentionHeatmap": "callbacks.attention_heatmap",
    "BinaryCurves": "callbacks.binary_curves",
    "ChannelsLast": "callbacks.channels_last",
    "CompileNet": "callbacks.compile_net",
    "ConfusionMatrixFigure": "callbacks.confusion_matrix",
    "ConvFilters": "callbacks.conv_filters",
    "FeatureMaps": "callbacks.feature_maps",
    "ForecastFigures": "callbacks.forecast_figures",
    "ImageGrids": "callbacks.image_grids",
    "LabelHistogram": "callbacks.label_histogram",
    "LatentScatter": "callbacks.latent_figures",
    "LatentTraversal": "callbacks.latent_figures",
    "Lookahead": "callbacks.lookahead",
    "LossCurves": "callbacks.image_grids",
    "MisclassifiedExamples": "callbacks.misclassified",
    "ParameterCounts": "callbacks.parameter_counts",
    "PeriodicCheckpoint": "callbacks.periodic_checkpoint",
    "PhasedFinetuning": "callbacks.finetuning",
    "PredictedVsActual": "callbacks.regression_figures",
    "PredictionWriter": "callbacks.prediction_writer",
    "SampleGrid": "callbacks.sample_grid",
    "TaskEarlyStopping": "callbacks.early_stopping",
    "TranslationAttention": "callbacks.translation_figures",
    "TranslationSamples": "callbacks.translation_figures",
    "WeightImages": "callbacks.weight_images",
    "WhiteningInit": "callbacks.whitening",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_index(__name__, _EXPORTS)
