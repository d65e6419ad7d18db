"""LightningModules, one per task. Networks live in ``lab_modules.nets``."""

from lab_modules.classifier import Classifier

__all__ = ["Classifier"]
