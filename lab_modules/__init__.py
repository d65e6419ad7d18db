"""LightningModules, one per task. Networks live in ``lab_modules.nets``."""

from labcore.lazy import lazy_index

# Lazy index: ``lab_modules.X`` imports only the file that defines X (PEP 562), so importing one
# member never loads the others' dependencies.
_EXPORTS = {
    "Classifier": "lab_modules.classifier",
    "CycleGAN": "lab_modules.cyclegan",
    "DenoisingAutoencoder": "lab_modules.autoencoder",
    "Detector": "lab_modules.detector",
    "GAN": "lab_modules.gan",
    "LabTask": "lab_modules.task",
    "Regressor": "lab_modules.regressor",
    "Segmenter": "lab_modules.segmenter",
    "Seq2Seq": "lab_modules.seq2seq",
    "VAE": "lab_modules.vae",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_index(__name__, _EXPORTS)
