"""The CIFAR-10 ablation lab as the report writes it: SmallCNN conv32-pool-conv64-pool-fc128-fc10 (optional
BatchNorm after each conv), SGD lr 0.01 momentum 0.9, batch 64 (eval 500), 10 epochs on the CIFAR-10 JPEG
subset, images standardised with the published CIFAR mean/std; ``--augment``: RandomCrop(32, padding 4) +
horizontal flip per sample with torchvision transforms. Held out as our CIFAR10DataModule does: test 20%,
then val 10% of the pool.

    python benchmarks/peers/cifar_smallcnn.py \
        --data ../shared/data/cifar10_jpg_subset/cifar10_train_first1000perclass.tar.gz [--bn] [--augment]
"""

import time
from pathlib import Path

import torch
import torch.nn as nn
from _common import finish, parser, read_jpeg_tar, setup, split
from PIL import Image
from torch.utils.data import DataLoader, Dataset, TensorDataset
from torchvision import transforms

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


class SmallCNN(nn.Module):
    def __init__(self, batchnorm=False):
        super().__init__()
        layers, c = [], 3
        for c_out in (32, 64):
            layers.append(nn.Conv2d(c, c_out, 3, padding=1))
            if batchnorm:
                layers.append(nn.BatchNorm2d(c_out))
            layers += [nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c = c_out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU(inplace=True), nn.Dropout(0.0), nn.Linear(128, 10)
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class AugmentedImages(Dataset):
    """uint8 H x W x C images through a torchvision transform, one sample at a time."""

    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


def normalised(images):
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255)
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def evaluate(model, loader):
    model.eval()
    correct, total = 0, 0
    with torch.no_grad():
        for images, labels in loader:
            correct += (model(images).argmax(1) == labels).sum().item()
            total += labels.size(0)
    return correct / total


def main():
    p = parser(__doc__, epochs=10)
    p.add_argument("--bn", action="store_true", help="BatchNorm after each conv (the report's BN variant)")
    p.add_argument("--augment", action="store_true", help="RandomCrop(32, padding=4) + RandomHorizontalFlip")
    args = p.parse_args()
    setup(args)
    images, labels, _ = read_jpeg_tar(Path(args.data))
    y = torch.from_numpy(labels).long()
    train_idx, val_idx, test_idx = split(len(y), val=0.1, test=0.2)
    x = normalised(images)
    if args.augment:
        transform = transforms.Compose(
            [
                transforms.RandomCrop(32, padding=4),
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
                transforms.Normalize(MEAN, STD),
            ]
        )
        train_set = AugmentedImages(images[train_idx.numpy()], y[train_idx], transform)
    else:
        train_set = TensorDataset(x[train_idx], y[train_idx])
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    val_loader = DataLoader(TensorDataset(x[val_idx], y[val_idx]), batch_size=500)
    test_loader = DataLoader(TensorDataset(x[test_idx], y[test_idx]), batch_size=500)
    print(f"train {len(train_idx)}, val {len(val_idx)}, test {len(test_idx)}")
    model = SmallCNN(batchnorm=args.bn)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        running_loss, correct, total = 0.0, 0, 0
        for images_b, labels_b in train_loader:
            optimizer.zero_grad()
            outputs = model(images_b)
            loss = criterion(outputs, labels_b)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            correct += (outputs.argmax(1) == labels_b).sum().item()
            total += labels_b.size(0)
        val_acc = evaluate(model, val_loader)
        train_loss, train_acc = running_loss / len(train_loader), correct / total
        print(f"epoch {epoch + 1}: loss {train_loss:.4f} acc {train_acc:.4f} val {val_acc:.4f}")
    train_seconds = time.time() - start
    test_acc = evaluate(model, test_loader)
    print(f"test accuracy {test_acc:.4f}")
    finish(train_seconds, test_acc=test_acc)


if __name__ == "__main__":
    main()
