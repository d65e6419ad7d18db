"""Source resolution, embedded samples, splits, and the formats each datamodule reads."""

from __future__ import annotations

import gzip
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from datamodules import CIFAR10DataModule, ImageFolderDataModule, MNISTDataModule
from datamodules.sources import EMBEDDED_DIR
from labcore.errors import DataSourceError


def test_auto_falls_back_to_embedded_offline(caplog):
    dm = MNISTDataModule()  # DL_LABS_DATA is an empty tmp dir and DL_LABS_OFFLINE=1 (conftest)
    with pytest.warns(UserWarning, match="EMBEDDED"):
        dm.setup("fit")
    assert dm.resolved_source == "embedded" and dm.hparams["resolved_source"] == "embedded"
    assert len(dm.datasets["train"]) == 4500 and len(dm.datasets["val"]) == 500 and len(dm.datasets["test"]) == 1000


def test_download_offline_is_a_clear_error():
    with pytest.raises(DataSourceError, match="no network.*source embedded"):
        MNISTDataModule(source="download").setup("fit")


def test_auto_prefers_a_full_local_copy(tmp_path, monkeypatch):
    data = tmp_path / "data_cache" / "MNIST" / "raw"
    data.mkdir(parents=True)
    for f in (EMBEDDED_DIR / "mnist").glob("*.gz"):
        (data / f.name).write_bytes(f.read_bytes())
    dm = MNISTDataModule()
    dm.setup("fit")
    assert dm.resolved_source == "path"


def test_split_depends_on_split_seed_only():
    a, b = MNISTDataModule(source="embedded"), MNISTDataModule(source="embedded")
    torch.manual_seed(1)
    a.setup()
    torch.manual_seed(2)
    b.setup()
    assert torch.equal(a.datasets["val"].labels, b.datasets["val"].labels)
    c = MNISTDataModule(source="embedded", split_seed=1)
    c.setup()
    assert not torch.equal(a.datasets["val"].images, c.datasets["val"].images)


def test_batches_are_dicts_of_named_tensors():
    dm = MNISTDataModule(source="embedded", batch_size=32)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"image", "label"}
    assert batch["image"].shape == (32, 1, 28, 28) and batch["image"].dtype == torch.float32
    assert batch["label"].dtype == torch.int64
    assert abs(float(dm.datasets["train"].images.mean())) < 0.1  # normalised


def test_cifar_embedded_and_augmentation_shapes():
    dm = CIFAR10DataModule(source="embedded", augment=True, batch_size=8)
    dm.setup()
    assert dm.num_classes == 10 and dm.input_shape == [3, 32, 32]
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (8, 3, 32, 32)
    assert len(dm.datasets["test"]) == 400  # 20% of the 2000 embedded images held out


def _write_tree(root, classes, n=6, size=20):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / c / f"{i}.png")


def test_image_folder_reads_class_folders_and_resizes(tmp_path):
    _write_tree(tmp_path / "pets", ["dog", "cat"], size=20)
    dm = ImageFolderDataModule(path=str(tmp_path / "pets"), image_size=16, val_fraction=0.25, test_fraction=0.25)
    assert dm.class_names == ["cat", "dog"] and dm.model_info()["num_classes"] == 2
    dm.setup()
    assert dm.datasets["train"].images.shape[1:] == (3, 16, 16)
    assert len(dm.datasets["train"]) + len(dm.datasets["val"]) + len(dm.datasets["test"]) == 12


def test_image_folder_embedded_class_subset():
    dm = ImageFolderDataModule(source="embedded", classes=["cat", "dog"])
    dm.setup()
    labels = torch.cat([dm.datasets[s].labels for s in ("train", "val", "test")])
    assert set(labels.tolist()) == {0, 1} and len(labels) == 400


def test_cifar_reads_a_tarball_with_train_and_test(tmp_path):
    src = tmp_path / "tree"
    _write_tree(src / "train", ["airplane", "cat"], size=32)
    _write_tree(src / "test", ["airplane", "cat"], n=2, size=32)
    tar_path = tmp_path / "c.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        tar.add(src / "train", arcname="train")
        tar.add(src / "test", arcname="test")
    dm = CIFAR10DataModule(path=str(tar_path), val_fraction=0.5)
    dm.setup()
    assert len(dm.datasets["test"]) == 4 and len(dm.datasets["train"]) == 6
    assert set(dm.datasets["test"].labels.tolist()) == {0, 3}  # CIFAR's own label order


def test_corrupt_idx_file_is_a_clear_error(tmp_path):
    for stem in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        with gzip.open(tmp_path / f"{stem}.gz", "wb") as f:
            f.write(b"not an idx file at all")
    with pytest.raises(DataSourceError, match="not an IDX file"):
        MNISTDataModule(path=str(tmp_path)).setup()
