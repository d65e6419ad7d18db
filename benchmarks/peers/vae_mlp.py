"""The MLP VAE lab as the report writes it, with the target fixed: MLP VAE 784-400-200 -> z (2) -> 200-400-784,
Bernoulli decoder (logits), loss BCE-with-logits summed over pixels / N + KL per sample, images in [0, 1]
(no normalisation); Adam 1e-3, batch 128 (eval 256), 20 epochs on MNIST; validation split 10% of train.
Val / test negative ELBO per sample with one sampled z per image, as our VAE task logs ``val/nelbo``.

    python benchmarks/peers/vae_mlp.py --data ../shared/data/mnist [--epochs 20] [--threads 2]
"""

import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from _common import finish, parser, read_idx, setup, split
from torch.utils.data import DataLoader, TensorDataset


class VAE(nn.Module):
    def __init__(self, latent_dim=2):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 400), nn.ReLU(True), nn.Linear(400, 200), nn.ReLU(True)
        )
        self.mu, self.logvar = nn.Linear(200, latent_dim), nn.Linear(200, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 200), nn.ReLU(True), nn.Linear(200, 400), nn.ReLU(True), nn.Linear(400, 784)
        )

    def forward(self, x):
        h = self.encoder(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.decoder(z).view(-1, 1, 28, 28), mu, logvar


def vae_loss(logits, x, mu, logvar):
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.size(0)
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / x.size(0)
    return recon + kl


def load(folder: Path, prefix: str):
    return torch.from_numpy(read_idx(folder / f"{prefix}-images-idx3-ubyte.gz").copy()).float().div(255).unsqueeze(1)


def evaluate(model, loader):
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for (images,) in loader:
            logits, mu, logvar = model(images)
            total += vae_loss(logits, images, mu, logvar).item() * images.size(0)
            n += images.size(0)
    return total / n


def main():
    args = parser(__doc__, epochs=20).parse_args()
    setup(args)
    x = load(Path(args.data), "train")
    x_test = load(Path(args.data), "t10k")
    train_idx, val_idx = split(len(x), val=0.1)
    train_loader = DataLoader(TensorDataset(x[train_idx]), batch_size=128, shuffle=True)
    val_loader = DataLoader(TensorDataset(x[val_idx]), batch_size=256)
    test_loader = DataLoader(TensorDataset(x_test), batch_size=256)
    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        running_loss = 0.0
        for (images,) in train_loader:
            optimizer.zero_grad()
            logits, mu, logvar = model(images)
            loss = vae_loss(logits, images, mu, logvar)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
        val_nelbo = evaluate(model, val_loader)
        print(f"epoch {epoch + 1}: loss {running_loss / len(train_loader):.2f} val nelbo {val_nelbo:.2f}")
    train_seconds = time.time() - start
    test_nelbo = evaluate(model, test_loader)
    print(f"test nelbo {test_nelbo:.2f}")
    finish(train_seconds, test_nelbo=test_nelbo)


if __name__ == "__main__":
    main()
