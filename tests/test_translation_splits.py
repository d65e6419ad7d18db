"""Translation training pairs: one order (length filter, then max_train_pairs) fresh and restored; target overlap."""

from __future__ import annotations

import logging

from datamodules.translation import TranslationDataModule

EN = ["the cat sleeps.", "the dog runs!", "a bird sings.", "the cat runs.", "a dog sleeps!", "the bird runs."]
DE = ["die katze schläft.", "der hund rennt!", "ein vogel singt.", "die katze rennt.", "ein hund schläft!", "x y."]


def test_fresh_and_restored_datamodules_train_on_the_same_pairs():
    opts = dict(source="embedded", max_train_pairs=300, max_length=8, max_eval_pairs=20, batch_size=16)
    fresh = TranslationDataModule(**opts)
    fresh.setup("fit")
    pairs = fresh.texts("train")
    assert fresh.dropped["too_long"] > 300  # the filter matters here
    assert len(pairs[0]) == 300  # max_train_pairs counts pairs that are trained on: filter first, then subset
    restored = TranslationDataModule(**opts)
    restored.load_state_dict(fresh.state_dict())
    restored.setup("fit")
    assert restored.texts("train") == pairs
    assert restored.model_info() == fresh.model_info()


def test_the_notice_reports_references_that_are_training_targets(tmp_path, caplog):
    parts = {
        "train": (EN * 2, DE * 2),
        "val": (["the cat swims."], ["die katze schwimmt."]),
        "test": (["a kitten sleeps.", "the bird swims."], ["die katze schläft.", "der vogel schwimmt."]),
    }
    for split, (en, de) in parts.items():
        (tmp_path / f"{split}.en").write_text("\n".join(en) + "\n", encoding="utf-8")
        (tmp_path / f"{split}.de").write_text("\n".join(de) + "\n", encoding="utf-8")
    dm = TranslationDataModule(dataset="custom", path=str(tmp_path), src_lang="en", tgt_lang="de", batch_size=4)
    with caplog.at_level(logging.INFO):
        dm.setup("fit")
    assert dm.target_overlap == {"val": 0, "test": 1}  # "die katze schläft." is a training target (another source)
    notice = " ".join(r.getMessage() for r in caplog.records)
    assert "val 0 of 1 (0.0%), test 1 of 2 (50.0%)" in notice
