"""The prepared GPU check (benchmarks/gpu_check.py) and the airbench94 recipe it compares our cifar_speed lab with.

airbench94 itself needs CUDA (fp16 net, CUDA events), so here: its net and optimizer are rebuilt in fp32 on the CPU
from the vendored script's own classes and compared with ours, our tensors go through its loader, and the whole
check runs in ``--smoke`` mode on the CPU.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from torch import nn

from benchmarks import gpu_check
from callbacks.lookahead import Lookahead
from callbacks.whitening import WhiteningInit
from datamodules import CIFAR10DataModule
from lab_modules.nets import AirbenchNet
from labcore.errors import LabError

ROOT = Path(__file__).resolve().parent.parent
ab = gpu_check.load_airbench()


def _airbench_net(widths: list[int]) -> nn.Sequential:
    """airbench94's make_net in fp32 on the CPU (its own layer classes; make_net itself casts to fp16 CUDA)."""
    w = {"block1": widths[0], "block2": widths[1], "block3": widths[2]}
    m = ab.hyp["net"]["batchnorm_momentum"]
    net = nn.Sequential(
        ab.Conv(3, 24, 2, padding=0, bias=True),
        nn.GELU(),
        ab.ConvGroup(24, w["block1"], m),
        ab.ConvGroup(w["block1"], w["block2"], m),
        ab.ConvGroup(w["block2"], w["block3"], m),
        nn.MaxPool2d(3),
        ab.Flatten(),
        nn.Linear(w["block3"], 10, bias=False),
        ab.Mul(ab.hyp["net"]["scaling_factor"]),
    )
    net[0].weight.requires_grad = False
    return net


def _ours_from(ref: nn.Sequential, widths: list[int]) -> AirbenchNet:
    """Our net with the reference's weights (BatchNorm bias = 8 * shift)."""
    ours = AirbenchNet(widths=widths, tta_level=0)
    with torch.no_grad():
        ours.whiten.weight.copy_(ref[0].weight)
        ours.whiten.bias.copy_(ref[0].bias)
        for g_ours, g_ref in zip(ours.groups, ref[2:5]):
            for name in ("conv1", "conv2"):
                getattr(g_ours, name).weight.copy_(getattr(g_ref, name).weight)
            for name in ("norm1", "norm2"):
                n_ours, n_ref = getattr(g_ours, name), getattr(g_ref, name)
                n_ours.shift.copy_(n_ref.bias / n_ours.bias_scale)
                n_ours.running_mean.copy_(n_ref.running_mean)
                n_ours.running_var.copy_(n_ref.running_var)
        ours.head.weight.copy_(ref[7].weight)
    return ours


def _params(ours: AirbenchNet) -> list[torch.Tensor]:
    """Our parameters as airbench holds them, in airbench's order."""
    out = [ours.whiten.weight, ours.whiten.bias]
    for g in ours.groups:
        out += [g.conv1.weight, g.norm1.shift * g.norm1.bias_scale, g.conv2.weight, g.norm2.shift * g.norm2.bias_scale]
    return [*out, ours.head.weight]


def _ref_params(ref: nn.Sequential) -> list[torch.Tensor]:
    out = [ref[0].weight, ref[0].bias]
    for g in ref[2:5]:
        out += [g.conv1.weight, g.norm1.bias, g.conv2.weight, g.norm2.bias]
    return [*out, ref[7].weight]


def test_net_matches_airbench94():
    """Same output in training mode (batch statistics) and eval mode (running statistics), same whitening init,
    same running-statistics update (airbench's BatchNorm momentum 0.6 is torch's 0.4)."""
    torch.manual_seed(0)
    widths = [8, 16, 16]
    ref = _airbench_net(widths)
    images = torch.randn(12, 3, 32, 32)
    ab.init_whitening_conv(ref[0], images)
    ours = _ours_from(ref, widths)
    ours_init = AirbenchNet(widths=widths)
    ours_init.init_whitening(images)
    torch.testing.assert_close(ours_init.whiten.weight, ref[0].weight)
    x = torch.randn(6, 3, 32, 32)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours.groups[1].norm2.running_var, ref[3].norm2.running_var)
    ours.eval()
    ref.eval()
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-4, atol=1e-5)


