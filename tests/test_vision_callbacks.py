"""Figure callbacks: each draws what it claims (checked on the figure's data) and writes a PNG."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from PIL import Image

import callbacks.conv_filters
import callbacks.feature_maps
import callbacks.label_histogram
import callbacks.misclassified
import callbacks.sample_grid
import callbacks.weight_images
from callbacks import (
    ConvFilters,
    FeatureMaps,
    LabelHistogram,
    MisclassifiedExamples,
    PhasedFinetuning,
    SampleGrid,
    WeightImages,
)
from callbacks.figures import log_figure
from callbacks.layers import minmax
from datamodules import CIFAR10DataModule, MNISTDataModule
from lab_modules import Classifier
from lab_modules.nets import MLP, LeNet
from labcore.errors import LabError


@pytest.fixture
def drawn(monkeypatch):
    """Captures every figure the callbacks log: ``{name: (figure data, png path)}``."""
    figures: dict[str, tuple[dict, object]] = {}

    def capture(trainer, fig, name, step=None):
        axes = [ax for ax in fig.axes if ax.get_images() or ax.patches]
        grid = getattr(fig, "grid", None)  # callbacks.figures.image_grid: one mosaic, its tiles and titles kept
        data = {
            "images": list(grid["tiles"])
            if grid
            else [ax.get_images()[0].get_array() for ax in axes if ax.get_images()],
            "titles": grid["titles"] if grid else [ax.get_title() for ax in axes],
            "bars": [p.get_height() for ax in axes for p in ax.patches],
            "size_px": tuple(fig.get_size_inches() * 110),
        }
        figures[name] = (data, log_figure(trainer, fig, name, step))

    for mod in (
        callbacks.conv_filters,
        callbacks.feature_maps,
        callbacks.label_histogram,
        callbacks.misclassified,
        callbacks.sample_grid,
        callbacks.weight_images,
    ):
        monkeypatch.setattr(mod, "log_figure", capture)
    return figures


def _fit(model, dm, cbs, tmp_path, test=True):
    trainer = L.Trainer(
        max_steps=3,
        limit_val_batches=1,
        limit_test_batches=2,
        num_sanity_val_steps=0,
        logger=CSVLogger(tmp_path),
        callbacks=cbs,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    if test:
        trainer.test(model, datamodule=dm, verbose=False)
    return trainer


def _png(path) -> np.ndarray:
    assert path is not None and path.exists(), path
    with Image.open(path) as im:
        return np.asarray(im)


def test_cnn_figures(tmp_path, drawn):
    L.seed_everything(0)
    dm = CIFAR10DataModule(source="embedded", batch_size=16, eval_batch_size=50, max_train_samples=64)
    model = Classifier(LeNet(), num_classes=10, class_names=dm.class_names)
    feature_maps = FeatureMaps(layers=["net.conv1", "net.conv2"], n_inputs=3, max_maps=4)
    cbs = [LabelHistogram(), ConvFilters("net.conv1", before_training=True), feature_maps, MisclassifiedExamples(n=5)]
    _fit(model, dm, cbs, tmp_path)

    # label histogram: one bar per class per split, heights = the split's label counts
    data, path = drawn["data/label_histogram"]
    expected = [
        c
        for split in ("train", "val", "test")
        for c in torch.bincount(dm.datasets[split].labels, minlength=10).tolist()
    ]
    assert data["bars"] == expected and sum(expected[:10]) == 64
    assert _png(path).ndim == 3

    # conv1 filters: 6 RGB 5x5 tiles, each the min-max scaled kernel; untrained differs from trained
    data, path = drawn["filters/net.conv1_trained"]
    w = model.net.conv1.weight.detach()
    assert len(data["images"]) == 6
    for tile, kernel in zip(data["images"], minmax(w)):
        assert tile.shape == (5, 5, 3)
        np.testing.assert_allclose(tile, kernel.permute(1, 2, 0).numpy(), atol=1e-6)
    untrained = drawn["filters/net.conv1_untrained"][0]["images"][0]
    assert not np.allclose(untrained, data["images"][0])
    h, w_px = _png(path).shape[:2]
    assert 0.5 < h / w_px < 2  # a square-ish 3x3 grid of 6

    # feature maps: rows of input + 4 maps; maps are the hooked conv outputs (checked against a direct forward)
    data, _ = drawn["feature_maps/net.conv1_trained"]
    assert len(data["images"]) == 3 * (1 + 4)
    batch = callbacks.layers.fixed_batch(dm.datasets["val"], 3, 0)
    with torch.no_grad():
        direct = model.net.conv1(batch["image"])
    np.testing.assert_allclose(data["images"][1], minmax(direct[0, :1])[0].numpy(), atol=1e-5)
    assert data["images"][6].shape == (28, 28)  # second row, first map
    assert data["titles"][0].startswith(dm.class_names[int(batch["label"][0])])
    conv2 = drawn["feature_maps/net.conv2_trained"][0]
    assert conv2["images"][1].shape == (10, 10)

    # misclassified: 5 tiles, each titled "true -> pred (p)" with true != pred
    data, path = drawn["test/misclassified"]
    assert len(data["images"]) == 5
    for title in data["titles"][:5]:
        true, pred = title.split(" (")[0].split(" -> ")
        assert true != pred
    assert _png(path).shape[0] > 50


def test_mlp_figures(tmp_path, drawn):
    L.seed_everything(0)
    dm = MNISTDataModule(source="embedded", batch_size=16, eval_batch_size=50, max_train_samples=64)
    net = MLP(in_features=784, hidden=[32, 16])
    model = Classifier(net, num_classes=10)
    cbs = [WeightImages("net.layers.1", n=9), FeatureMaps(layers=["net.layers.3"], n_inputs=4)]
    _fit(model, dm, cbs, tmp_path, test=False)

    data, path = drawn["weights/net.layers.1_trained"]
    assert len(data["images"]) == 9
    row = net.layers[1].weight.detach()[2]
    np.testing.assert_allclose(data["images"][2], minmax(row[None])[0].view(28, 28).numpy(), atol=1e-6)
    assert _png(path).ndim == 3

    data, _ = drawn["feature_maps/net.layers.3_trained"]
    assert data["images"][0].shape == (4, 32)  # one row of 32 hidden units per input


def test_layer_names_are_checked(tmp_path):
    dm = MNISTDataModule(source="embedded", batch_size=16, max_train_samples=32)
    model = Classifier(MLP(in_features=784, hidden=[8]), num_classes=10)
    with pytest.raises(LabError, match="no layer named 'net.conv9'.*net.layers.1"):
        _fit(model, dm, [ConvFilters("net.conv9")], tmp_path, test=False)
    with pytest.raises(LabError, match="not nn.Conv2d"):
        _fit(model, dm, [ConvFilters("net.layers.1")], tmp_path, test=False)


# --- one-logit (binary) classifiers: the figures read pl_module.probabilities, not a softmax/argmax of their own ---


def _binary_model(dm: MNISTDataModule) -> Classifier:
    """0 vs 1 with ONE logit: "1" when an image has little ink. The threshold sits at the 30% quantile of the test
    images' ink, so some 1s are predicted right and some wrong (a softmax over one logit says "0" for all)."""
    net = MLP(in_features=784, hidden=[], num_classes=1, batchnorm=False, dropout=0.0)
    dm.setup("test")
    test = dm.datasets["test"]
    ink = torch.stack([test[i]["image"].mean() for i in range(len(test))])
    with torch.no_grad():
        net.layers[-1].weight.fill_(-1 / 784)
        net.layers[-1].bias.fill_(float(ink.quantile(0.3)))
    return Classifier(net, num_classes=2, class_names=dm.class_names, binary=True)


