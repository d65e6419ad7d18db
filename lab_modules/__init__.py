"""LightningModules, one per task. Networks live in ``lab_modules.nets``."""

from lab_modules.classifier import Classifier

__all__ = ["Classifier"]
from lab_modules.gan import GAN

__all__ += ["GAN"]
from lab_modules.autoencoder import DenoisingAutoencoder
from lab_modules.vae import VAE

__all__ += ["VAE", "DenoisingAutoencoder"]
from lab_modules.cyclegan import CycleGAN

__all__ += ["CycleGAN"]
from lab_modules.segmenter import Segmenter

__all__ += ["Segmenter"]
