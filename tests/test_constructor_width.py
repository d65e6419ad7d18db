"""Datamodule constructors stay narrow: related options travel as small typed groups (nested keys such as
``--data.init_args.tokenizer.min_freq``), and the base's arguments pass through ``**kwargs``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
import torch

import datamodules
from datamodules.base import LabDataModule
from datamodules.cifar10 import CIFAR10DataModule
from datamodules.detection import DetectionDataModule
from datamodules.image_classification import ImageClassificationDataModule
from datamodules.mnist import MNISTDataModule
from datamodules.segmentation import SegmentationFolderDataModule
from datamodules.tabular import TabularDataModule
from datamodules.text_classification import TextClassificationDataModule
from datamodules.text_tokenizer import TokenizerOptions
from datamodules.timeseries import TimeSeriesDataModule
from datamodules.translation import TranslationDataModule
from labcore.errors import LabError
from tests.helpers import ROOT, cli

MOST = 16
NARROWED = [
    TextClassificationDataModule,
    TranslationDataModule,
    TabularDataModule,
    DetectionDataModule,
    ImageClassificationDataModule,
    MNISTDataModule,
    CIFAR10DataModule,
    SegmentationFolderDataModule,
    TimeSeriesDataModule,
]


def _subclasses() -> list[type]:
    """Every LabDataModule subclass in the datamodules package."""
    for info in pkgutil.iter_modules(datamodules.__path__):
        importlib.import_module(f"datamodules.{info.name}")
    found, todo = set(), [LabDataModule]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.__module__.startswith("datamodules.") and sub not in found:
                found.add(sub)
                todo.append(sub)
    return sorted(found, key=lambda c: c.__name__)


def _options(cls: type) -> list[str]:
    """The top-level options ``--help`` lists: the constructor's own, and the parents' behind ``**kwargs``."""
    names: list[str] = []
    for klass in inspect.getmro(cls):
        if "__init__" not in vars(klass) or not issubclass(klass, LabDataModule):
            continue
        params = inspect.signature(klass.__init__).parameters.values()
        names += [p.name for p in params if p.name != "self" and p.kind is not p.VAR_KEYWORD and p.name not in names]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return names


def test_the_narrowed_datamodules_are_discovered():
    assert set(NARROWED) <= set(_subclasses()) and len(_subclasses()) >= 10


@pytest.mark.parametrize("cls", _subclasses(), ids=lambda c: c.__name__)
def test_constructor_has_at_most_16_parameters(cls):
    params = inspect.signature(cls).parameters
    assert len(params) <= MOST, f"{cls.__name__} takes {len(params)} parameters: {list(params)}"
    if cls not in NARROWED:
        return
    # the base's arguments are forwarded, not re-listed (only to give one another default)
    base = inspect.signature(LabDataModule).parameters
    relisted = [n for n in params if n in base and params[n].default == base[n].default]
    assert not relisted, relisted
    assert set(_options(cls)) >= set(base)


def test_grouped_options_are_nested_keys_and_plain_values_in_checkpoints(tmp_path, capsys):
    config = str(ROOT / "configs" / "labs" / "text" / "sentiment_rnn.yaml")
    keys = ["--data.init_args.tokenizer.min_freq", "3", "--data.init_args.files.encoding", "latin-1"]
    cli("fit", "--config", config, *keys, "--print_config")
    printed = capsys.readouterr().out
    assert "min_freq: 3" in printed and "encoding: latin-1" in printed and "kind: vocab" in printed

    dm = TextClassificationDataModule(dataset="toy", toy_size=60, tokenizer=TokenizerOptions(min_freq=2))
    assert dm.hparams["tokenizer"]["min_freq"] == 2 and isinstance(dm.hparams["files"], dict)
    assert isinstance(dm.hparams_initial["tokenizer"], dict)  # loggers get plain values too
    path = tmp_path / "hp.pt"
    torch.save({"datamodule_hyper_parameters": dict(dm.hparams)}, path)
    back = torch.load(path, weights_only=True)["datamodule_hyper_parameters"]
    assert back["tokenizer"]["min_freq"] == 2
    # a checkpoint's hparams (dicts) build the datamodule again
    again = TextClassificationDataModule(**{k: v for k, v in back.items() if k in ("dataset", "toy_size", "tokenizer")})
    assert again.hp.min_freq == 2


@pytest.mark.parametrize(
    ("config", "old", "new"),
    [
        ("text/sentiment_rnn.yaml", ["--data.init_args.min_freq", "2"], "--data.init_args.tokenizer.min_freq"),
        ("text/sentiment_rnn.yaml", ["--data.init_args.tokenizer", "pretrained"], "--data.init_args.tokenizer.kind"),
        ("text/sentiment_rnn.yaml", ["--data.init_args.encoding", "latin-1"], "--data.init_args.files.encoding"),
        (
            "seq2seq/translation_rnn.yaml",
            ["--data.init_args.joint_vocab", "true"],
            "--data.init_args.tokenizer.joint_vocab",
        ),
        ("tabular/regularization.yaml", ["--data.init_args.impute", "mean"], "--data.init_args.preprocessing.impute"),
        ("dense/detection.yaml", ["--data.init_args.canvas_seed", "1"], "--data.init_args.canvases.seed"),
    ],
)
def test_an_old_flat_key_is_one_line_naming_the_new_one(config, old, new, capsys):
    with pytest.raises(SystemExit) as err:
        cli("fit", "--config", str(ROOT / "configs" / "labs" / config), *old, "--print_config")
    assert err.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and f"is now {new};" in lines[0], lines


@pytest.mark.parametrize(
    "config",
    [
        "vision/mnist_cnn.yaml",
        "vision/cifar_bn_augment.yaml",
        "vision/transfer_pretrain.yaml",
        "generative/denoising_ae.yaml",
        "dense/unet_segmentation.yaml",
        "series/temperature_rnn.yaml",
    ],
)
def test_forwarded_base_options_still_parse(config, capsys):
    """The base's options behind ``**kwargs`` stay flat keys the CLI accepts and prints."""
    keys = ["--data.init_args.batch_size", "32", "--data.init_args.eval_batch_size", "7"]
    keys += ["--data.init_args.split_seed", "3", "--data.init_args.num_workers", "0"]
    cli("fit", "--config", str(ROOT / "configs" / "labs" / config), *keys, "--print_config")
    printed = capsys.readouterr().out
    for line in ("batch_size: 32", "eval_batch_size: 7", "split_seed: 3", "source:", "from_checkpoint:", "on_device:"):
        assert line in printed, line


def test_segmentation_refuses_on_device_it_cannot_serve():
    """on_device now reaches segmentation through **kwargs; its datasets are not tensor data, so it is refused."""
    with pytest.raises(LabError, match="on_device"):
        SegmentationFolderDataModule(on_device=True)


def test_a_series_refuses_a_shuffled_split():
    """split now reaches the series datamodule through **kwargs; only ``ordered`` (or nothing) is accepted."""
    with pytest.raises(LabError, match="time order"):
        TimeSeriesDataModule(split="random")
    assert TimeSeriesDataModule(split="ordered").split == "ordered"
