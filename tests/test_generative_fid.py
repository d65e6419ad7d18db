"""MNIST-FID: the Frechet distance against closed forms, and the feature net's loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from datamodules.readers import find_file, read_idx
from datamodules.sources import EMBEDDED_DIR
from lab_modules.fid import load_feature_net, mnist_fid
from lab_modules.nets.mnist_features import MNISTFeatureNet, accuracy
from labcore.errors import LabError


class Flat(nn.Module):
    """'Images' N x 1 x 1 x d -> features N x d: the Frechet distance of the raw values."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.num_features = d

    def forward(self, x):
        return x.flatten(1).double()


def frechet_scipy(x: np.ndarray, y: np.ndarray) -> float:
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def _fid(x: torch.Tensor, y: torch.Tensor) -> float:
    d = x.shape[1]
    m = FrechetInceptionDistance(feature=Flat(d), normalize=True)
    m.update(x.view(-1, 1, 1, d), real=True)
    m.update(y.view(-1, 1, 1, d), real=False)
    return float(m.compute())


def test_frechet_distance_known_cases():
    g = torch.Generator().manual_seed(0)
    # 1-d Gaussians built to have exactly mean 0 / var 1 and mean 3 / var 4: d^2 = 9 + 1 + 4 - 2*2 = 10
    z = torch.randn(4000, 1, generator=g, dtype=torch.float64)
    z = (z - z.mean()) / z.std()
    assert _fid(z, 3 + 2 * z) == pytest.approx(10.0, rel=1e-4)
    # identical sets -> 0; a pure shift by (1, 2) -> |shift|^2 = 5
    x = torch.randn(500, 2, generator=g, dtype=torch.float64)
    assert _fid(x, x) == pytest.approx(0.0, abs=1e-5)
    assert _fid(x, x + torch.tensor([1.0, 2.0], dtype=torch.float64)) == pytest.approx(5.0, rel=1e-4)
    # correlated 3-d case against scipy's sqrtm formula
    y = x.new_tensor(np.random.default_rng(1).normal(size=(500, 3)) @ np.array([[1, 0.5, 0], [0, 1, 0.3], [0, 0, 2.0]]))
    x3 = torch.randn(500, 3, generator=g, dtype=torch.float64)
    assert _fid(x3, y) == pytest.approx(frechet_scipy(x3.numpy(), y.numpy()), rel=1e-3)


def _mnist_test(n: int):
    x = read_idx(find_file(EMBEDDED_DIR / "mnist", "t10k-images-idx3-ubyte"))[:n].unsqueeze(1).float() / 255
    y = read_idx(find_file(EMBEDDED_DIR / "mnist", "t10k-labels-idx1-ubyte"))[:n].long()
    return x, y


def test_shipped_feature_net_classifies_and_separates_real_from_noise():
    net = load_feature_net()
    x, y = _mnist_test(400)
    assert accuracy(net, x, y) > 0.95
    fid_real = mnist_fid(net)
    fid_real.update(x[:200], real=True)
    fid_real.update(x[200:], real=False)
    fid_noise = mnist_fid(load_feature_net())
    fid_noise.update(x[:200], real=True)
    fid_noise.update(torch.rand(200, 1, 28, 28, generator=torch.Generator().manual_seed(0)), real=False)
    assert float(fid_real.compute()) * 10 < float(fid_noise.compute())


def test_feature_net_from_lightning_checkpoint_and_errors(tmp_path):
    net = MNISTFeatureNet(channels=[8, 16], hidden=32)
    ckpt = tmp_path / "c.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.cnn.state_dict().items()}}, ckpt)
    loaded = load_feature_net(ckpt)
    assert loaded.num_features == 32
    x = torch.rand(4, 1, 28, 28)
    torch.testing.assert_close(loaded(x), net(x))
    with pytest.raises(LabError, match="mnist_fid_cnn.yaml"):
        load_feature_net(tmp_path / "missing.ckpt")
    torch.save({"weight": torch.zeros(3)}, tmp_path / "bad.pt")
    with pytest.raises(LabError, match="not a SmallCNN"):
        load_feature_net(tmp_path / "bad.pt")
