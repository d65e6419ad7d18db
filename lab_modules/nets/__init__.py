"""Plain ``torch.nn`` networks. Nothing in this package imports Lightning."""

from lab_modules.nets.cnn import SimpleCNN, SmallCNN
from lab_modules.nets.mlp import MLP
from lab_modules.nets.params import count_parameters
from lab_modules.nets.resnet import ResNet18
from lab_modules.nets.vgg import VGG16

__all__ = ["count_parameters", "MLP", "SmallCNN", "SimpleCNN", "VGG16", "ResNet18"]
from lab_modules.nets.autoencoder import ConvAutoencoder
from lab_modules.nets.cyclegan import PatchDiscriminator, ResnetGenerator
from lab_modules.nets.gan import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from lab_modules.nets.mnist_features import MNISTFeatureNet
from lab_modules.nets.unet import UNet
from lab_modules.nets.vae import ConvVAE, MLPVAE

__all__ += ["MLPGenerator", "MLPDiscriminator", "DCGANGenerator", "DCGANDiscriminator", "ResnetGenerator",
            "PatchDiscriminator", "MLPVAE", "ConvVAE", "ConvAutoencoder", "UNet", "MNISTFeatureNet"]