@pytest.mark.slow  # long on one core: batch 1024 (the lr conversion holds at airbench's batch size only)
def test_one_group_sgd_follows_airbench_param_groups():
    """The lab's one SGD group (mean loss, lr 1.5, weight_decay 0.0153/11.5, BatchNorm bias = 8 * shift) takes the
    same steps as airbench94's two groups (summed loss, lr 11.5/kilostep_scale, BatchNorm biases 64x lr)."""
    torch.manual_seed(0)
    widths = [8, 8, 8]
    ref = _airbench_net(widths)
    ours = _ours_from(ref, widths)
    opt_args = yaml.safe_load((ROOT / "configs/labs/vision/cifar_speed.yaml").read_text())["model"]["init_args"]
    ours_opt = torch.optim.SGD([p for p in ours.parameters() if p.requires_grad], **opt_args["optimizer"]["init_args"])
    hyp = ab.hyp["opt"]
    batch_size, momentum = hyp["batch_size"], hyp["momentum"]
    kilostep_scale = 1024 * (1 + 1 / (1 - momentum))
    lr = hyp["lr"] / kilostep_scale
    wd = hyp["weight_decay"] * batch_size / kilostep_scale
    lr_biases = lr * hyp["bias_scaler"]
    norm_biases = [p for k, p in ref.named_parameters() if "norm" in k and p.requires_grad]
    other = [p for k, p in ref.named_parameters() if "norm" not in k and p.requires_grad]
    ref_opt = torch.optim.SGD(
        [
            dict(params=norm_biases, lr=lr_biases, weight_decay=wd / lr_biases),
            dict(params=other, lr=lr, weight_decay=wd / lr),
        ],
        momentum=momentum,
        nesterov=True,
    )
    smoothing = opt_args["label_smoothing"]
    assert smoothing == hyp["label_smoothing"]
    for _ in range(3):
        x, y = torch.randn(batch_size, 3, 32, 32), torch.randint(0, 10, (batch_size,))
        ref_opt.zero_grad()
        nn.functional.cross_entropy(ref(x), y, label_smoothing=smoothing, reduction="none").sum().backward()
        ref_opt.step()
        ours_opt.zero_grad()
        nn.functional.cross_entropy(ours(x), y, label_smoothing=smoothing).backward()
        ours_opt.step()
    moved = [not torch.equal(a, b) for a, b in zip(_params(ours), _params(_ours_from(_airbench_net(widths), widths)))]
    assert sum(moved) > 5  # the steps did change the weights
    for a, b in zip(_params(ours), _ref_params(ref)):
        torch.testing.assert_close(a, b, rtol=2e-4, atol=2e-6)


def test_tta_levels():
    """Eval mode averages mirrored (and, at level 2, translated) views; training mode never does."""
    torch.manual_seed(0)
    net = AirbenchNet(widths=[8, 8, 8], tta_level=1).eval()
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(net(x), 0.5 * (net.logits(x) + net.logits(x.flip(-1))))
    net.tta_level = 2
    assert not torch.allclose(net(x), 0.5 * (net.logits(x) + net.logits(x.flip(-1))))
    net.train()
    y = net(x)
    torch.testing.assert_close(y, net.logits(x))
    with pytest.raises(LabError, match="tta_level"):
        AirbenchNet(tta_level=3)


def test_whitening_callback_bias_epochs_and_bad_module():
    net = AirbenchNet(widths=[8, 8, 8])
    module = SimpleNamespace(net=net)
    cb = WhiteningInit(bias_epochs=3)
    for epoch, trainable in [(0, True), (2, True), (3, False), (7, False)]:
        cb.on_train_epoch_start(SimpleNamespace(current_epoch=epoch), module)
        assert net.whiten.bias.requires_grad is trainable
    assert net.whiten.weight.requires_grad is False
    with pytest.raises(LabError, match="module='generator'"):
        WhiteningInit(module="generator").on_train_epoch_start(SimpleNamespace(current_epoch=0), module)


