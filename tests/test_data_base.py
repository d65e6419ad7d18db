"""The datamodule base: splits, split-name aliases, train-only statistics, the data state in
checkpoints, and test / predict from a checkpoint without the training data."""

from __future__ import annotations

import csv
import shutil
from collections import Counter

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from datamodules import ImageFolderDataModule, MNISTDataModule, SegmentationFolderDataModule, UnpairedImageDataModule
from datamodules.base import canonical_split, ordered_split, seeded_split, split_indices, stratified_split
from datamodules.image_classification import channel_stats
from datamodules.segmentation import find_pairs, read_pairs
from datamodules.sources import EMBEDDED_DIR
from labcore.checkpoints import datamodule_state
from labcore.errors import LabError
from tests.helpers import ROOT, cli, summary


# --- split helpers ---------------------------------------------------------------------------
def test_seeded_split_ignores_the_training_seed():
    torch.manual_seed(1)
    a = split_indices(100, {"test": 0.2, "val": 0.1}, "random", seed=3)
    torch.manual_seed(2)
    b = split_indices(100, {"test": 0.2, "val": 0.1}, "random", seed=3)
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = split_indices(100, {"test": 0.2, "val": 0.1}, "random", seed=4)
    assert not torch.equal(a["test"], c["test"])
    assert sorted(torch.cat(list(a.values())).tolist()) == list(range(100))
    assert (len(a["train"]), len(a["val"]), len(a["test"])) == (70, 10, 20)
    # the dict layout gives the same split as the plain helper (results stay comparable)
    test, val, train = seeded_split(100, [0.2, 0.1], 3)
    assert torch.equal(test, a["test"]) and torch.equal(val, a["val"]) and torch.equal(train, a["train"])


