"""The airbench94 CIFAR-10 net (Keller Jordan, github.com/KellerJordan/cifar10-airbench, MIT) as a plain module.

Same layers, widths, initialisation and BatchNorm settings as ``make_net94``; two things are re-expressed so that
the net trains with ONE optimizer parameter group (our Classifier's) and still follows the recipe:

* airbench gives BatchNorm biases a 64x learning rate (``bias_scaler``) in their own SGD group with
  ``weight_decay = wd / lr_biases``. Here each bias is ``bias_scale * shift`` with ``bias_scale = sqrt(64) = 8``: SGD on
  ``shift`` with the common lr moves the bias ``8**2 = 64`` times as far per gradient, and the decoupled decay (``wd``
  fraction per step) and (Nesterov) momentum are linear, so the updates of the bias are exactly airbench's.
* the frozen BatchNorm weights (all ones, ``requires_grad=False`` in airbench) are left out (``affine=False``).

The whitening conv is frozen and set from data patches by ``init_whitening`` (``callbacks.WhiteningInit`` calls it in
``setup``); its bias trains for the first epochs only (the callback freezes it). ``tta_level`` is airbench's test-time
augmentation, applied in eval mode: 0 none, 1 mean of the image and its mirror, 2 also one-pixel translations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from labcore.errors import LabError


class ScaledBiasBatchNorm(nn.BatchNorm2d):
    """BatchNorm without scale whose bias is ``bias_scale * shift`` (an lr multiplier of ``bias_scale**2`` under SGD).

    ``momentum`` is airbench's (the weight of the OLD running statistics), so torch's momentum is ``1 - momentum``.
    """

    def __init__(self, num_features: int, momentum: float = 0.6, eps: float = 1e-12, bias_scale: float = 8.0) -> None:
        super().__init__(num_features, eps=eps, momentum=1 - momentum, affine=False)
        self.bias_scale = bias_scale
        self.shift = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: Tensor) -> Tensor:
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            None,
            self.shift * self.bias_scale,
            self.training,
            self.momentum,
            self.eps,
        )


class DiracConv(nn.Conv2d):
    """Conv with torch's default init, then identity (Dirac) kernels on the first ``in_channels`` outputs."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3, padding: int | str = "same", bias: bool = False):
        super().__init__(c_in, c_out, kernel_size=kernel_size, padding=padding, bias=bias)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.bias is not None:
            self.bias.data.zero_()
        w = self.weight.data
        torch.nn.init.dirac_(w[: w.size(1)])


class ConvGroup(nn.Module):
    """``conv -> maxpool 2 -> BN -> GELU -> conv -> BN -> GELU``."""

    def __init__(self, c_in: int, c_out: int, bn_momentum: float, bn_eps: float, bias_scale: float) -> None:
        super().__init__()
        self.conv1 = DiracConv(c_in, c_out)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = ScaledBiasBatchNorm(c_out, bn_momentum, bn_eps, bias_scale)
        self.conv2 = DiracConv(c_out, c_out)
        self.norm2 = ScaledBiasBatchNorm(c_out, bn_momentum, bn_eps, bias_scale)
        self.activ = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(x)))


class AirbenchNet(nn.Module):
    """airbench94's net: 2x2 whitening conv (24 channels) -> GELU -> three conv groups (64/256/256) -> maxpool 3
    -> linear (no bias) -> times ``scaling_factor``. Expects 3 x 32 x 32 images standardised with the CIFAR mean/std.

    Args:
        widths: output channels of the three conv groups.
        num_classes: filled from the data.
        bn_momentum / bn_eps: airbench's BatchNorm settings (0.6, i.e. torch momentum 0.4; eps 1e-12).
        bias_scaler: airbench's learning-rate multiplier of the BatchNorm biases (see the module docstring).
        scaling_factor: the logits' scale (1/9).
        tta_level: test-time augmentation in eval mode (0 none, 1 mirror, 2 mirror + translate).
    """

    whiten_kernel = 2

    def __init__(
        self,
        widths: list[int] = [64, 256, 256],  # noqa: B006
        num_classes: int = 10,
        bn_momentum: float = 0.6,
        bn_eps: float = 1e-12,
        bias_scaler: float = 64.0,
        scaling_factor: float = 1 / 9,
        tta_level: int = 2,
    ) -> None:
        super().__init__()
        if tta_level not in (0, 1, 2):
            raise LabError(f"AirbenchNet tta_level={tta_level}: pass 0 (none), 1 (mirror) or 2 (mirror + translate)")
        k = self.whiten_kernel
        whiten_width = 2 * 3 * k**2
        bias_scale = bias_scaler**0.5
        self.whiten = DiracConv(3, whiten_width, kernel_size=k, padding=0, bias=True)
        self.whiten.weight.requires_grad_(False)
        self.activ = nn.GELU()
        groups, c = [], whiten_width
        for w in widths:
            groups.append(ConvGroup(c, w, bn_momentum, bn_eps, bias_scale))
            c = w
        self.groups = nn.Sequential(*groups)
        self.pool = nn.MaxPool2d(3)
        self.head = nn.Linear(c, num_classes, bias=False)
        self.scaling_factor = scaling_factor
        self.tta_level = tta_level

    def logits(self, image: Tensor) -> Tensor:
        """One forward pass, no test-time augmentation."""
        x = self.pool(self.groups(self.activ(self.whiten(image))))
        return self.head(x.flatten(1)) * self.scaling_factor

    def forward(self, image: Tensor) -> Tensor:
        if self.training or self.tta_level == 0:
            return self.logits(image)
        logits = self._mirror(image)
        if self.tta_level == 1:
            return logits
        padded = F.pad(image, (1,) * 4, "reflect")
        h, w = image.shape[-2:]
        shifted = [padded[:, :, :h, :w], padded[:, :, 2 : h + 2, 2 : w + 2]]
        translated = torch.stack([self._mirror(s) for s in shifted]).mean(0)
        return 0.5 * logits + 0.5 * translated

    def _mirror(self, image: Tensor) -> Tensor:
        return 0.5 * self.logits(image) + 0.5 * self.logits(image.flip(-1))

    @torch.no_grad()
    def init_whitening(self, images: Tensor, eps: float = 5e-4) -> None:
        """Set the whitening conv to the eigenvectors of the covariance of ``k x k`` patches of ``images``
        (standardised float N x 3 x H x W; airbench uses the first 5000 training images), scaled by
        ``1 / sqrt(eigenvalue + eps)``, and their negatives."""
        k = self.whiten_kernel
        x = images.float()
        c = x.shape[1]
        patches = x.unfold(2, k, 1).unfold(3, k, 1).transpose(1, 3).reshape(-1, c * k * k)
        cov = patches.T @ patches / len(patches)
        eigenvalues, eigenvectors = torch.linalg.eigh(cov, UPLO="U")
        eigenvalues = eigenvalues.flip(0).view(-1, 1, 1, 1)
        eigenvectors = eigenvectors.T.reshape(c * k * k, c, k, k).flip(0)
        scaled = eigenvectors / torch.sqrt(eigenvalues + eps)
        weight = self.whiten.weight
        weight.copy_(torch.cat((scaled, -scaled)).to(weight.device, weight.dtype))

    def train_whitening_bias(self, on: bool) -> None:
        """airbench trains the whitening conv's bias for the first epochs only (its weight never)."""
        self.whiten.bias.requires_grad_(on)