def test_lookahead_follows_airbench():
    """callbacks.Lookahead with the lab's settings moves the weights (and BatchNorm statistics) as airbench94's
    LookaheadState with its alpha schedule does, step by step, and ends on the average; its state round-trips."""
    torch.manual_seed(0)
    total = 13
    ref = AirbenchNet(widths=[4, 4, 4])
    ours = copy.deepcopy(ref)
    cfg = yaml.safe_load((ROOT / "configs/labs/vision/cifar_speed.yaml").read_text())["trainer"]["callbacks"]
    la_args = next(c["init_args"] for c in cfg if c["class_path"] == "callbacks.Lookahead")
    callback = Lookahead(**la_args)
    module = SimpleNamespace(net=ours)
    trainer = SimpleNamespace(global_step=0, estimated_stepping_batches=total)
    callback.on_train_start(trainer, module)
    state = ab.LookaheadState(ref)
    alpha = 0.95**5 * (torch.arange(total + 1) / total) ** 3
    for step in range(1, total + 1):
        noise = {k: torch.randn_like(v) for k, v in ref.state_dict().items() if v.is_floating_point()}
        for net in (ref, ours):
            with torch.no_grad():
                for k, v in net.state_dict().items():
                    if k in noise:
                        v.add_(noise[k])
        if step % 5 == 0:
            state.update(ref, decay=alpha[step].item())
        if step >= total:
            state.update(ref, decay=1.0)
        trainer.global_step = step
        callback.on_train_batch_end(trainer, module, None, None, step - 1)
        for (k, a), b in zip(ours.state_dict().items(), ref.state_dict().values()):
            torch.testing.assert_close(a, b, msg=f"step {step}: {k}")
    restored = Lookahead()
    restored.load_state_dict(callback.state_dict())
    assert restored.average.keys() == callback.average.keys()
    with pytest.raises(LabError, match="module='nope'"):
        Lookahead(module="nope").on_train_start(trainer, module)


def test_split_tensors_feed_airbench_loader():
    """Our split's uint8 images (the test ones recovered exactly from their standardised floats) go through
    airbench's loader on the CPU: right shapes, fp16, labels kept."""
    dm = CIFAR10DataModule(source="embedded", augment=True)
    dm.setup("fit")
    tensors = gpu_check.split_tensors(dm)
    raw = dm._read("embedded", None)
    pool = raw.get("train") or raw.get("all")
    expected_test = raw["test"]["images"] if "test" in raw else pool["images"][dm.indices["test"]]
    assert tensors["test"][0].dtype == torch.uint8
    assert torch.equal(tensors["test"][0], expected_test)
    assert torch.equal(tensors["train"][0], pool["images"][dm.indices["train"]])
    line = gpu_check.feed_check(ab, tensors, batch_size=16)
    assert line.startswith(f"{len(tensors['train'][0]) // 16} batches of (16, 3, 32, 32) torch.float16")
    loader = ab.CifarLoader(*tensors["test"], train=False, batch_size=2000, device="cpu")
    assert torch.equal(loader.labels, tensors["test"][1])
    standardised = gpu_check.standardise(tensors["test"][0], dm)
    torch.testing.assert_close(standardised, dm.datasets["test"].images, rtol=0, atol=1e-5)


def test_speed_report_reached_and_not_reached():
    ab_result = {"steps": 240, "tta_val_acc": 0.8, "val_acc": 0.79, "total_time_seconds": 2.0}
    epochs = [
        {"epoch": 1, "acc": 0.5, "fit_s": 3.0, "loop_s": 2.0},
        {"epoch": 2, "acc": 0.81, "fit_s": 5.0, "loop_s": 4.0},
    ]
    ours = gpu_check.OursResult(epochs=epochs, reached=epochs[1], total_fit_s=6.0, total_loop_s=5.0)
    text = "\n".join(gpu_check.speed_report(ab_result, ours, 0.8, on_device=True))
    assert "time to 0.8000: ours 5.00 s (epoch 2; loop only 4.00 s), airbench94 2.00 s" in text
    assert "ratio ours/airbench 2.50 (loop only 2.00)" in text
    ours.reached = None
    text = "\n".join(gpu_check.speed_report(ab_result, ours, 0.82, on_device=False))
    assert "**not reached**: our best accuracy 0.8100 < 0.8200" in text and "ratio ours/airbench 3.00" in text


