"""Plain ``torch.nn`` networks. Nothing in this package imports Lightning."""

from lab_modules.nets.cnn import SimpleCNN, SmallCNN
from lab_modules.nets.mlp import MLP
from lab_modules.nets.params import count_parameters
from lab_modules.nets.resnet import ResNet18
from lab_modules.nets.vgg import VGG16

__all__ = ["count_parameters", "MLP", "SmallCNN", "SimpleCNN", "VGG16", "ResNet18"]

from lab_modules.nets.attention import MultiHeadAttention  # noqa: E402
from lab_modules.nets.bert_gru import BertGRU  # noqa: E402
from lab_modules.nets.bow_mlp import BagOfWordsMLP  # noqa: E402
from lab_modules.nets.encoder_classifier import EncoderClassifier  # noqa: E402
from lab_modules.nets.prefix_tuning import PrefixTuningClassifier  # noqa: E402
from lab_modules.nets.rnn_text import RNNTextClassifier  # noqa: E402
from lab_modules.nets.transformer_text import AttentionToyClassifier, TransformerTextClassifier  # noqa: E402

__all__ += ["MultiHeadAttention", "RNNTextClassifier", "BagOfWordsMLP", "TransformerTextClassifier",
            "AttentionToyClassifier", "EncoderClassifier", "BertGRU", "PrefixTuningClassifier"]
