"""Attention heatmaps with token labels, for nets that expose ``last_attention``."""

from __future__ import annotations

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from callbacks.figures import log_figure, plt
from datamodules.text_classification import TextClassificationDataModule
from lab_modules.nets.transformer_text import AttentionToyClassifier, TransformerTextClassifier
from lab_modules.task import LabTask

ATTENTION_NETS = (TransformerTextClassifier, AttentionToyClassifier)  # the nets that keep ``last_attention``


class AttentionHeatmap(Callback):
    """After validation (every ``every_n_epochs``) and test: runs ``texts`` (default: the
    first ``num_examples`` validation / test texts) through the model and draws the attention
    weights of layer ``layer`` (head ``head``, or the mean over heads), rows = queries, columns =
    keys, labelled with the tokens and annotated with the weights.

    Reads ``pl_module.net.last_attention`` (a list of N x heads x L x L tensors, one per layer)
    and the datamodule's ``encode_texts`` / ``tokens`` / ``texts``.
    """

    def __init__(
        self,
        texts: list[str] | None = None,
        num_examples: int = 1,
        every_n_epochs: int = 1,
        layer: int = -1,
        head: int | None = None,
        annotate_max_tokens: int = 24,
    ) -> None:
        self.texts = texts
        self.num_examples = num_examples
        self.every_n_epochs = every_n_epochs
        self.layer = layer
        self.head = head
        self.annotate_max_tokens = annotate_max_tokens

    def _draw(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        dm = trainer.datamodule
        net = getattr(pl_module, "net", None)  # the Classifier's injected net
        if not isinstance(dm, TextClassificationDataModule) or not isinstance(net, ATTENTION_NETS):
            return
        texts = list(self.texts) if self.texts else dm.texts("test" if stage == "test" else "val")[: self.num_examples]
        batch = {k: v.to(pl_module.device) for k, v in dm.encode_texts(texts).items()}
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            probs = pl_module.probabilities(pl_module(**batch)) if isinstance(pl_module, LabTask) else None
        pl_module.train(was_training)
        att = net.last_attention[self.layer].float().cpu()
        names = list(pl_module.class_names) if isinstance(pl_module, LabTask) else []
        for i, text in enumerate(texts):
            n = int(batch["lengths"][i])
            w = att[i].mean(0) if self.head is None else att[i, self.head]
            w = w[:n, :n].numpy()
            tokens = dm.tokens(batch["input_ids"][i, :n].tolist())
            fig, ax = plt.subplots(figsize=(max(4, 0.45 * n + 2), max(3.5, 0.45 * n + 1.5)))
            im = ax.imshow(w, cmap="viridis", vmin=0, vmax=max(float(w.max()), 1e-6))
            fig.colorbar(im, ax=ax, fraction=0.046)
            ax.set_xticks(range(n), tokens, rotation=60, ha="right", fontsize=8)
            ax.set_yticks(range(n), tokens, fontsize=8)
            ax.set_xlabel("key")
            ax.set_ylabel("query")
            if n <= self.annotate_max_tokens:
                for r in range(n):
                    for c in range(n):
                        ax.text(
                            c,
                            r,
                            f"{w[r, c]:.2f}",
                            ha="center",
                            va="center",
                            fontsize=6,
                            color="black" if w[r, c] > w.max() * 0.6 else "white",
                        )
            pred = ""
            if probs is not None and names:
                k = int(probs[i].argmax())
                pred = f" -> {names[k]} ({float(probs[i, k]):.2f})"
            head = "mean over heads" if self.head is None else f"head {self.head}"
            ax.set_title(
                f"{stage} attention, layer {self.layer}, {head}, epoch {trainer.current_epoch}\n{text[:70]}{pred}",
                fontsize=8,
            )
            log_figure(trainer, fig, f"{stage}/attention_{i}")

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs == 0 or trainer.current_epoch + 1 == trainer.max_epochs:
            self._draw(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._draw(trainer, pl_module, "test")