FAKE_SWITCHES = """
import argparse, json
p = argparse.ArgumentParser()
for a in ("--accelerator", "--labs", "--json", "--variants", "--steps", "--warmup", "--threads"):
    p.add_argument(a)
a = p.parse_args()
if a.labs == "slow_lab":
    import time; time.sleep(600)
if a.labs == "broken_lab":
    raise SystemExit("no such lab: broken_lab")
print("| lab | variant | samples/s | ratio to fp32 | loss |")
print("|---|---|---|---|---|")
for v in a.variants.split(","):
    print(f"| {a.labs} | {v} | 100 | 1.00 | 2.3 |")
json.dump([{"lab": a.labs}], open(a.json, "w"))
"""


@pytest.mark.slow
def test_smoke_run(tmp_path):
    """The whole check in --smoke mode on the CPU: our lab's per-epoch accuracy row, airbench's loader fed, and
    the switches' table (from a stand-in script)."""
    fake = tmp_path / "switches.py"
    fake.write_text(FAKE_SWITCHES)
    out = tmp_path / "check.json"
    argv = ["--smoke", "--switches-script", str(fake), "--switch-labs", "mnist_mlp", "--json", str(out)]
    result = gpu_check.main(argv)
    text = result["report"]
    assert "airbench94 needs CUDA: not trained; its loader fed our tensors on the CPU" in text
    assert "| 1 | " in text and "no airbench reference" in text
    assert "| mnist_mlp | fp32 | 100 | 1.00 | 2.3 |" in text and "| mnist_mlp | bf16 |" in text
    assert out.exists() and len(result["speed"]["ours"]["epochs"]) == 1


def test_switches_failures_timeouts_and_absence(tmp_path, monkeypatch):
    """One switches lab failing, one past its share of the time budget, the script absent: each said in one line,
    the others' rows kept."""
    fake = tmp_path / "switches.py"
    fake.write_text(FAKE_SWITCHES)
    monkeypatch.setattr(gpu_check, "MIN_SHARE_S", 1.0)
    argv = ["--smoke", "--switches-script", str(fake), "--switch-labs", "ok_lab,broken_lab,slow_lab"]
    args = gpu_check.parse([*argv, "--switch-variants", "fp32,bf16"])
    lines = gpu_check.run_switches(args, deadline=time.perf_counter() + 6)
    text = "\n".join(lines)
    assert "| ok_lab | fp32 | 100 | 1.00 | 2.3 |" in text and "| ok_lab | bf16 |" in text
    assert "broken_lab [fp32,bf16]: failed (exit 1): no such lab: broken_lab" in text
    assert "slow_lab [fp32,bf16]: timed out after" in text
    args.switches_script = str(tmp_path / "absent.py")
    assert "absent.py is absent" in gpu_check.run_switches(args, deadline=1e12)[-1]


def test_switches_compiled_variants_apart(tmp_path):
    """Compiled variants run in a call of their own per lab; the fp32 row that call repeats is kept once."""
    assert gpu_check.switch_jobs(["a", "b"], "fp32,bf16,compiled,on_device") == [
        ("a", "fp32,bf16,on_device", 1.0),
        ("a", "compiled", 2.0),
        ("b", "fp32,bf16,on_device", 1.0),
        ("b", "compiled", 2.0),
    ]
    fake = tmp_path / "switches.py"
    fake.write_text(
        FAKE_SWITCHES.replace("for v in a.variants", "for v in ['fp32'] * ('fp32' not in a.variants) + a.variants")
    )
    args = gpu_check.parse(["--smoke", "--switches-script", str(fake), "--switch-labs", "a"])
    args.switch_variants = "fp32,bf16,compiled"
    text = "\n".join(gpu_check.run_switches(args, deadline=time.perf_counter() + 120))
    assert text.count("| a | fp32 |") == 1 and "| a | bf16 |" in text and "| a | compiled |" in text


def test_gpu_mode_refuses_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="no CUDA device"):
        gpu_check.parse(["--accelerator", "gpu"])
