"""Translation datamodule: readers (aligned files, tables, gz, dev.*), grouped split, tokenisers, batches."""

from __future__ import annotations

import gzip

import pytest
import torch

from datamodules.parallel_readers import read_parallel_path
from datamodules.seq2seq_vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID, SeqEncoder, detokenize, train_tokenizer
from datamodules.translation import PairTokenizerOptions, TranslationDataModule
from labcore.errors import DataSourceError, LabError

EN = ["the cat sleeps.", "the dog runs!", "a bird sings.", "the cat runs.", "a dog sleeps!", "the bird runs."]
DE = [
    "die katze schläft.",
    "der hund rennt!",
    "ein vogel singt.",
    "die katze rennt.",
    "ein hund schläft!",
    "der vogel rennt.",
]


def _aligned(tmp_path, val_name="dev", gz=False):
    """A Multi30k-like folder: train/dev/test .en/.de, optionally gzipped."""
    parts = {
        "train": (EN * 3, DE * 3),
        val_name: (EN[:2], DE[:2]),
        "test": (["the cat swims."], ["die katze schwimmt."]),
    }
    for split, (en, de) in parts.items():
        for lang, lines in (("en", en), ("de", de)):
            data = ("\n".join(lines) + "\n").encode("utf-8")
            if gz:
                (tmp_path / f"{split}.{lang}.gz").write_bytes(gzip.compress(data))
            else:
                (tmp_path / f"{split}.{lang}").write_bytes(data)
    return tmp_path


def _dm(**kw) -> TranslationDataModule:
    kw.setdefault("batch_size", 4)
    return TranslationDataModule(**kw)


@pytest.mark.parametrize("gz", [False, True])
def test_aligned_files_keep_alignment_and_dev_is_validation(tmp_path, gz):
    dm = _dm(dataset="custom", path=str(_aligned(tmp_path, "dev", gz)), src_lang="de", tgt_lang="en")
    dm.setup("fit")
    assert dm.texts("val") == (DE[:2], EN[:2])  # dev.* is the validation split, kept as given, de -> en
    assert dm.texts("test") == (["die katze schwimmt."], ["the cat swims."])
    pairs = dict(zip(DE, EN))
    for batch in dm.train_dataloader():  # every batch row: the source's own translation (bucketing reorders rows)
        for s, t in zip(batch["source_text"], batch["target_text"]):
            assert pairs[s] == t
        for i in range(len(batch["source_text"])):
            n = int(batch["src_lengths"][i])
            assert detokenize(dm.source_tokens(batch["src_ids"][i, :n].tolist())) == batch["source_text"][i]
            m = int(batch["tgt_lengths"][i])
            assert detokenize(dm.target_tokens(batch["tgt_ids"][i, :m].tolist())) == batch["target_text"][i]


def test_misaligned_files_are_one_line_errors(tmp_path):
    _aligned(tmp_path)
    (tmp_path / "train.de").write_text("nur eine zeile\n", encoding="utf-8")
    with pytest.raises(DataSourceError, match="train.en has 18 lines but train.de has 1"):
        read_parallel_path(tmp_path, "en", "de")
    with pytest.raises(DataSourceError, match="src_lang / tgt_lang"):
        read_parallel_path(tmp_path, "en", "fr")


def test_table_direction_and_gz(tmp_path):
    p = tmp_path / "pairs.txt.gz"
    p.write_bytes(gzip.compress("".join(f"{e}\t{d}\tCC-BY attribution\n" for e, d in zip(EN * 5, DE * 5)).encode()))
    dm = _dm(
        dataset="custom",
        path=str(p),
        columns=["en", "de"],
        src_lang="de",
        tgt_lang="en",
        test_fraction=0.2,
        val_fraction=0.2,
    )
    dm.setup("fit")
    src, tgt = dm.texts("train")
    assert set(src) <= set(DE) and all(dict(zip(DE, EN))[s] == t for s, t in zip(src, tgt))
    with pytest.raises(DataSourceError, match="columns"):
        _dm(dataset="custom", path=str(p), columns=["en", "de"], src_lang="en", tgt_lang="fr").setup("fit")


def test_no_source_sentence_in_two_splits_and_the_split_is_seeded():
    dm = _dm(source="embedded")
    dm.setup("fit")
    parts = {k: set(" ".join(s.lower().split()) for s in dm.texts(k)[0]) for k in ("train", "val", "test")}
    assert not parts["train"] & parts["test"] and not parts["train"] & parts["val"] and not parts["val"] & parts["test"]
    # Tatoeba repeats English sentences with several translations: grouped, they all stay in one part
    src = dm.texts("test")[0]
    assert len(src) > len(set(src))
    torch.manual_seed(123)  # another training seed: the same split
    again = _dm(source="embedded")
    again.setup("fit")
    assert again.texts("test") == dm.texts("test")
    other = _dm(source="embedded", split_seed=1)
    other.setup("fit")
    assert other.texts("test") != dm.texts("test")


