"""Speed switches: CompileNet, ChannelsLast, bf16-mixed, GPU-resident batches (on_device; its device path
is run here on the CPU by forcing ``batch_device``)."""

from __future__ import annotations

import copy

import lightning as L
import pytest
import torch
from torch import nn
from torchvision.transforms import v2

from callbacks import ChannelsLast, CompileNet
from callbacks.channels_last import to_channels_last
from datamodules import CIFAR10DataModule, MNISTDataModule, TabularDataModule, TimeSeriesDataModule
from datamodules.device_batches import BatchedCropFlip, batched_transform
from datamodules.noisy_mnist import NoisyMNISTDataModule
from lab_modules import Classifier
from lab_modules.nets import ResNet18, SmallCNN
from labcore.errors import LabError
from tests.helpers import ROOT, TINY, cli, summary


def _cifar_classifier(net: nn.Module | None = None) -> Classifier:
    torch.manual_seed(0)
    net = net or SmallCNN(in_channels=3, image_size=32, channels=[8, 16], hidden=32, batchnorm=True)
    return Classifier(net=net, num_classes=10)


def _batch(n: int = 4, side: int = 32) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {"image": torch.randn(n, 3, side, side, generator=g), "label": torch.randint(0, 10, (n,), generator=g)}


def _loss(model: Classifier, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return model.loss_fn(model(image=batch["image"]), batch["label"])


# --- CompileNet -----------------------------------------------------------------------------------


def test_compile_in_place_keeps_state_dict_keys_and_checkpoints_load_both_ways(tmp_path):
    eager = _cifar_classifier()
    compiled = copy.deepcopy(eager)
    CompileNet(backend="aot_eager").setup(None, compiled, "fit")  # tracing backend: no C++ build, same wrapper
    assert compiled.net._compiled_call_impl is not None  # really compiled, in place
    batch = _batch()
    compiled.eval(), eager.eval()
    out = compiled(image=batch["image"])  # runs the compiled graph
    assert torch.allclose(out, eager(image=batch["image"]), atol=1e-5)
    assert list(compiled.state_dict()) == list(eager.state_dict())
    assert not any("_orig_mod" in k for k in compiled.state_dict())
    # compiled -> eager and eager -> compiled through checkpoint files read with weights_only=True
    with torch.no_grad():
        for p in compiled.net.parameters():
            p.add_(0.01)
    torch.save({"state_dict": compiled.state_dict()}, tmp_path / "c.ckpt")
    fresh = _cifar_classifier()
    fresh.load_state_dict(torch.load(tmp_path / "c.ckpt", weights_only=True)["state_dict"])  # strict
    fresh.eval()
    assert torch.allclose(fresh(image=batch["image"]), compiled(image=batch["image"]), atol=1e-5)
    torch.save({"state_dict": fresh.state_dict()}, tmp_path / "e.ckpt")
    other = _cifar_classifier()
    CompileNet(backend="aot_eager").setup(None, other, "fit")
    other.load_state_dict(torch.load(tmp_path / "e.ckpt", weights_only=True)["state_dict"])
    other.eval()
    assert torch.allclose(other(image=batch["image"]), fresh(image=batch["image"]), atol=1e-5)


@pytest.mark.slow  # the inductor build of one conv net is long on a cold cache on a CPU
def test_compiled_net_gives_the_eager_loss_and_gradients():
    eager = _cifar_classifier()
    compiled = copy.deepcopy(eager)
    CompileNet().setup(None, compiled, "fit")
    batch = _batch()
    le, lc = _loss(eager, batch), _loss(compiled, batch)
    le.backward(), lc.backward()
    assert torch.allclose(lc, le, atol=1e-5)
    for (name, pe), pc in zip(eager.net.named_parameters(), compiled.net.parameters(), strict=True):
        assert torch.allclose(pc.grad, pe.grad, atol=1e-4), name


def test_compile_missing_module_is_one_line_error_naming_the_option():
    with pytest.raises(LabError, match=r"no module 'nett'.*--trainer\.callbacks\.init_args\.modules") as err:
        CompileNet(modules=["nett"]).setup(None, _cifar_classifier(), "fit")
    assert "\n" not in str(err.value)


def test_compile_default_without_net_takes_every_child_with_parameters():
    class TwoNets(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.generator, self.discriminator = nn.Linear(2, 2), nn.Linear(2, 1)
            self.loss_fn = nn.MSELoss()  # no parameters: left alone

    module = TwoNets()
    assert sorted(CompileNet().targets(module)) == ["discriminator", "generator"]
    assert list(CompileNet(modules=["generator"]).targets(module)) == ["generator"]


def test_compile_warns_that_a_recurrent_net_runs_eager():
    module = Classifier(net=nn.Sequential(nn.LSTM(3, 4)), num_classes=2)
    with pytest.warns(UserWarning, match="LSTM, which torch.compile does not trace"):
        CompileNet(backend="aot_eager").setup(None, module, "fit")


# --- ChannelsLast -----------------------------------------------------------------------------------


@pytest.mark.parametrize("net", ["small_cnn", "resnet18"])
def test_channels_last_gives_the_same_outputs_and_gradients(net):
    build = {
        "small_cnn": lambda: SmallCNN(in_channels=3, image_size=32, channels=[8, 16], hidden=32, batchnorm=True),
        "resnet18": lambda: ResNet18(num_classes=10),
    }[net]
    plain = _cifar_classifier(build())
    nhwc = copy.deepcopy(plain)
    cb = ChannelsLast()
    cb.setup(None, nhwc, "fit")
    side = 16 if net == "resnet18" else 32  # ResNet18's CIFAR stem takes any size; 16 keeps the test cheap
    batch, batch_nhwc = _batch(side=side), _batch(side=side)
    cb.on_train_batch_start(None, nhwc, batch_nhwc, 0)
    assert batch_nhwc["image"].is_contiguous(memory_format=torch.channels_last)
    assert batch_nhwc["label"].dim() == 1  # only 4-d float tensors change
    conv = next(p for p in nhwc.parameters() if p.dim() == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    lp, lc = _loss(plain, batch), _loss(nhwc, batch_nhwc)
    lp.backward(), lc.backward()
    assert torch.allclose(lc, lp, atol=1e-5)
    # relative to the whole gradient: the summation order differs between the layouts, a conv bias before BatchNorm
    # has a gradient of ~0 made only of rounding, and 20 BatchNorms over 4 samples amplify it (ResNet18: ~2e-3);
    # a layout mix-up gives O(1) differences
    gp = torch.cat([p.grad.flatten() for p in plain.parameters()])
    gc = torch.cat([p.grad.flatten() for p in nhwc.parameters()])
    assert ((gc - gp).norm() / gp.norm()).item() < 1e-2


def test_channels_last_reaches_the_step_in_lightning():
    """The hook runs after the batch transfer and before the step, on the dict the step receives."""

    class Probe(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.seen = nn.Conv2d(3, 2, 3), []

        def training_step(self, batch, batch_idx):
            self.seen.append(batch["image"].is_contiguous(memory_format=torch.channels_last))
            return self.conv(batch["image"]).mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = [{"image": torch.randn(3, 8, 8)} for _ in range(4)]
    probe = Probe()
    trainer = L.Trainer(
        max_steps=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[ChannelsLast()],
    )
    trainer.fit(probe, train_dataloaders=torch.utils.data.DataLoader(data, batch_size=2))
    assert probe.seen == [True, True]
    assert probe.conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_channels_last_leaves_other_batches_alone():
    batch = {"x": torch.randn(2, 5), "mask": torch.ones(2, 1, 4, 4, dtype=torch.long)}
    assert to_channels_last(batch) == 0 and batch["mask"].is_contiguous()
    assert to_channels_last([torch.randn(2, 3, 4, 4)]) == 0


# --- GPU-resident batches (on_device), the device path forced onto the CPU -------------------------


def _epoch(dm, epoch: int) -> list[dict[str, torch.Tensor]]:
    loader = dm.train_dataloader()
    loader.batch_sampler.set_epoch(epoch)
    return list(loader)


def _mnist(**kw) -> MNISTDataModule:
    return MNISTDataModule(source="embedded", batch_size=50, max_train_samples=300, **kw)


def test_on_device_serves_the_same_batches_in_the_same_order():
    torch.manual_seed(7)  # the training order's seed (torch.initial_seed)
    plain, dev = _mnist(), _mnist(on_device=True)
    dev.batch_device = "cpu"
    plain.setup("fit"), dev.setup("fit")
    assert dev._served("train") is not dev.datasets["train"]  # the device copy, not the host dataset
    assert dev._served("train") is dev._served("train")  # moved once
    for epoch in (0, 1):
        a, b = _epoch(plain, epoch), _epoch(dev, epoch)
        assert len(a) == len(b) == 6
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x["label"], y["label"]) and torch.equal(x["image"], y["image"])
    assert [torch.equal(x["label"], y["label"]) for x, y in zip(_epoch(plain, 0), _epoch(plain, 1))] != [True] * 6
    val_a, val_b = list(plain.val_dataloader()), list(dev.val_dataloader())
    assert all(torch.equal(x["image"], y["image"]) for x, y in zip(val_a, val_b, strict=True))


def test_on_device_resumes_mid_epoch_at_the_same_batch():
    torch.manual_seed(3)
    plain, dev = _mnist(), _mnist(on_device=True)
    dev.batch_device = "cpu"
    plain.setup("fit"), dev.setup("fit")
    full = _epoch(plain, 2)
    loader = dev.train_dataloader()
    loader.load_state_dict({"epoch": 2, "batches": 4})
    loader.batch_sampler.set_epoch(2)
    rest = list(loader)
    assert len(rest) == 2
    assert all(torch.equal(x["label"], y["label"]) for x, y in zip(full[4:], rest, strict=True))


def test_on_device_tables_and_series_cut_the_same_batches():
    torch.manual_seed(5)
    table = dict(
        dataset="titanic", target="Survived", numeric=["Pclass", "Age", "Fare"], categorical=["Sex"], source="embedded"
    )
    series = dict(source="embedded", batch_size=128)
    for cls, kw in ((TabularDataModule, table), (TimeSeriesDataModule, series)):
        plain, dev = cls(**kw), cls(**kw, on_device=True)
        dev.batch_device = "cpu"
        plain.setup("fit"), dev.setup("fit")
        assert dev._served("train") is not dev.datasets["train"]
        for x, y in zip(_epoch(plain, 1), _epoch(dev, 1), strict=True):
            assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x), cls.__name__


def test_on_device_is_a_no_op_without_a_cuda_trainer():
    dm = _mnist(on_device=True, num_workers=2)
    assert dm.num_workers == 0  # batches cut in device memory need no workers
    dm.setup("fit")
    assert dm._served("train") is dm.datasets["train"]  # no trainer / a CPU trainer: host memory as usual


def test_on_device_augmentation_runs_batched_with_the_same_label_order():
    torch.manual_seed(11)
    kw = dict(source="embedded", batch_size=32, max_train_samples=96, augment=True)
    plain, dev = CIFAR10DataModule(**kw), CIFAR10DataModule(**kw, on_device=True)
    dev.batch_device = "cpu"
    plain.setup("fit"), dev.setup("fit")
    served = dev._served("train")
    assert served.transform is None and isinstance(served.batch_transform, BatchedCropFlip)
    assert served.batch_transform.padding == (4, 4, 4, 4) and served.batch_transform.flip_p == 0.5
    for x, y in zip(_epoch(plain, 0), _epoch(dev, 0), strict=True):
        assert torch.equal(x["label"], y["label"]) and x["image"].shape == y["image"].shape == (32, 3, 32, 32)
        assert y["image"].dtype == torch.float32


def test_on_device_rejects_what_it_cannot_serve_in_one_line():
    noisy = NoisyMNISTDataModule(source="embedded", max_train_samples=50, on_device=True)
    noisy.setup("fit")
    with pytest.raises(LabError, match=r"--data\.init_args\.on_device.*NoisyDataset") as err:
        noisy.train_dataloader()  # checked on a CPU trainer too: a config fails alike everywhere
    assert "\n" not in str(err.value)
    custom = CIFAR10DataModule(
        source="embedded", max_train_samples=50, on_device=True, train_transform=v2.RandomRotation(10)
    )
    custom.setup("fit")
    with pytest.raises(LabError, match=r"train_transform or --data\.init_args\.on_device"):
        custom.train_dataloader()


def _offsets(images: torch.Tensor, out: torch.Tensor, pad: int) -> torch.Tensor:
    """For each output, ``(top, left, flipped)`` of the crop of its padded input it equals (-1 rows: none)."""
    n, c, h, w = images.shape
    windows = torch.nn.functional.pad(images, (pad,) * 4).unfold(2, h, 1).unfold(3, w, 1)  # n c T L h w
    windows = windows.permute(0, 2, 3, 1, 4, 5)  # n T L c h w
    found = torch.full((n, 3), -1)
    for flipped, target in ((0, out), (1, out.flip(-1))):
        hit = (windows == target[:, None, None]).flatten(3).all(3)  # n T L
        for i, top, left in hit.nonzero().tolist():
            found[i] = torch.tensor([top, left, flipped])
    return found


def test_batched_crop_flip_outputs_are_valid_crops_and_flips_distributed_like_the_per_sample_ones():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (1500, 2, 6, 6), dtype=torch.uint8)  # distinct images: one crop matches
    transform = v2.Compose([v2.RandomCrop(6, padding=4), v2.RandomHorizontalFlip()])
    batched = batched_transform(transform, "test")(images)
    per_sample = torch.stack([transform(x) for x in images])
    assert batched.shape == per_sample.shape == images.shape and batched.dtype == torch.uint8
    for out in (batched, per_sample):
        found = _offsets(images, out, pad=4)
        assert (found >= 0).all()  # every output is a crop (or flipped crop) of its own input
        for col, values in ((0, 9), (1, 9)):  # top / left offsets uniform over 0..8 (expected 167 each)
            counts = torch.bincount(found[:, col], minlength=values)
            assert counts.min() > 100 and counts.max() < 240, counts
        assert 0.44 < found[:, 2].float().mean() < 0.56  # flipped half of the time


def test_batched_transform_variants():
    flip_only = batched_transform(v2.RandomHorizontalFlip(p=1.0), "t")
    x = torch.arange(2 * 1 * 3 * 4, dtype=torch.uint8).view(2, 1, 3, 4)
    assert torch.equal(flip_only(x), x.flip(-1))
    assert torch.equal(batched_transform(v2.RandomCrop(4), "t")(torch.ones(3, 1, 4, 4)), torch.ones(3, 1, 4, 4))
    with pytest.raises(LabError, match="on_device"):
        batched_transform(v2.RandomCrop(4, padding=2, padding_mode="reflect"), "t")


# --- through the CLI -------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_fit_compiled_in_bf16_and_the_checkpoint_tests_eager(tmp_path):
    config = str(ROOT / "configs/labs/vision/mnist_mlp.yaml")
    run = cli(
        "fit",
        "--config",
        config,
        *TINY,
        "--trainer.callbacks+=callbacks.CompileNet",
        "--trainer.callbacks+=callbacks.ChannelsLast",
        "--trainer.precision",
        "bf16-mixed",
        "--data.init_args.on_device",
        "true",
        runs_dir=tmp_path,
        lab="switches",
    )
    s = summary(run)
    assert s["global_step"] == 2
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert any(k.startswith("net.layers.") for k in ckpt["state_dict"])
    assert not any("_orig_mod" in k for k in ckpt["state_dict"])
    # written compiled, read eager (no CompileNet): the keys match
    cli(
        "test",
        "--config",
        config,
        *TINY,
        "--ckpt_path",
        str(run / "checkpoints" / "last.ckpt"),
        runs_dir=tmp_path,
        lab="eager",
    )


def test_batched_transform_reads_a_train_transform_nested_in_the_datamodules_compose():
    """cifar_speed's crop(pad 2) + flip comes as ``train_transform``, which the datamodule wraps in a second Compose."""
    dm = CIFAR10DataModule(
        source="embedded",
        max_train_samples=50,
        on_device=True,
        train_transform=v2.Compose([v2.RandomCrop(32, padding=2), v2.RandomHorizontalFlip()]),
    )
    batched = batched_transform(dm._train_transform(), "cifar10")
    assert tuple(batched.padding) == (2, 2, 2, 2) and batched.flip_p == 0.5