def test_stratified_split_keeps_class_proportions_like_sklearn():
    from sklearn.model_selection import train_test_split

    labels = np.array([0] * 60 + [1] * 30 + [2] * 10)
    rng = np.random.default_rng(0)
    labels = labels[rng.permutation(100)]
    parts = split_indices(100, {"test": 0.2, "val": 0.1}, "stratified", seed=0, labels=labels)
    assert sorted(torch.cat(list(parts.values())).tolist()) == list(range(100))
    for name, size in (("test", 20), ("val", 10), ("train", 70)):
        counts = Counter(labels[parts[name].numpy()].tolist())
        assert sum(counts.values()) == size
        assert counts == {0: size * 6 // 10, 1: size * 3 // 10, 2: size // 10}, (name, counts)
    # the same per-class counts as scikit-learn's own stratified split of the same size
    _, sk_test = train_test_split(np.arange(100), test_size=20, stratify=labels, random_state=0)
    assert Counter(labels[sk_test].tolist()) == Counter(labels[parts["test"].numpy()].tolist())
    torch.manual_seed(5)
    again = stratified_split(labels, [0.2, 0.1], seed=0)
    assert torch.equal(again[0], parts["test"])
    random = split_indices(100, {"test": 0.2, "val": 0.1}, "random", seed=0)
    assert Counter(labels[random["val"].numpy()].tolist()) != {0: 6, 1: 3, 2: 1}  # a random split does not


def test_stratified_split_without_labels_or_with_a_singleton_class_is_one_line():
    with pytest.raises(LabError, match="split random"):
        split_indices(10, {"val": 0.2}, "stratified")
    with pytest.raises(LabError, match="stratified split.*split random"):
        split_indices(10, {"val": 0.3}, "stratified", labels=[0] * 9 + [1])


def test_ordered_split_is_contiguous_train_then_val_then_test():
    parts = split_indices(20, {"test": 0.2, "val": 0.1}, "ordered")
    assert parts["train"].tolist() == list(range(14))
    assert parts["val"].tolist() == [14, 15]
    assert parts["test"].tolist() == [16, 17, 18, 19]
    torch.manual_seed(9)
    assert all(torch.equal(parts[k], split_indices(20, {"test": 0.2, "val": 0.1}, "ordered", seed=7)[k]) for k in parts)
    assert [p.tolist() for p in ordered_split(5, [0.4])] == [[0, 1], [2, 3, 4]]


def test_split_name_aliases():
    for name in ("dev", "validation", "valid", "val", "Dev", "VALIDATION"):
        assert canonical_split(name) == "val"
    assert canonical_split("train") == "train" and canonical_split("test") == "test"
    assert canonical_split("cat") is None and canonical_split("develop") is None


# --- image folder trees ----------------------------------------------------------------------
def _write_tree(root, classes, n=4, size=8, value=None, seed=0):
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            arr = (
                np.full((size, size, 3), value, np.uint8)
                if value is not None
                else rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            )
            Image.fromarray(arr).save(root / c / f"{i:03d}.png")


@pytest.mark.parametrize("val_name", ["dev", "validation", "valid"])
def test_dev_folder_is_the_validation_split(tmp_path, val_name):
    _write_tree(tmp_path / "d" / "train", ["a", "b"], n=6, value=10)
    _write_tree(tmp_path / "d" / val_name, ["a", "b"], n=2, value=100)
    _write_tree(tmp_path / "d" / "test", ["a", "b"], n=3, value=200)
    dm = ImageFolderDataModule(path=str(tmp_path / "d"), image_size=8, normalize=False)
    dm.setup("fit")
    assert {k: len(v) for k, v in dm.datasets.items()} == {"train": 12, "val": 4, "test": 6}
    assert torch.allclose(dm.datasets["val"].images, torch.full_like(dm.datasets["val"].images, 100 / 255))
    assert dm.class_names == ["a", "b"]


def test_image_folder_statistics_are_fitted_on_train_only(tmp_path):
    _write_tree(tmp_path / "d" / "train", ["a", "b"], n=5, value=40)
    _write_tree(tmp_path / "d" / "test", ["a", "b"], n=5, value=220)
    dm = ImageFolderDataModule(path=str(tmp_path / "d"), image_size=8, val_fraction=0.2)
    dm.setup("fit")
    assert dm.mean == pytest.approx([40 / 255] * 3, abs=1e-6)  # not the mean over train + test (130/255)
    assert dm.display_normalization()[0] == dm.mean

    # carved splits: the mean is that of exactly the training part of the pool
    _write_tree(tmp_path / "p", ["a", "b"], n=10, seed=1)
    pool = ImageFolderDataModule(path=str(tmp_path / "p"), image_size=8, val_fraction=0.25, test_fraction=0.25)
    pool.setup("fit")
    raw = pool.datasets["train"].images * torch.tensor(pool.std).view(1, 3, 1, 1) + torch.tensor(pool.mean).view(
        1, 3, 1, 1
    )
    expected, _ = channel_stats((raw * 255).round().to(torch.uint8))
    assert pool.mean == pytest.approx(expected, abs=1e-4)
    everything = torch.cat(
        [
            (
                pool.datasets[s].images * torch.tensor(pool.std).view(1, 3, 1, 1)
                + torch.tensor(pool.mean).view(1, 3, 1, 1)
            )
            for s in ("train", "val", "test")
        ]
    )
    assert pool.mean != pytest.approx(everything.mean(dim=(0, 2, 3)).tolist(), abs=1e-4)
    # MNIST keeps its published constants
    mnist = MNISTDataModule(source="embedded", max_train_samples=64)
    mnist.setup("fit")
    assert mnist.mean == [0.1307] and mnist.std == [0.3081]


def test_stratified_image_split_keeps_class_shares(tmp_path):
    _write_tree(tmp_path / "d", ["a"], n=30, size=4)
    _write_tree(tmp_path / "d", ["b"], n=10, size=4, seed=1)
    dm = ImageFolderDataModule(
        path=str(tmp_path / "d"), image_size=4, split="stratified", val_fraction=0.2, test_fraction=0.2
    )
    dm.setup("fit")
    for split, n in (("val", 8), ("test", 8), ("train", 24)):
        assert torch.bincount(dm.datasets[split].labels, minlength=2).tolist() == [n * 3 // 4, n // 4]


def test_unknown_class_name_is_one_line(tmp_path):
    with pytest.raises(LabError) as err:
        ImageFolderDataModule(source="embedded", classes=["cat", "Dog"]).model_info()
    msg = str(err.value)
    assert "\n" not in msg and "'Dog'" in msg and "'dog'" in msg and "'cat'" in msg and "classes" in msg
    with pytest.raises(LabError, match="unknown classes \\['zebra'\\]"):
        MNISTDataModule(source="embedded", classes=["1", "zebra"]).setup("fit")
    with pytest.raises(LabError, match="twice"):
        ImageFolderDataModule(source="embedded", classes=["cat", "cat"]).model_info()


def test_unknown_class_name_through_the_cli(capsys):
    cfg = str(ROOT / "configs/labs/vision/transfer_pretrain.yaml")
    with pytest.raises(SystemExit) as exc:
        cli("fit", "--config", cfg, "--data.init_args.classes", "[cat, Dog]", "--trainer.max_epochs", "1")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
    assert "'Dog'" in lines[0] and "'dog'" in lines[0]


# --- data state --------------------------------------------------------------------------------
def test_state_round_trip_through_a_checkpoint(tmp_path):
    _write_tree(tmp_path / "d" / "train", ["b", "a"], n=5, value=60)
    _write_tree(tmp_path / "d" / "test", ["b", "a"], n=2, value=90)
    dm = ImageFolderDataModule(path=str(tmp_path / "d"), image_size=8)
    dm.setup("fit")
    state = dm.state_dict()
    assert state["lab_data"] == 1 and state["class_names"] == ["a", "b"] and state["input_shape"] == [3, 8, 8]
    ckpt = tmp_path / "x.ckpt"
    torch.save({"state_dict": {}, "ImageFolderDataModule": state}, ckpt)
    assert datamodule_state(ckpt)["mean"] == state["mean"]
    # restored at construction: no data needed for model_info (the path does not exist)
    restored = ImageFolderDataModule(path=str(tmp_path / "gone"), image_size=8, from_checkpoint=str(ckpt))
    assert restored.model_info()["class_names"] == ["a", "b"] and restored.mean == dm.mean
    assert restored.state_dict() == {**state, "resolved_source": None}
    # Lightning's load_state_dict after setup: a different state rebuilds the datasets with it
    other = ImageFolderDataModule(path=str(tmp_path / "d"), image_size=8)
    other.setup("fit")
    other.load_state_dict({**state, "mean": [0.0] * 3, "std": [1.0] * 3})
    assert other.datasets == {}
    batch = next(iter(other.test_dataloader()))
    assert torch.allclose(batch["image"], torch.full_like(batch["image"], 90 / 255), atol=1e-6)


def test_checkpoint_classes_contradicting_the_config_are_one_line(tmp_path):
    ckpt = tmp_path / "x.ckpt"
    torch.save(
        {
            "ImageFolderDataModule": {
                "lab_data": 1,
                "class_names": ["cat", "dog"],
                "input_shape": [3, 32, 32],
                "mean": [0.5] * 3,
                "std": [0.2] * 3,
            }
        },
        ckpt,
    )
    with pytest.raises(LabError, match="differs from the checkpoint's classes"):
        ImageFolderDataModule(source="embedded", classes=["dog", "cat"], from_checkpoint=str(ckpt)).model_info()


def _tiny_config(tmp_path, data_path) -> str:
    cfg = {
        "model": {
            "class_path": "lab_modules.Classifier",
            "init_args": {
                "net": {"class_path": "lab_modules.nets.MLP", "init_args": {"hidden": [16]}},
                "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": 1e-2}},
            },
        },
        "data": {
            "class_path": "datamodules.ImageFolderDataModule",
            "init_args": {"path": str(data_path), "image_size": 8, "batch_size": 4, "eval_batch_size": 4},
        },
        "trainer": {
            "max_epochs": 1,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "num_sanity_val_steps": 0,
            "callbacks": [],
        },
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_test_and_predict_from_a_checkpoint_without_training_data(tmp_path):
    data = tmp_path / "machine_a" / "pets"
    _write_tree(data / "train", ["cat", "dog", "owl"], n=6, seed=0)
    _write_tree(data / "test", ["cat", "dog", "owl"], n=2, seed=1)
    cfg = _tiny_config(tmp_path, data)
    run = cli("fit", "--config", cfg, runs_dir=tmp_path / "runs", lab="tiny")
    ckpt = run / "checkpoints" / "last.ckpt"
    state = datamodule_state(ckpt)
    assert state["class_names"] == ["cat", "dog", "owl"] and state["input_shape"] == [3, 8, 8]

    # machine B: the same config, only the test split (and only two of the classes) at another path
    test_only = tmp_path / "machine_b" / "pets"
    for c in ("cat", "owl"):
        shutil.copytree(data / "test" / c, test_only / "test" / c)
    run_b = cli(
        "test",
        "--config",
        cfg,
        "--data.init_args.path",
        str(test_only),
        "--ckpt_path",
        str(ckpt),
        runs_dir=tmp_path / "runs",
        lab="tiny_b",
    )
    assert "test/acc" in summary(run_b)["test"]

    # predict on a folder of raw images of another size, no training data at all
    raw = tmp_path / "to_classify"
    raw.mkdir()
    for i, name in enumerate(["b.png", "a.jpg", "c.png"]):
        Image.fromarray(np.full((20, 13, 3), 50 * i, np.uint8)).save(raw / name)
    run_c = cli(
        "predict",
        "--config",
        cfg,
        "--data.init_args.path",
        str(tmp_path / "nowhere"),
        "--data.init_args.predict_path",
        str(raw),
        "--ckpt_path",
        str(ckpt),
        runs_dir=tmp_path / "runs",
        lab="tiny_c",
    )
    with open(run_c / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and "label" not in rows[0]
    assert {r["pred_name"] for r in rows} <= {"cat", "dog", "owl"}


def test_predict_inputs_are_sorted_resized_and_normalised_with_the_saved_statistics(tmp_path):
    ckpt = tmp_path / "x.ckpt"
    torch.save(
        {
            "ImageFolderDataModule": {
                "lab_data": 1,
                "class_names": ["a", "b"],
                "input_shape": [1, 6, 4],
                "mean": [0.2],
                "std": [0.5],
            }
        },
        ckpt,
    )
    raw = tmp_path / "raw"
    (raw / "sub").mkdir(parents=True)
    Image.fromarray(np.full((9, 9), 255, np.uint8)).save(raw / "b.png")
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(raw / "a.png")
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(raw / "sub" / "c.png")
    dm = ImageFolderDataModule(
        path=str(tmp_path / "gone"), grayscale=True, predict_path=str(raw), from_checkpoint=str(ckpt)
    )
    batch = next(iter(dm.predict_dataloader()))
    assert dm.predict_files == ["a.png", "b.png", "sub/c.png"]
    assert set(batch) == {"image"} and batch["image"].shape == (3, 1, 6, 4)
    assert torch.allclose(batch["image"][:, 0, 0, 0], torch.tensor([-0.4, 1.6, -0.4]))
    one = ImageFolderDataModule(
        path=str(tmp_path / "gone"), grayscale=True, predict_path=str(raw / "b.png"), from_checkpoint=str(ckpt)
    )
    assert len(next(iter(one.predict_dataloader()))["image"]) == 1


# --- segmentation: serial sections --------------------------------------------------------------
def test_isbi_val_and_test_are_contiguous_blocks_of_the_slice_order():
    dm = SegmentationFolderDataModule(source="embedded")
    dm.setup("fit")
    pairs = find_pairs(EMBEDDED_DIR / "isbi2012_membrane")
    assert [p[0].stem for p in pairs] == [str(i) for i in range(30)]  # numeric order, not 0, 1, 10, 11, ...
    images, _ = read_pairs(pairs, None, 1, 127)
    idx = dm.indices
    assert idx["train"].tolist() == list(range(22))
    assert idx["val"].tolist() == list(range(22, 26)) and idx["test"].tolist() == list(range(26, 30))
    assert not set(idx["train"].tolist()) & (set(idx["val"].tolist()) | set(idx["test"].tolist()))
    assert torch.equal(dm.datasets["val"].images, images[22:26])
    assert torch.equal(dm.datasets["test"].images, images[26:30])
    assert dm.state_dict()["lab_data"] == 1
    shuffled = SegmentationFolderDataModule(source="embedded", split="random")
    shuffled.setup("fit")
    assert shuffled.indices["test"].tolist() != list(range(26, 30))


# --- unpaired ---------------------------------------------------------------------------------
def _domain(folder, n, value):
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(folder / f"{i}.png")


def test_unpaired_dev_folders_are_validation_and_test_needs_only_test_folders(tmp_path):
    for split, n in (("train", 6), ("dev", 2), ("test", 3)):
        _domain(tmp_path / "d" / f"{split}A", n, 10)
        _domain(tmp_path / "d" / f"{split}B", n, 200)
    dm = UnpairedImageDataModule(path=str(tmp_path / "d"), image_size=8)
    dm.setup("fit")
    assert (len(dm.datasets["train"]), len(dm.datasets["val"]), len(dm.datasets["test"])) == (6, 2, 3)
    for split in ("train", "dev"):
        shutil.rmtree(tmp_path / "d" / f"{split}A")
    only_test = UnpairedImageDataModule(path=str(tmp_path / "d"), image_size=8)
    only_test.setup("test")
    assert set(only_test.datasets) == {"test"} and len(only_test.datasets["test"]) == 3


def test_a_fraction_of_the_validation_batches_works_on_the_embedded_data(tmp_path):
    # Before: the embedded validation split was one eval batch (500 images, eval_batch_size 1000), and
    # Lightning stopped on "0.2 * 1 < 1"; now the eval batches are made just small enough for the fraction.
    run = cli(
        "fit",
        "--config",
        str(ROOT / "configs/labs/vision/mnist_mlp.yaml"),
        "--trainer.fast_dev_run",
        "false",
        "--trainer.max_epochs",
        "1",
        "--trainer.limit_train_batches",
        "2",
        "--trainer.limit_val_batches",
        "0.2",
        "--trainer.enable_progress_bar",
        "false",
        runs_dir=tmp_path,
        lab="frac",
    )
    metrics = list(csv.DictReader((run / "metrics.csv").open()))
    assert any(row.get("val/acc") for row in metrics)  # validation ran on the kept batch


def test_eval_batches_are_left_alone_without_a_fraction_that_keeps_none():
    dm = MNISTDataModule(source="embedded", eval_batch_size=1000)
    dm.trainer = type("T", (), {"limit_val_batches": 1.0, "limit_test_batches": 0.5, "world_size": 1})()
    assert dm.eval_batch_size_for("val", 500) == 1000  # the whole set: one batch is fine
    assert dm.eval_batch_size_for("test", 2500) == 1000  # 3 batches x 0.5 keeps one
    assert dm.eval_batch_size_for("test", 500) == 250  # 1 x 0.5 would keep none: 2 batches
    dm.trainer.limit_val_batches = 0.3
    size = dm.eval_batch_size_for("val", 500)
    assert int(-(-500 // size) * 0.3) >= 1
