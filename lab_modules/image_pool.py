"""The image replay buffer of CycleGAN (Shrivastava et al. 2017): the discriminators see a mix of
current and earlier generated images, which damps oscillation."""

from __future__ import annotations

import torch
from torch import Tensor


class ImagePool:
    """Holds up to ``size`` generated images. ``query(images)``: while filling, returns the new
    images (and stores them); once full, each image is, with probability 1/2, swapped for a
    random stored one (which is returned instead), else returned as is. ``size=0``: no buffer."""

    def __init__(self, size: int = 50) -> None:
        self.size = size
        self.images: list[Tensor] = []

    def query(self, images: Tensor) -> Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand(()) < 0.5:
                i = int(torch.randint(len(self.images), ()))
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.cat(out)
