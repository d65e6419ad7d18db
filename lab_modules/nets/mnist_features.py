"""The feature network of the MNIST Frechet distance: a SmallCNN's penultimate activations."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lab_modules.nets.cnn import SmallCNN

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class MNISTFeatureNet(nn.Module):
    """Images in [0, 1] (N x 1 x 28 x 28) -> ``hidden``-d ReLU features of a trained SmallCNN
    (no BatchNorm). ``num_features`` is read by torchmetrics' FrechetInceptionDistance."""

    def __init__(self, channels: list[int] = [32, 64], hidden: int = 128) -> None:  # noqa: B006
        super().__init__()
        self.cnn = SmallCNN(in_channels=1, image_size=28, channels=channels, hidden=hidden, num_classes=10)
        self.num_features = hidden
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> MNISTFeatureNet:
        return super().train(False)  # frozen: always in eval mode (dropout off)

    def forward(self, image: Tensor) -> Tensor:
        x = (image.float() - MNIST_MEAN) / MNIST_STD
        return self.cnn.classifier[:3](self.cnn.features(x))

    def logits(self, image: Tensor) -> Tensor:
        return self.cnn.classifier[3:](self(image))

    @classmethod
    def from_state_dict(cls, state: dict[str, Tensor]) -> MNISTFeatureNet:
        """Build from a SmallCNN state dict (keys ``features.*``, ``classifier.*``), reading the
        widths from the weight shapes."""
        convs = sorted(
            (int(k.split(".")[1]), v) for k, v in state.items() if k.startswith("features.") and v.dim() == 4
        )
        if not convs or "classifier.1.weight" not in state:
            raise ValueError("not a SmallCNN state dict (needs features.N.weight and classifier.1.weight)")
        if any(k.endswith("running_mean") for k in state):
            raise ValueError(
                "SmallCNN with batchnorm is not supported as a feature net; train it with batchnorm: false"
            )
        net = cls(channels=[int(v.shape[0]) for _, v in convs], hidden=int(state["classifier.1.weight"].shape[0]))
        net.cnn.load_state_dict({k: v.float() for k, v in state.items()})
        return net

    def state_for_export(self) -> dict[str, Tensor]:
        """float16 copies (half the file size); ``from_state_dict`` loads them back as float32."""
        return {k: v.detach().half().clone() for k, v in self.cnn.state_dict().items()}


@torch.no_grad()
def accuracy(net: MNISTFeatureNet, images: Tensor, labels: Tensor) -> float:
    return (net.logits(images).argmax(-1) == labels).float().mean().item()
