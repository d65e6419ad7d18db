"""Bad input always explains itself (issue 10, item 4).

Every case in ``CASES`` runs ``cli.py`` (in this process: the imports are paid once) and must exit
non-zero with exactly ONE line on stderr (``error: ...``) that names the file or option at fault and
what to pass instead, no traceback, and no run directory left behind. A few cases also run as real
subprocesses (``SHELL_CASES``), where warnings and Lightning's info lines would show if they leaked
onto stderr. Silently reduced data is a warning with counts (``test_reduced_data_warns_with_counts``).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import ROOT

LABS = ROOT / "configs" / "labs"
MNIST = str(LABS / "vision" / "mnist_mlp.yaml")
MNIST_CNN = str(LABS / "vision" / "mnist_cnn.yaml")
CIFAR = str(LABS / "vision" / "cifar_bn_augment.yaml")
FOLDER = str(LABS / "vision" / "early_stopping.yaml")
TEXT = str(LABS / "text" / "sentiment_bow_mlp.yaml")
SEG = str(LABS / "dense" / "unet_segmentation.yaml")
CYCLE = str(LABS / "generative" / "cyclegan.yaml")
VAE = str(LABS / "generative" / "vae.yaml")
GAN = str(LABS / "generative" / "gan.yaml")
D = "--data.init_args."
EMB = [D + "source", "embedded"]
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "WANDB_MODE": "offline",
    "DL_LABS_OFFLINE": "1",
    "CUDA_VISIBLE_DEVICES": "",
}


# --- data builders ------------------------------------------------------------------------------
def _idx(arr: np.ndarray) -> bytes:
    """MNIST's IDX format: magic (0, 0, uint8 code 8, ndim), the dims, the bytes."""
    head = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def mnist_dir(root: Path, n: int = 40, labels: np.ndarray | None = None, **override: bytes) -> Path:
    """The four gzipped IDX files; ``override`` replaces a file's raw (un-gzipped unless it ends in _raw) bytes."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    y = labels if labels is not None else np.arange(n) % 10
    files = {
        "train-images-idx3-ubyte": _idx(rng.integers(0, 255, (n, 28, 28))),
        "train-labels-idx1-ubyte": _idx(np.asarray(y)),
        "t10k-images-idx3-ubyte": _idx(rng.integers(0, 255, (n, 28, 28))),
        "t10k-labels-idx1-ubyte": _idx(np.arange(n) % 10),
    }
    for stem, data in files.items():
        raw = override.get(stem + "_raw")
        if raw is not None:
            (root / f"{stem}.gz").write_bytes(raw)
            continue
        with gzip.open(root / f"{stem}.gz", "wb") as f:
            f.write(override.get(stem, data))
    return root


def png(path: Path, size: int = 16, value: int | None = None, mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    shape = (size, size, 3) if mode == "RGB" else (size, size)
    arr = np.full(shape, value, np.uint8) if value is not None else rng.integers(0, 255, shape, dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return path


def image_tree(root: Path, classes=("cat", "dog"), n: int = 6) -> Path:
    for c in classes:
        for i in range(n):
            png(root / c / f"{i}.png")
    return root


def seg_dir(root: Path, n: int = 8) -> Path:
    for i in range(n):
        png(root / "image" / f"{i}.png", 32, mode="L")
        png(root / "label" / f"{i}.png", 32, mode="L")
    return root


def unpaired_dir(root: Path, n: int = 4) -> Path:
    for d in ("trainA", "trainB", "testA", "testB"):
        for i in range(n):
            png(root / d / f"{i}.png", 16)
    return root


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def csv_rows(n: int = 40, sep: str = ",", labels=("neg", "pos")) -> str:
    words = ["good", "bad", "fine", "dull", "great", "awful", "nice", "poor"]
    rows = [f"text{sep}label"] + [f"{words[i % 8]} film number {i}{sep}{labels[i % len(labels)]}" for i in range(n)]
    return "\n".join(rows) + "\n"


def fake_ckpt(path: Path, state: dict[str, torch.Tensor], **extra) -> Path:
    """A Lightning-shaped checkpoint (no training needed) holding ``state`` as its model weights."""
    import lightning

    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {
        "epoch": 0,
        "global_step": 0,
        "pytorch-lightning_version": lightning.__version__,
        "state_dict": state,
        "loops": {},
        "callbacks": {},
        "optimizer_states": [],
        "lr_schedulers": [],
        **extra,
    }
    torch.save(ckpt, path)
    return path


def other_net_ckpt(path: Path) -> Path:
    return fake_ckpt(path, {"net.features.0.weight": torch.zeros(8, 1, 3, 3), "net.head.weight": torch.zeros(10, 8)})


def text_ckpt(path: Path) -> Path:
    return fake_ckpt(
        path,
        {"net.embedding.weight": torch.zeros(50, 8)},
        TextClassificationDataModule={"lab_data": 1, "class_names": ["negative", "positive"], "dataset": "imdb"},
    )


def truncated(path: Path) -> Path:
    data = other_net_ckpt(path).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


class Pickled:
    """An object ``weights_only=True`` refuses to unpickle."""


def pickled_ckpt(path: Path) -> Path:
    return fake_ckpt(path, {}, extra=Pickled())


def no_version_ckpt(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {}}, path)
    return path


def cut_tar(root: Path) -> Path:
    tree = image_tree(root / "tree", ("airplane", "cat"), n=4)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(tree, arcname="train")
    data = buf.getvalue()
    return write(root / "c.tar.gz", data[: len(data) * 2 // 3])


def compare_spec(root: Path) -> Path:
    spec = {
        "name": "bad",
        "configs": [MNIST],
        "args": [*EMB, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1"],
        "variants": {"broken": [D + "batch_size", "0"]},
    }
    return write(root / "spec.yaml", json.dumps(spec))


# --- the cases: (tmp_path) -> (argv, words the one line must contain) -------------------------
Case = Callable[[Path], tuple[list[str], list[str]]]
CASES: dict[str, Case] = {
    # numeric options out of range
    "batch_size_0": lambda t: (["fit", "--config", MNIST, *EMB, D + "batch_size", "0"], ["batch_size"]),
    "batch_size_negative": lambda t: (["fit", "--config", VAE, *EMB, D + "batch_size", "-4"], ["batch_size"]),
    "eval_batch_size_0": lambda t: (["fit", "--config", MNIST, *EMB, D + "eval_batch_size", "0"], ["eval_batch_size"]),
    "text_batch_size_0": lambda t: (["fit", "--config", TEXT, *EMB, D + "batch_size", "0"], ["batch_size"]),
    "seg_batch_size_0": lambda t: (["fit", "--config", SEG, *EMB, D + "batch_size", "0"], ["batch_size"]),
    "cyclegan_batch_size_0": lambda t: (["fit", "--config", CYCLE, *EMB, D + "batch_size", "0"], ["batch_size"]),
    "max_epochs_-2": lambda t: (["fit", "--config", MNIST, *EMB, "--trainer.max_epochs", "-2"], ["max_epochs"]),
    "text_max_epochs_-5": lambda t: (["fit", "--config", TEXT, *EMB, "--trainer.max_epochs", "-5"], ["max_epochs"]),
    "val_fraction_1.5": lambda t: (["fit", "--config", MNIST, *EMB, D + "val_fraction", "1.5"], ["val_fraction"]),
    "val_fraction_negative": lambda t: (
        ["fit", "--config", FOLDER, *EMB, D + "val_fraction", "-0.1"],
        ["val_fraction"],
    ),
    "test_fraction_1": lambda t: (["fit", "--config", FOLDER, *EMB, D + "test_fraction", "1.0"], ["test_fraction"]),
    "fractions_sum_1": lambda t: (
        ["fit", "--config", TEXT, *EMB, D + "val_fraction", "0.5", D + "test_fraction", "0.5"],
        ["val_fraction", "test_fraction"],
    ),
    "seg_fractions_sum_over_1": lambda t: (
        ["fit", "--config", SEG, *EMB, D + "val_fraction", "0.6", D + "test_fraction", "0.6"],
        ["val_fraction", "test_fraction"],
    ),
    "cyclegan_val_fraction_2": lambda t: (["fit", "--config", CYCLE, *EMB, D + "val_fraction", "2"], ["val_fraction"]),
    "val_fraction_0_empty_val": lambda t: (["fit", "--config", MNIST, *EMB, D + "val_fraction", "0"], ["val_fraction"]),
    "max_train_samples_0": lambda t: (
        ["fit", "--config", MNIST, *EMB, D + "max_train_samples", "0"],
        ["max_train_samples"],
    ),
    # readers
    "gzip_truncated": lambda t: (
        ["fit", "--config", MNIST, D + "path", str(_truncate_gz(mnist_dir(t / "m"), "train-images-idx3-ubyte.gz"))],
        ["train-images-idx3-ubyte.gz"],
    ),
    "gzip_corrupt": lambda t: (
        [
            "fit",
            "--config",
            MNIST,
            D + "path",
            str(mnist_dir(t / "m", **{"train-labels-idx1-ubyte_raw": b"\x1f\x8bxx"})),
        ],
        ["train-labels-idx1-ubyte.gz"],
    ),
    "idx_truncated": lambda t: (
        [
            "fit",
            "--config",
            MNIST,
            D + "path",
            str(mnist_dir(t / "m", **{"t10k-images-idx3-ubyte": _idx(np.zeros((40, 28, 28)))[:5000]})),
        ],
        ["t10k-images-idx3-ubyte.gz"],
    ),
    "idx_bad_magic": lambda t: (
        ["fit", "--config", MNIST, D + "path", str(mnist_dir(t / "m", **{"train-images-idx3-ubyte": b"garbage!" * 9}))],
        ["train-images-idx3-ubyte.gz", "IDX"],
    ),
    "idx_count_mismatch": lambda t: (
        [
            "fit",
            "--config",
            MNIST,
            D + "path",
            str(mnist_dir(t / "m", **{"train-labels-idx1-ubyte": _idx(np.zeros(7))})),
        ],
        ["train-labels-idx1-ubyte"],
    ),
    "tar_truncated": lambda t: (["fit", "--config", CIFAR, D + "path", str(cut_tar(t))], ["c.tar.gz"]),
    "tar_corrupt": lambda t: (
        ["fit", "--config", CIFAR, D + "path", str(write(t / "c.tar.gz", os.urandom(3000)))],
        ["c.tar.gz"],
    ),
    "jpeg_corrupt": lambda t: (
        ["fit", "--config", FOLDER, D + "path", str(_with(image_tree(t / "d"), "cat/bad.jpg", os.urandom(500)))],
        ["bad.jpg"],
    ),
    "png_truncated": lambda t: (
        ["fit", "--config", FOLDER, D + "path", str(_with(image_tree(t / "d"), "dog/cut.png", _cut_png()))],
        ["cut.png"],
    ),
    "text_file_named_png": lambda t: (
        ["fit", "--config", CIFAR, D + "path", str(_with(image_tree(t / "d", ("cat", "dog")), "cat/x.png", "hello"))],
        ["x.png"],
    ),
    "seg_mask_corrupt": lambda t: (
        ["fit", "--config", SEG, D + "path", str(_with(seg_dir(t / "s"), "label/3.png", os.urandom(300)))],
        ["3.png"],
    ),
    "seg_image_truncated": lambda t: (
        ["fit", "--config", SEG, D + "path", str(_with(seg_dir(t / "s"), "image/5.png", _cut_png(32)))],
        ["5.png"],
    ),
    "unpaired_image_corrupt": lambda t: (
        ["fit", "--config", CYCLE, D + "path", str(_with(unpaired_dir(t / "u"), "trainB/1.png", b"nope"))],
        ["1.png"],
    ),
    "text_not_utf8": lambda t: (
        [
            "fit",
            "--config",
            TEXT,
            D + "dataset",
            "custom",
            D + "path",
            str(write(t / "reviews.csv", csv_rows().encode() + "caf\u00e9,pos\n".encode("latin-1"))),
        ],
        ["reviews.csv", "--data.init_args.files.encoding"],
    ),
    "tsv_as_csv": lambda t: (
        [
            "fit",
            "--config",
            TEXT,
            D + "dataset",
            "custom",
            D + "files.format",
            "csv",
            D + "path",
            str(write(t / "reviews.txt", csv_rows(sep="\t"))),
        ],
        ["reviews.txt", "--data.init_args.files.format tsv"],
    ),
    "jsonl_broken_line": lambda t: (
        [
            "fit",
            "--config",
            TEXT,
            D + "dataset",
            "custom",
            D + "path",
            str(write(t / "r.jsonl", '{"text": "good", "label": "pos"}\n{"text": "bad", "label": \n')),
        ],
        ["r.jsonl", "line 2"],
    ),
    "jsonl_not_an_object": lambda t: (
        [
            "fit",
            "--config",
            TEXT,
            D + "dataset",
            "custom",
            D + "path",
            str(write(t / "r.jsonl", '{"text": "good", "label": "pos"}\n["bad", "neg"]\n')),
        ],
        ["r.jsonl", "line 2"],
    ),
    "text_gzip_truncated": lambda t: (
        ["fit", "--config", TEXT, D + "dataset", "custom", D + "path", str(_gz_cut(t / "r.csv.gz", csv_rows(400)))],
        ["r.csv.gz"],
    ),
    "predict_file_not_utf8": lambda t: (
        ["predict", "--config", TEXT, *EMB, D + "predict_file", str(write(t / "p.txt", "caf\xe9\n".encode("latin-1")))],
        ["p.txt", "--data.init_args.files.encoding"],
    ),
    "predict_image_corrupt": lambda t: (
        ["predict", "--config", MNIST, *EMB, D + "predict_path", str(write(t / "p" / "digit.png", b"\x89PNG..."))],
        ["digit.png"],
    ),
    # data that cannot train
    "one_class_images": lambda t: (
        ["fit", "--config", FOLDER, D + "path", str(image_tree(t / "d", ("cat",), n=10)), D + "classes", "null"],
        ["one class"],
    ),
    "one_class_text": lambda t: (
        [
            "fit",
            "--config",
            TEXT,
            D + "dataset",
            "custom",
            D + "path",
            str(write(t / "r.csv", csv_rows(labels=("pos",)))),
        ],
        ["r.csv", "one class"],
    ),
    "empty_val_split_text": lambda t: (
        ["fit", "--config", TEXT, D + "dataset", "custom", D + "path", str(write(t / "r.csv", csv_rows(4)))],
        ["val", "empty"],
    ),
    "labels_out_of_range": lambda t: (
        ["fit", "--config", MNIST, D + "path", str(mnist_dir(t / "m", labels=np.arange(40) % 12))],
        ["train-labels-idx1-ubyte", "10", "11"],
    ),
    "predict_texts_empty": lambda t: (
        ["predict", "--config", TEXT, *EMB, D + "predict_texts", "[]"],
        ["--data.init_args.predict_texts"],
    ),
    "predict_file_empty": lambda t: (
        ["predict", "--config", TEXT, *EMB, D + "predict_file", str(write(t / "p.txt", "\n\n"))],
        ["p.txt"],
    ),
    # checkpoints
    "ckpt_missing": lambda t: (["test", "--config", MNIST, *EMB, "--ckpt_path", str(t / "no.ckpt")], ["no.ckpt"]),
    "ckpt_random_bytes": lambda t: (
        ["test", "--config", MNIST, *EMB, "--ckpt_path", str(write(t / "r.ckpt", os.urandom(2000)))],
        ["r.ckpt", "--ckpt_path"],
    ),
    "ckpt_empty": lambda t: (
        ["test", "--config", VAE, *EMB, "--ckpt_path", str(write(t / "e.ckpt", b""))],
        ["e.ckpt", "--ckpt_path"],
    ),
    "ckpt_truncated": lambda t: (
        ["test", "--config", MNIST, *EMB, "--ckpt_path", str(truncated(t / "t.ckpt"))],
        ["t.ckpt", "--ckpt_path"],
    ),
    "ckpt_other_net": lambda t: (
        ["test", "--config", MNIST, *EMB, "--ckpt_path", str(other_net_ckpt(t / "o.ckpt"))],
        ["o.ckpt", "--ckpt_path"],
    ),
    "ckpt_other_lab_text_for_mnist": lambda t: (
        ["test", "--config", MNIST_CNN, *EMB, "--ckpt_path", str(text_ckpt(t / "x.ckpt"))],
        ["x.ckpt", "--ckpt_path"],
    ),
    "ckpt_other_net_resume": lambda t: (
        ["fit", "--config", GAN, *EMB, "--ckpt_path", str(other_net_ckpt(t / "o.ckpt"))],
        ["o.ckpt", "--ckpt_path"],
    ),
    "ckpt_pickled_object": lambda t: (
        ["test", "--config", MNIST, *EMB, "--ckpt_path", str(pickled_ckpt(t / "p.ckpt"))],
        ["p.ckpt", "--ckpt_path"],
    ),
    "ckpt_not_lightning": lambda t: (
        ["test", "--config", MNIST, *EMB, "--ckpt_path", str(no_version_ckpt(t / "n.ckpt"))],
        ["n.ckpt", "--ckpt_path"],
    ),
    "weights_from_random_bytes": lambda t: (
        ["fit", "--config", TEXT, *EMB, "--model.init_args.weights_from", str(write(t / "w.ckpt", os.urandom(64)))],
        ["w.ckpt", "weights_from"],
    ),
    # options, configs, environment
    "accelerator_gpu_without_gpu": lambda t: (
        ["fit", "--config", MNIST, *EMB, "--trainer.accelerator", "gpu"],
        ["--trainer.accelerator", "cpu"],
    ),
    "unknown_net_class_path": lambda t: (
        ["fit", "--config", MNIST, *EMB, "--model.init_args.net", "lab_modules.nets.SimpleCNNN"],
        ["SimpleCNNN", "lab_modules.nets.SimpleCNN"],
    ),
    "unknown_model_class_path": lambda t: (
        ["fit", "--config", MNIST, *EMB, "--model", "lab_modules.Clasifier"],
        ["lab_modules.Clasifier", "lab_modules.Classifier"],
    ),
    "unknown_data_class_path": lambda t: (
        ["fit", "--config", MNIST, "--data", "datamodules.MNISTDatamodule"],
        ["datamodules.MNISTDatamodule", "datamodules.MNISTDataModule"],
    ),
    "unknown_optimizer": lambda t: (
        ["fit", "--config", MNIST, *EMB, "--model.init_args.optimizer", "torch.optim.Adamm"],
        ["torch.optim.Adamm", "torch.optim.Adam"],
    ),
    "yaml_syntax_error": lambda t: (
        ["fit", "--config", str(write(t / "broken.yaml", "model:\n  class_path: [unclosed\n  x: : y\n"))],
        ["broken.yaml"],
    ),
    "config_file_missing": lambda t: (["fit", "--config", str(t / "nowhere.yaml")], ["nowhere.yaml", "--config"]),
    "option_typo": lambda t: (
        ["fit", "--config", MNIST, "--trainer.max_epohcs", "3"],
        ["max_epohcs", "--trainer.max_epochs"],
    ),
    "option_wrong_type": lambda t: (
        ["fit", "--config", MNIST, "--trainer.max_epochs", "ten"],
        ["max_epochs", "ten", "int"],
    ),
    "runs_dir_unwritable": lambda t: (
        ["fit", "--config", MNIST, *EMB, "--runs_dir", str(write(t / "afile", "x") / "runs")],
        ["--runs_dir", "afile"],
    ),
    "compare_missing_spec": lambda t: (["compare", str(t / "nospec.yaml")], ["nospec.yaml"]),
    "compare_failing_variant": lambda t: (
        ["compare", str(compare_spec(t)), "--out", str(t / "runs" / "cmp")],
        ["broken", "FAILED"],
    ),
    "ckpt_settings_do_not_fit": lambda t: (
        [
            "test",
            "--config",
            MNIST,
            *EMB,
            "--ckpt_path",
            str(fake_ckpt(t / "h.ckpt", {}, hyper_parameters={"nope": 1})),
        ],
        ["h.ckpt", "--ckpt_path"],
    ),
    "ckpt_is_a_folder": lambda t: (["test", "--config", MNIST, *EMB, "--ckpt_path", str(t)], ["--ckpt_path"]),
    "unknown_callback": lambda t: (
        ["fit", "--config", MNIST, *EMB, "--trainer.callbacks+=callbacks.SampleGrd"],
        ["callbacks.SampleGrd", "callbacks.SampleGrid"],
    ),
    "unknown_encoding": lambda t: (
        ["fit", "--config", TEXT, *EMB, D + "files.encoding", "utf-9"],
        ["--data.init_args.files.encoding", "utf-9"],
    ),
    "image_size_0": lambda t: (["fit", "--config", FOLDER, *EMB, D + "image_size", "0"], ["image_size"]),
    "num_workers_negative": lambda t: (["fit", "--config", MNIST, *EMB, D + "num_workers", "-1"], ["num_workers"]),
    "seg_crop_larger_than_images": lambda t: (
        ["fit", "--config", SEG, D + "path", str(seg_dir(t / "s")), D + "crop_size", "64"],
        ["crop_size"],
    ),
    "predict_path_missing": lambda t: (
        ["predict", "--config", MNIST, *EMB, D + "predict_path", str(t / "nothing_here")],
        ["nothing_here", "--data.init_args.predict_path"],
    ),
    "image_outside_class_folders": lambda t: (
        [
            "fit",
            "--config",
            FOLDER,
            D + "classes",
            "null",
            D + "path",
            str(_with(image_tree(t / "d"), "loose.png", _png())),
        ],
        ["loose.png"],
    ),
    "csv_given_as_tsv": lambda t: (
        [
            "fit",
            "--config",
            TEXT,
            D + "dataset",
            "custom",
            D + "files.format",
            "tsv",
            D + "path",
            str(write(t / "r.tsv", csv_rows())),
        ],
        ["r.tsv", "--data.init_args.files.format csv"],
    ),
    "unknown_source": lambda t: (
        ["fit", "--config", SEG, D + "source", "ftp"],
        ["--data.init_args.source", "embedded"],
    ),
    "unknown_class_name": lambda t: (["fit", "--config", FOLDER, *EMB, D + "classes", "[cat, Dog]"], ["'Dog'"]),
}


def _truncate_gz(root: Path, name: str) -> Path:
    data = (root / name).read_bytes()
    (root / name).write_bytes(data[: len(data) // 2])
    return root


def _with(root: Path, rel: str, data: str | bytes) -> Path:
    write(root / rel, data)
    return root


def _cut_png(size: int = 16) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (size, size), dtype=np.uint8)).save(buf, "PNG")
    data = buf.getvalue()
    return data[: len(data) // 2]


def _png(size: int = 16) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((size, size, 3), np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _gz_cut(path: Path, text: str) -> Path:
    data = gzip.compress(text.encode())
    return write(path, data[: len(data) // 2])


def _run_dirs(runs: Path) -> list[Path]:
    return sorted(runs.glob("*/version_*")) if runs.exists() else []


def _check(code, err: str, words: list[str], runs: Path, compare: bool = False) -> str:
    assert code not in (0, None), err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1, err[-3000:]
    line = lines[0]
    assert line.startswith("error: "), line
    assert "weights_only=False" not in line
    for w in words:
        assert w in line, f"{w!r} not in {line!r}"
    if not compare:
        assert not _run_dirs(runs), f"half-made run directories left: {_run_dirs(runs)}"
    return line


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line(case, tmp_path, capfd):
    from cli import main

    argv, words = CASES[case](tmp_path)
    runs = tmp_path / "runs"
    compare = argv[0] == "compare"
    capfd.readouterr()
    try:
        main(argv if compare else [*argv, "--runs_dir", str(runs)] if "--runs_dir" not in argv else argv)
        code = 0
    except SystemExit as exc:
        code = exc.code
    _, err = capfd.readouterr()
    _check(code, err, words, runs, compare)
    if case == "compare_failing_variant":
        table = (runs / "cmp" / "comparison.md").read_text()
        assert "FAILED" in table and "broken" in table


SHELL_CASES = ["gzip_corrupt", "ckpt_random_bytes", "accelerator_gpu_without_gpu"]


@pytest.mark.parametrize("case", SHELL_CASES)
def test_bad_input_is_one_line_from_the_shell(case, tmp_path):
    """As a user sees it: nothing on stderr but the one line (info lines go to stdout, warnings would show)."""
    argv, words = CASES[case](tmp_path)
    runs = tmp_path / "runs"
    res = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *argv, "--runs_dir", str(runs)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, **OFFLINE_ENV},
    )
    _check(res.returncode, res.stderr, words, runs)


# --- silently reduced data: a warning that counts what was left out ------------------------------
def _seg_without_masks(t: Path):
    from datamodules import SegmentationFolderDataModule

    root = seg_dir(t / "s")
    png(root / "image" / "extra_a.png", 32, mode="L")
    png(root / "image" / "extra_b.png", 32, mode="L")
    return SegmentationFolderDataModule(path=str(root)), r"2 of 10 images .* no mask"


def _texts_empty(t: Path):
    from datamodules import TextClassificationDataModule

    path = write(t / "r.csv", csv_rows(40) + ",pos\n   ,neg\n")
    return TextClassificationDataModule(dataset="custom", path=str(path)), r"2 of 42 rows have an empty 'text'"


def _non_image_files(t: Path):
    from datamodules import ImageFolderDataModule

    root = _with(image_tree(t / "d"), "cat/notes.txt", "not an image")
    return ImageFolderDataModule(path=str(root), image_size=16), r"1 files that are not images .*notes.txt"


def _predict_texts_blank(t: Path):
    from datamodules import TextClassificationDataModule

    dm = TextClassificationDataModule(source="embedded", predict_texts=["great film", "  "])
    return dm, r"1 empty predict_texts left out"


REDUCED = {
    "seg_images_without_masks": _seg_without_masks,
    "empty_texts": _texts_empty,
    "non_image_files": _non_image_files,
    "blank_predict_texts": _predict_texts_blank,
}


@pytest.mark.parametrize("case", list(REDUCED))
def test_reduced_data_warns_with_counts(case, tmp_path):
    dm, pattern = REDUCED[case](tmp_path)
    with pytest.warns(UserWarning, match=pattern):
        dm.setup("predict" if case == "blank_predict_texts" else "fit")
        if case == "blank_predict_texts":
            assert len(dm.dataset("predict")) == 1


def test_predict_texts_empty_list_is_refused_not_the_test_split(tmp_path):
    """Before: ``predict_texts: []`` predicted the whole test split and said nothing."""
    from datamodules import TextClassificationDataModule
    from labcore.errors import LabError

    dm = TextClassificationDataModule(source="embedded", predict_texts=[])
    with pytest.raises(LabError, match="predict_texts is empty"):
        dm.setup("predict")


# --- output routing and the run directory guard -------------------------------------------------
def test_info_lines_go_to_stdout_and_warnings_are_one_line(capfd):
    import logging
    import warnings

    from labcore.console import route_output

    route_output()
    logging.getLogger("lightning.pytorch").info("an info line")
    logging.getLogger("lightning.fabric.utilities.seed").info("Seed set to 1")
    out, err = capfd.readouterr()
    assert "an info line" in out and "Seed set to 1" in out and not err
    line = warnings.formatwarning(UserWarning("[dl-labs] two\nlines"), UserWarning, "somefile.py", 12)
    assert line == "warning: [dl-labs] two lines\n"


def test_a_failed_run_removes_only_its_own_directory(tmp_path, capfd):
    """Earlier runs of the lab stay; the failed run's version_N (and nothing else) goes."""
    from cli import main

    earlier = tmp_path / "runs" / "mnist_mlp" / "version_0"
    earlier.mkdir(parents=True)
    (earlier / "metrics.csv").write_text("epoch\n0\n")
    with pytest.raises(SystemExit):
        main(["fit", "--config", MNIST, *EMB, D + "val_fraction", "0", "--runs_dir", str(tmp_path / "runs")])
    assert sorted(p.name for p in (tmp_path / "runs" / "mnist_mlp").iterdir()) == ["version_0"]
    assert (earlier / "metrics.csv").exists()


@pytest.mark.parametrize(
    ("started", "written", "kept"),
    [(False, None, False), (True, None, True), (False, "checkpoints/last.ckpt", True), (False, "metrics.csv", True)],
)
def test_run_directory_is_kept_once_a_loop_started_or_results_exist(tmp_path, started, written, kept):
    from runtime.rundir import RunDir, discard_unstarted

    run_dir = tmp_path / "runs" / "lab" / "version_0"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("x: 1\n")
    if written:
        write(run_dir / written, "x")
    made = [tmp_path / "runs" / "lab", tmp_path / "runs"]
    discard_unstarted(RunDir(run_dir, "lab", "version_0", made=run_dir, made_parents=made), started)
    assert run_dir.exists() is kept
    assert (tmp_path / "runs").exists() is kept  # made by this run and empty again: removed too
