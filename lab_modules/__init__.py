"""LightningModules, one per task. Networks live in ``lab_modules.nets``."""

from lab_modules.autoencoder import DenoisingAutoencoder
from lab_modules.classifier import Classifier
from lab_modules.cyclegan import CycleGAN
from lab_modules.gan import GAN
from lab_modules.segmenter import Segmenter
from lab_modules.vae import VAE

__all__ = ["Classifier", "CycleGAN", "DenoisingAutoencoder", "GAN", "Segmenter", "VAE"]
