"""Plain ``torch.nn`` networks. Nothing in this package imports Lightning."""

from lab_modules.nets.cnn import SimpleCNN, SmallCNN
from lab_modules.nets.mlp import MLP
from lab_modules.nets.params import count_parameters
from lab_modules.nets.resnet import ResNet18
from lab_modules.nets.vgg import VGG16

__all__ = ["count_parameters", "MLP", "SmallCNN", "SimpleCNN", "VGG16", "ResNet18"]

# Vision labs (issue 3)
from lab_modules.nets.conv_pool_linear import ConvPoolLinear  # noqa: E402
from lab_modules.nets.lenet import LeNet  # noqa: E402
from lab_modules.nets.transfer import TransferResNet18  # noqa: E402

__all__ += ["ConvPoolLinear", "LeNet", "TransferResNet18"]
