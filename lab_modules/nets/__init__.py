"""Plain ``torch.nn`` networks. Nothing in this package imports Lightning."""

from labcore.lazy import lazy_index

# Lazy index: ``lab_modules.nets.X`` imports only the file that defines X (PEP 562), so importing one
# member never loads the others' dependencies.
_EXPORTS = {
    "AirbenchNet": "lab_modules.nets.airbench_net",
    "AttentionToyClassifier": "lab_modules.nets.transformer_text",
    "BagOfWordsMLP": "lab_modules.nets.bow_mlp",
    "BertGRU": "lab_modules.nets.bert_gru",
    "ConvAutoencoder": "lab_modules.nets.autoencoder",
    "ConvPoolLinear": "lab_modules.nets.conv_pool_linear",
    "ConvVAE": "lab_modules.nets.vae",
    "count_parameters": "lab_modules.nets.params",
    "DCGANDiscriminator": "lab_modules.nets.gan",
    "DCGANGenerator": "lab_modules.nets.gan",
    "EncoderClassifier": "lab_modules.nets.encoder_classifier",
    "LeNet": "lab_modules.nets.lenet",
    "MLP": "lab_modules.nets.mlp",
    "MLPDiscriminator": "lab_modules.nets.gan",
    "MLPGenerator": "lab_modules.nets.gan",
    "MLPVAE": "lab_modules.nets.vae",
    "MNISTFeatureNet": "lab_modules.nets.mnist_features",
    "MultiHeadAttention": "lab_modules.nets.attention",
    "PatchDiscriminator": "lab_modules.nets.cyclegan",
    "PrefixTuningClassifier": "lab_modules.nets.prefix_tuning",
    "ResNet18": "lab_modules.nets.resnet",
    "ResnetGenerator": "lab_modules.nets.cyclegan",
    "RNNForecaster": "lab_modules.nets.forecasters",
    "RNNSeq2Seq": "lab_modules.nets.rnn_seq2seq",
    "RNNTextClassifier": "lab_modules.nets.rnn_text",
    "SimpleCNN": "lab_modules.nets.cnn",
    "SmallCNN": "lab_modules.nets.cnn",
    "TabularMLP": "lab_modules.nets.tabular_mlp",
    "TorchvisionDetector": "lab_modules.nets.detection",
    "TransferResNet18": "lab_modules.nets.transfer",
    "TransformerSeq2Seq": "lab_modules.nets.transformer_seq2seq",
    "TransformerTextClassifier": "lab_modules.nets.transformer_text",
    "UNet": "lab_modules.nets.unet",
    "VGG16": "lab_modules.nets.vgg",
    "WindowMLP": "lab_modules.nets.forecasters",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_index(__name__, _EXPORTS)