def test_specials_unk_and_vocabulary_from_train_only(tmp_path):
    dm = _dm(dataset="custom", path=str(_aligned(tmp_path)), src_lang="en", tgt_lang="de")
    dm.setup("fit")
    src_enc, tgt_enc = dm.encoders()
    # "swims" / "schwimmt" occur only in the test split: not in either vocabulary
    assert "\u2581schwimmt" not in tgt_enc.vocab() and "\u2581swims" not in src_enc.vocab()
    batch = next(iter(dm.test_dataloader()))
    tgt = batch["tgt_ids"][0].tolist()
    assert tgt[0] == BOS_ID and tgt[-1] == EOS_ID
    assert UNK_ID in tgt and PAD_ID not in tgt  # an unknown word is <unk>, never <pad> (the report mapped it to <pad>)
    assert batch["src_ids"][0, int(batch["src_lengths"][0]) - 1] == EOS_ID
    info = dm.model_info()
    assert info["target_vocab"][:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert (info["pad_index"], info["bos_index"], info["eos_index"]) == (PAD_ID, BOS_ID, EOS_ID)


def test_padding_mask_marks_real_tokens():
    dm = _dm(source="embedded", max_train_pairs=64, batch_size=16)
    batch = next(iter(dm.train_dataloader()))
    assert torch.equal(batch["src_mask"].sum(1), batch["src_lengths"])
    assert ((batch["src_ids"] == PAD_ID) == (batch["src_mask"] == 0)).all()


def test_punctuation_split_off_and_detokenisation_exact():
    tok = train_tokenizer(["Va-t'en !", "Dites-moi où est Tom.", "Ça alors\u202f!"], "word")
    enc = SeqEncoder(tok, "word", True)
    ids = enc.encode(["Dites-moi où est Tom."])[0]
    assert enc.tokens(ids)[-2:] == ["\u2581tom", "."]  # "Tom." -> tom + . (the report kept "tom.")
    for text in ["Va-t'en !", "Dites-moi où est Tom.", "Ça alors\u202f!"]:
        assert detokenize(enc.tokens(enc.encode([text], bos=True, eos=True)[0])) == enc.normalise(text)
    bpe = SeqEncoder(train_tokenizer(EN * 20, "bpe", vocab_size=60), "bpe", True)
    assert detokenize(bpe.tokens(bpe.encode(["the cat sleeps."])[0])) == "the cat sleeps."


def test_bpe_trained_on_train_only_and_length_filter(tmp_path):
    dm = _dm(
        dataset="custom",
        path=str(_aligned(tmp_path)),
        src_lang="en",
        tgt_lang="de",
        tokenizer=PairTokenizerOptions(kind="bpe", vocab_size=80),
    )
    dm.setup("fit")
    assert dm.encoders()[1].kind == "bpe" and dm.model_info()["tgt_vocab_size"] <= 80
    short = _dm(dataset="custom", path=str(_aligned(tmp_path)), src_lang="en", tgt_lang="de", max_length=5)
    short.setup("fit")
    assert short.dropped["too_long"] > 0 and len(short.texts("train")[0]) < 18
    assert len(short.texts("val")[0]) == 2  # held-out pairs kept whole


def test_tokenizers_travel_with_the_state(tmp_path):
    dm = _dm(dataset="custom", path=str(_aligned(tmp_path)), src_lang="en", tgt_lang="de")
    dm.setup("fit")
    ckpt = tmp_path / "x.ckpt"
    torch.save({"TranslationDataModule": dm.state_dict()}, ckpt)
    restored = _dm(
        dataset="custom", path=str(tmp_path / "nowhere"), from_checkpoint=str(ckpt), predict_texts=["The cat."]
    )
    assert restored.model_info() == dm.model_info()  # no data read: the path does not exist
    restored.setup("predict")
    batch = next(iter(restored.predict_dataloader()))
    assert batch["source_text"] == ["the cat."] and "tgt_ids" not in batch


def test_bad_options_are_one_line_errors():
    with pytest.raises(DataSourceError, match="no hub download"):
        _dm(source="download").download()
    with pytest.raises(DataSourceError, match="no network"):
        _dm(dataset="multi30k", source="download", src_lang="de", tgt_lang="en").setup("fit")
    with pytest.raises(DataSourceError, match="pass --data.init_args.path"):
        _dm(dataset="custom").setup("fit")
    with pytest.raises(LabError, match="both 'en'"):
        _dm(src_lang="en", tgt_lang="en")
