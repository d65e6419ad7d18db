"""Plain ``torch.nn`` networks. Nothing in this package imports Lightning."""

from lab_modules.nets.attention import MultiHeadAttention
from lab_modules.nets.autoencoder import ConvAutoencoder
from lab_modules.nets.bert_gru import BertGRU
from lab_modules.nets.bow_mlp import BagOfWordsMLP
from lab_modules.nets.cnn import SimpleCNN, SmallCNN
from lab_modules.nets.conv_pool_linear import ConvPoolLinear
from lab_modules.nets.cyclegan import PatchDiscriminator, ResnetGenerator
from lab_modules.nets.encoder_classifier import EncoderClassifier
from lab_modules.nets.gan import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from lab_modules.nets.lenet import LeNet
from lab_modules.nets.mlp import MLP
from lab_modules.nets.mnist_features import MNISTFeatureNet
from lab_modules.nets.params import count_parameters
from lab_modules.nets.prefix_tuning import PrefixTuningClassifier
from lab_modules.nets.resnet import ResNet18
from lab_modules.nets.rnn_text import RNNTextClassifier
from lab_modules.nets.transfer import TransferResNet18
from lab_modules.nets.transformer_text import AttentionToyClassifier, TransformerTextClassifier
from lab_modules.nets.unet import UNet
from lab_modules.nets.vae import ConvVAE, MLPVAE
from lab_modules.nets.vgg import VGG16

__all__ = ["AttentionToyClassifier", "BagOfWordsMLP", "BertGRU", "ConvAutoencoder", "ConvPoolLinear",
           "ConvVAE", "count_parameters", "DCGANDiscriminator", "DCGANGenerator", "EncoderClassifier",
           "LeNet", "MLP", "MLPDiscriminator", "MLPGenerator", "MLPVAE", "MNISTFeatureNet",
           "MultiHeadAttention", "PatchDiscriminator", "PrefixTuningClassifier", "ResNet18",
           "ResnetGenerator", "RNNTextClassifier", "SimpleCNN", "SmallCNN", "TransferResNet18",
           "TransformerTextClassifier", "UNet", "VGG16"]
