"""The MNIST MLP lab as the report writes it: MLP 784-256-128-64-10 (BatchNorm, ReLU, Dropout 0.2, Xavier init),
Adam 1e-4, batch 64, 10 epochs on MNIST, validation every epoch, test at the end.

    python benchmarks/peers/mnist_mlp.py --data ../shared/data/mnist [--epochs 10] [--threads 2]
"""

import time
from pathlib import Path

import torch
import torch.nn as nn
from _common import finish, parser, read_idx, setup, split
from torch.utils.data import DataLoader, TensorDataset


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        layers, width = [nn.Flatten()], 784
        for h in (256, 128, 64):
            layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(0.2)]
            width = h
        layers.append(nn.Linear(width, 10))
        self.layers = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.layers(x)


def load(folder: Path, prefix: str):
    images = torch.from_numpy(read_idx(folder / f"{prefix}-images-idx3-ubyte.gz").copy()).float().div(255)
    labels = torch.from_numpy(read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz").copy()).long()
    return ((images - 0.1307) / 0.3081).unsqueeze(1), labels


def evaluate(model, loader):
    model.eval()
    correct, total = 0, 0
    with torch.no_grad():
        for images, labels in loader:
            correct += (model(images).argmax(1) == labels).sum().item()
            total += labels.size(0)
    return correct / total


def main():
    args = parser(__doc__, epochs=10).parse_args()
    setup(args)
    x, y = load(Path(args.data), "train")
    x_test, y_test = load(Path(args.data), "t10k")
    train_idx, val_idx = split(len(x), val=0.1)
    train_loader = DataLoader(TensorDataset(x[train_idx], y[train_idx]), batch_size=64, shuffle=True)
    val_loader = DataLoader(TensorDataset(x[val_idx], y[val_idx]), batch_size=1000)
    test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=1000)
    model = MLP()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        running_loss, correct, total = 0.0, 0, 0
        for images, labels in train_loader:
            optimizer.zero_grad()
            outputs = model(images)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            correct += (outputs.argmax(1) == labels).sum().item()
            total += labels.size(0)
        val_acc = evaluate(model, val_loader)
        loss = running_loss / len(train_loader)
        print(f"epoch {epoch + 1}: loss {loss:.4f} acc {correct / total:.4f} val {val_acc:.4f}")
    train_seconds = time.time() - start
    test_acc = evaluate(model, test_loader)
    print(f"test accuracy {test_acc:.4f}")
    finish(train_seconds, test_acc=test_acc)


if __name__ == "__main__":
    main()
