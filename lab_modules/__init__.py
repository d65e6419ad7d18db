"""LightningModules, one per task. Networks live in ``lab_modules.nets``."""

from importlib import import_module
from typing import Any

# Lazy index: ``lab_modules.X`` imports only the file that defines X (PEP 562), so importing one
# member never loads the others' dependencies.
_EXPORTS = {
    "Classifier": "lab_modules.classifier",
    "CycleGAN": "lab_modules.cyclegan",
    "DenoisingAutoencoder": "lab_modules.autoencoder",
    "GAN": "lab_modules.gan",
    "LabTask": "lab_modules.task",
    "Segmenter": "lab_modules.segmenter",
    "VAE": "lab_modules.vae",
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