def _binary_dm() -> MNISTDataModule:
    return MNISTDataModule(
        source="embedded", classes=["0", "1"], batch_size=16, eval_batch_size=50, max_train_samples=64
    )


def _test_predictions(model, dm, batches: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images, labels and predictions (logit > 0) of the first ``batches`` test batches, in data order."""
    images, labels, preds = [], [], []
    model.eval()
    with torch.no_grad():
        for i, batch in enumerate(dm.test_dataloader()):
            if i == batches:
                break
            images.append(batch["image"])
            labels.append(batch["label"])
            preds.append((model(image=batch["image"])[:, 0] > 0).long())
    return torch.cat(images), torch.cat(labels), torch.cat(preds)


def test_binary_classifier_figures_show_its_real_predictions(tmp_path, drawn):
    L.seed_everything(0)
    dm = _binary_dm()
    model = _binary_model(dm)
    _, labels, preds = _test_predictions(model, dm, batches=2)
    wrong = (preds != labels).nonzero().flatten()
    assert 3 <= len(wrong) and ((preds == 1) & (labels == 1)).sum() >= 3  # the setup shows the flaw

    trainer = L.Trainer(
        limit_test_batches=2,
        logger=CSVLogger(tmp_path),
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[MisclassifiedExamples(n=100), SampleGrid(n=32)],
    )
    acc = trainer.test(model, datamodule=dm, verbose=False)[0]["test/acc"]
    assert acc == pytest.approx(float((preds == labels).float().mean()))

    # misclassified: exactly the wrong examples, in data order, titled true -> predicted
    data, _ = drawn["test/misclassified"]
    names = dm.class_names
    assert [t.split(" (")[0] for t in data["titles"]] == [f"{names[labels[i]]} -> {names[preds[i]]}" for i in wrong]
    assert len(data["images"]) == len(wrong)

    # sample grid: titles name the prediction only where it is wrong, as the model's own accuracy says
    data, _ = drawn["test/samples"]
    batch = callbacks.layers.fixed_batch(dm.datasets["test"], 32, 0)
    with torch.no_grad():
        grid_preds = (model(image=batch["image"])[:, 0] > 0).long().tolist()
    expected = [names[t] + ("" if p == t else f" -> {names[p]} ✗") for t, p in zip(batch["label"].tolist(), grid_preds)]
    assert data["titles"] == expected
    assert "1" in data["titles"]  # a 1 predicted right (a softmax over one logit would title it 1 -> 0)


def test_binary_classifier_phase_accuracy_is_the_test_accuracy(tmp_path):
    L.seed_everything(0)
    dm = _binary_dm()
    model = _binary_model(dm)
    phased = PhasedFinetuning(freeze=False, head_epochs=1)
    trainer = L.Trainer(
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=1,
        limit_test_batches=2,
        num_sanity_val_steps=0,
        logger=CSVLogger(tmp_path),
        callbacks=[phased],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    _, labels, preds = _test_predictions(model, dm, batches=2)
    true_acc = float((preds == labels).float().mean())
    assert true_acc != pytest.approx(float((labels == 0).float().mean()))  # what argmax over one logit would give
    assert phased.phases["phase1"]["test_acc"] == pytest.approx(true_acc)
    assert trainer.test(model, datamodule=dm, verbose=False)[0]["test/acc"] == pytest.approx(true_acc)


def test_image_grid_pastes_each_tile_under_its_title():
    """The mosaic holds every tile once, and each title sits centred just above its own tile."""
    tiles = np.random.default_rng(0).random((5, 6, 4))  # 5 tiles of 6 x 4 pixels
    fig = callbacks.figures.image_grid(tiles, [f"t{i}" for i in range(5)], ncols=3, cmap="gray")
    canvas = fig.axes[0].get_images()[0].get_array()
    texts = {t.get_text(): t.get_position() for t in fig.axes[0].texts}
    for i, tile in enumerate(tiles):
        found = [
            (r, c)
            for r in range(canvas.shape[0] - 5)
            for c in range(canvas.shape[1] - 3)
            if np.allclose(canvas[r : r + 6, c : c + 4], tile)
        ]
        assert len(found) == 1
        (top, left), (x, y) = found[0], texts[f"t{i}"]
        assert x == pytest.approx(left + 2) and top - fig.grid["title_h"] <= y < top
    callbacks.figures.plt.close(fig)
