"""Translation figures: attention heatmaps over source x output tokens, and a table of sample translations."""

from __future__ import annotations

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from callbacks.figures import log_figure, plt, run_dir
from labcore.errors import LabError

WORD_START = "\u2581"


def _readable(tokens: list[str]) -> list[str]:
    return [t.replace(WORD_START, "_") if t != WORD_START else "_" for t in tokens]


def _due(trainer: Trainer, every: int) -> bool:
    if trainer.sanity_checking:
        return False
    return (trainer.current_epoch + 1) % every == 0 or trainer.current_epoch + 1 == trainer.max_epochs


def _pairs(trainer: Trainer, stage: str, n: int) -> tuple[list[str], list[str]] | None:
    dm = trainer.datamodule
    if dm is None or not hasattr(dm, "encode_pairs") or not hasattr(dm, "texts"):
        return None
    src, tgt = dm.texts("test" if stage == "test" else "val")
    return src[:n], tgt[:n]


class TranslationAttention(Callback):
    """After validation (every ``every_n_epochs``) and test: greedy-translates the first
    ``num_examples`` validation / test sentences and draws, per sentence, the attention of every
    output token (rows) over the source tokens (columns), labelled with the tokens. The RNN's
    attention; the Transformer's last-layer cross-attention, averaged over heads (``head``: one head).
    Nets without attention (the report's plain encoder-decoder) draw nothing.

    Reads ``pl_module.translate`` / ``pl_module.to_text`` (``lab_modules.seq2seq.Seq2Seq``) and the
    datamodule's ``texts`` / ``encode_pairs`` / ``source_tokens`` / ``target_tokens``.
    """

    def __init__(self, num_examples: int = 2, every_n_epochs: int = 1, head: int | None = None) -> None:
        self.num_examples, self.every_n_epochs, self.head = num_examples, every_n_epochs, head

    def draw(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> list:
        pairs = _pairs(trainer, stage, self.num_examples)
        if pairs is None or not hasattr(pl_module, "translate"):
            return []
        dm = trainer.datamodule
        batch = dm.encode_pairs(pairs[0])
        src_ids, src_mask = batch["src_ids"].to(pl_module.device), batch["src_mask"].to(pl_module.device)
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            seqs, attn = pl_module.translate(src_ids, src_mask, keep_attention=True)
        pl_module.train(was_training)
        if attn is None:
            return []
        paths = []
        for i, (seq, w) in enumerate(zip(seqs, attn)):
            what = ""
            if w.dim() == 3:  # output tokens x heads x source tokens (the Transformer's per-head cross-attention)
                if self.head is not None and not -w.shape[1] <= self.head < w.shape[1]:
                    raise LabError(f"TranslationAttention head={self.head}; the net has {w.shape[1]} heads, pass 0..")
                w = w.mean(1) if self.head is None else w[:, self.head]
                what = " (mean over heads)" if self.head is None else f" (head {self.head})"
            n = int(src_mask[i].sum())
            w = w[:, :n].numpy()
            xs = _readable(dm.source_tokens(src_ids[i, :n].tolist()))
            ys = _readable(dm.target_tokens(seq)) + ["<eos>"]
            ys = ys[: w.shape[0]]
            fig, ax = plt.subplots(figsize=(max(4, 0.45 * len(xs) + 2), max(3.5, 0.4 * len(ys) + 1.5)))
            im = ax.imshow(w[: len(ys)], cmap="viridis", vmin=0, vmax=max(float(w.max()), 1e-6), aspect="auto")
            fig.colorbar(im, ax=ax, fraction=0.046)
            ax.set_xticks(range(len(xs)), xs, rotation=60, ha="right", fontsize=8)
            ax.set_yticks(range(len(ys)), ys, fontsize=8)
            ax.set_xlabel("source token")
            ax.set_ylabel("output token")
            ax.set_title(
                f"{stage} attention{what}, epoch {trainer.current_epoch}\n{pairs[0][i][:60]}\n"
                f"-> {pl_module.to_text(seq)[:60]}",
                fontsize=8,
            )
            paths.append(log_figure(trainer, fig, f"{stage}/translation_attention_{i}"))
        return paths

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if _due(trainer, self.every_n_epochs):
            self.draw(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.draw(trainer, pl_module, "test")


class TranslationSamples(Callback):
    """Every ``every_n_epochs`` validation and after test: a table of ``num_examples`` sentences
    (source, reference, greedy, beam) as ``figures/<stage>_samples_epochNNN.md`` and as a figure."""

    def __init__(self, num_examples: int = 8, every_n_epochs: int = 1, beam: bool = True) -> None:
        self.num_examples, self.every_n_epochs, self.beam = num_examples, every_n_epochs, beam

    def rows(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> list[tuple[str, str, str, str]]:
        pairs = _pairs(trainer, stage, self.num_examples)
        if pairs is None or not hasattr(pl_module, "translate"):
            return []
        batch = trainer.datamodule.encode_pairs(*pairs)
        src_ids, src_mask = batch["src_ids"].to(pl_module.device), batch["src_mask"].to(pl_module.device)
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            greedy, _ = pl_module.translate(src_ids, src_mask)
            beam, _ = pl_module.translate(src_ids, src_mask, beam=True) if self.beam else (greedy, None)
        pl_module.train(was_training)
        return [
            (s, r, pl_module.to_text(g), pl_module.to_text(b))
            for s, r, g, b in zip(batch["source_text"], batch["target_text"], greedy, beam)
        ]

    def write(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        # every rank draws (the same rows) and calls log_figure: trainer.log_dir is a collective under DDP
        folder = run_dir(trainer) / "figures"
        rows = self.rows(trainer, pl_module, stage)
        if not rows:
            return
        if trainer.is_global_zero:
            folder.mkdir(parents=True, exist_ok=True)
            head = "| source | reference | greedy | beam |\n|---|---|---|---|\n"
            body = "".join("| " + " | ".join(c.replace("|", "/") for c in r) + " |\n" for r in rows)
            (folder / f"{stage}_samples_epoch{trainer.current_epoch:03d}.md").write_text(head + body, encoding="utf-8")
        fig, ax = plt.subplots(figsize=(14, 0.45 * len(rows) + 1))
        ax.axis("off")
        table = ax.table(
            cellText=[[c[:48] for c in r] for r in rows],
            colLabels=["source", "reference", "greedy", "beam"],
            loc="center",
            cellLoc="left",
        )
        table.auto_set_font_size(False)
        table.set_fontsize(7)
        ax.set_title(f"{stage} translations, epoch {trainer.current_epoch}", fontsize=9)
        log_figure(trainer, fig, f"{stage}/translation_samples")

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if _due(trainer, self.every_n_epochs):
            self.write(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.write(trainer, pl_module, "test")
