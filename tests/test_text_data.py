"""Text datamodule: readers (TREC leak, latin-1 rt-polarity, CSV/TSV/JSONL), tokenizers, batching."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from datamodules import TextClassificationDataModule
from datamodules.text_batching import BucketBatchSampler
from datamodules.text_readers import TEXT_DIR, TextFileOptions, parse_trec_line, read_embedded
from datamodules.text_tokenizer import TextEncoder, TokenizerOptions, build_vocab, python_loop_encode
from labcore.errors import DataSourceError, LabError


def _raw_trec_lines() -> list[str]:
    text = gzip.open(TEXT_DIR / "trec_train_5500.label.gz").read().decode("utf-8")
    return [ln for ln in text.split("\n") if ln.strip()]


def test_trec_fine_label_never_leaks_into_the_text():
    lines = _raw_trec_lines()
    dm = TextClassificationDataModule(dataset="trec", source="embedded", val_fraction=0.0)
    dm.setup("fit")
    texts = set(dm.texts("train")) | set(dm.texts("val"))
    assert len(lines) == 5452
    for line in lines:
        label, question = line.split(" ", 1)
        assert question.strip() in texts  # the question, whole
    for t in texts:  # and nothing of the label: neither "COARSE:fine" nor the bare fine label in front
        first = t.split(" ", 1)[0]
        assert ":" not in first or not first.split(":")[0].isupper(), t
    leaked = sum(1 for ln in lines if parse_trec_line(ln)[1].split(" ", 1)[0] == ln.split(" ", 1)[0].split(":")[1])
    assert leaked < 0.01 * len(lines), f"{leaked} questions start with their own fine label"
    assert parse_trec_line("DESC:manner How did serfdom develop ?") == ("DESC", "How did serfdom develop ?")
    assert parse_trec_line("DESC:manner How did serfdom develop ?", fine=True)[0] == "DESC:manner"


def test_trec_classes_and_official_test_set():
    dm = TextClassificationDataModule(dataset="trec", source="embedded")
    info = dm.model_info()
    assert info["class_names"] == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    dm.setup("fit")
    assert len(dm.texts("test")) == 500
    labels = dm._splits["test"][1]
    assert np.bincount(labels, minlength=6).tolist() == [9, 138, 94, 65, 81, 113]
    fine = TextClassificationDataModule(dataset="trec", source="embedded", trec_labels="fine")
    assert fine.model_info()["num_classes"] == 50


def test_rt_polarity_latin1_split_on_newline_only():
    texts, labels = read_embedded("rt_polarity")["all"]
    assert len(texts) == 10662 and labels.count("positive") == 5331
    assert any("\x85" in t for t in texts)  # U+0085 kept inside a line, not a line break
    dm = TextClassificationDataModule(dataset="rt_polarity", source="embedded")
    dm.setup("fit")
    assert [len(dm.texts(s)) for s in ("train", "val", "test")] == [8530, 1066, 1066]


def test_path_sources_csv_tsv_jsonl_and_errors(tmp_path):
    rows = [
        (f"{t} {i}", y)
        for i in range(5)
        for t, y in (("a great film", "pos"), ("dull and long", "neg"), ("loved it", "pos"), ("awful", "neg"))
    ]
    (tmp_path / "d.csv").write_text("review,stars\n" + "".join(f'"{t}",{y}\n' for t, y in rows))
    (tmp_path / "d.tsv").write_text("review\tstars\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"review": t, "stars": y}) + "\n" for t, y in rows))
    for name in ("d.csv", "d.tsv", "d.jsonl"):
        dm = TextClassificationDataModule(
            dataset="custom",
            path=str(tmp_path / name),
            files=TextFileOptions(text_column="review", label_column="stars"),
            val_fraction=0.2,
            test_fraction=0.2,
        )
        info = dm.model_info()
        assert info["class_names"] == ["neg", "pos"], name
        dm.setup("fit")
        assert sum(len(dm.texts(s)) for s in ("train", "val", "test")) == 20
    with pytest.raises(DataSourceError, match="label_column"):
        TextClassificationDataModule(
            dataset="custom", path=str(tmp_path / "d.csv"), files=TextFileOptions(text_column="review")
        ).model_info()
    with pytest.raises(DataSourceError, match="--data.init_args.path"):
        TextClassificationDataModule(dataset="trec", source="path", path=str(tmp_path / "missing")).model_info()
    with pytest.raises(DataSourceError, match="no network"):
        TextClassificationDataModule(dataset="imdb", source="download").model_info()
    # a sentiment CSV's labels are normalised, so checkpoints move between sentiment sets
    dm = TextClassificationDataModule(
        dataset="imdb", path=str(tmp_path / "d.csv"), files=TextFileOptions(text_column="review", label_column="stars")
    )
    assert dm.model_info()["class_names"] == ["negative", "positive"]


def test_trec_and_rt_polarity_paths(tmp_path):
    (tmp_path / "trec").mkdir()
    (tmp_path / "trec" / "train_5500.label").write_text(
        "".join(f"HUM:ind Who wrote Hamlet {i} ?\nLOC:city Where is Rome {i} ?\n" for i in range(10))
    )
    (tmp_path / "trec" / "TREC_10.label").write_text("NUM:date When was 1984 written ?\n")
    dm = TextClassificationDataModule(dataset="trec", path=str(tmp_path / "trec"))
    dm.setup("fit")
    assert dm.texts("test") == ["When was 1984 written ?"]
    (tmp_path / "rt").mkdir()
    (tmp_path / "rt" / "rt-polarity.pos").write_bytes(b"".join(b"caf\xe9 good\x85 fine %d\n" % i for i in range(10)))
    (tmp_path / "rt" / "rt-polarity.neg").write_bytes(b"".join(b"bad %d\n" % i for i in range(10)))
    dm = TextClassificationDataModule(dataset="rt_polarity", path=str(tmp_path / "rt"))
    dm.setup("fit")
    assert sum(len(dm.texts(s)) for s in ("train", "val", "test")) == 20


def test_tokenizers_vocab_equals_the_python_loop_and_options():
    texts = read_embedded("imdb")["all"][0][:200]
    tok = build_vocab(texts)
    enc = TextEncoder("vocab", tok, 0)
    assert [a.tolist() for a in enc.encode(texts)] == python_loop_encode(texts, tok.get_vocab())
    assert "br" not in tok.get_vocab()  # <br /> stripped
    small = build_vocab(texts, min_freq=3, max_size=500)
    assert small.get_vocab_size() == 500 and small.token_to_id("<pad>") == 0 and small.token_to_id("<unk>") == 1
    stop = TextEncoder("vocab", tok, 0, stop_words=["the", "a"])
    ids = stop.encode(["The film, a joy"])[0]
    assert stop.tokens(ids) == ["film", ",", "joy"]
    assert TextEncoder.from_state(stop.state()).encode(["The film, a joy"])[0].tolist() == ids.tolist()
    assert enc.encode(["zzzqqq"])[0].tolist() == [1] and enc.encode([""])[0].tolist() == [1]


def test_bucketing_and_batch_keys():
    dm = TextClassificationDataModule(
        dataset="rt_polarity", source="embedded", batch_size=32, tokenizer=TokenizerOptions(max_length=16)
    )
    dm.setup("fit")
    loader = dm.train_dataloader()
    seen, spread = [], []
    for batch in loader:
        lengths = batch["lengths"]
        assert batch["input_ids"].shape[1] == int(lengths.max()) <= 16
        assert (batch["attention_mask"].sum(1) == lengths).all()
        assert ((batch["input_ids"] == 0) == (batch["attention_mask"] == 0)).all()
        spread.append(int(lengths.max() - lengths.min()))
        seen.append(len(lengths))
    assert sum(seen) == 8530 and np.mean(spread) <= 2
    sampler = BucketBatchSampler(np.arange(100) % 7, 10, shuffle=True)
    first, second = list(sampler), list(sampler)
    assert sorted(i for b in first for i in b) == list(range(100)) and first != second


def test_from_checkpoint_errors(tmp_path):
    with pytest.raises(LabError, match="no checkpoint"):
        TextClassificationDataModule(from_checkpoint=str(tmp_path / "nope.ckpt")).model_info()


# --- one read per instance, training order from the training seed, checkpoint options, duplicates ---------------
def _csv(path, rows) -> str:
    path.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    return str(path)


def test_each_instance_reads_its_own_data_and_tokenizer_once(tmp_path, monkeypatch):
    import datamodules.text_classification as tc

    reads, loads = [], []
    read, load = TextClassificationDataModule._read, tc.load_pretrained
    monkeypatch.setattr(TextClassificationDataModule, "_read", lambda self: reads.append(1) or read(self))
    monkeypatch.setattr(tc, "load_pretrained", lambda name: loads.append(name) or load(name))
    path = _csv(tmp_path / "d.csv", [(f"old text {i}", "pos" if i % 2 else "neg") for i in range(20)])
    a = TextClassificationDataModule(dataset="custom", path=path)
    a.model_info()
    a.setup("fit")  # model_info() and setup() share the instance's state
    assert len(reads) == 1
    _csv(tmp_path / "d.csv", [(f"new text {i}", "pos" if i % 2 else "neg") for i in range(20)])
    b = TextClassificationDataModule(dataset="custom", path=path)
    b.setup("fit")
    assert len(reads) == 2 and all(t.startswith("new") for t in b.texts("train"))  # no stale module-level copy
    for _ in range(2):
        dm = TextClassificationDataModule(dataset="toy", toy_size=50, tokenizer=TokenizerOptions(kind="pretrained"))
        dm.model_info()
        dm.setup("fit")
    assert len(loads) == 2  # once per instance


def _first_epoch(seed: int, **kw) -> tuple[list[str], list[list[int]]]:
    from lightning.pytorch import seed_everything

    seed_everything(seed)
    dm = TextClassificationDataModule(dataset="trec", source="embedded", batch_size=64, **kw)
    dm.setup("fit")
    return dm.texts("val"), list(dm.train_dataloader().batch_sampler)


def test_training_order_follows_the_training_seed_and_the_split_does_not():
    val_a, order_a = _first_epoch(1)
    val_b, order_b = _first_epoch(2)
    val_a2, order_a2 = _first_epoch(1)
    assert val_a == val_b == val_a2  # the split is split_seed's
    assert order_a != order_b  # another training seed, another batch order
    assert order_a == order_a2
    # a resumed run (the sampler's epoch comes from trainer.current_epoch) continues the same sequence
    from types import SimpleNamespace

    from lightning.pytorch import seed_everything

    seed_everything(1)
    dm = TextClassificationDataModule(dataset="trec", source="embedded", batch_size=64)
    dm.setup("fit")
    sampler = dm.train_dataloader().batch_sampler
    list(sampler)
    second = list(sampler)
    seed_everything(1)
    resumed = TextClassificationDataModule(dataset="trec", source="embedded", batch_size=64)
    resumed.setup("fit")
    resumed.trainer = SimpleNamespace(current_epoch=1)
    assert list(resumed.train_dataloader().batch_sampler) == second != order_a


def _save_checkpoint(dm: TextClassificationDataModule, path) -> str:
    import torch

    dm.model_info()
    torch.save({"TextClassificationDataModule": dm.state_dict()}, path)
    return str(path)


def test_from_checkpoint_restores_defaulted_tokenizer_options_and_refuses_contradictions(tmp_path, caplog):
    import logging

    from datamodules.text_classification import checkpoint_state

    tuned = TextClassificationDataModule(
        dataset="toy", toy_size=200, tokenizer=TokenizerOptions(max_length=12, stop_words=["the"], lowercase=False)
    )
    ckpt = _save_checkpoint(tuned, tmp_path / "tuned.ckpt")
    with caplog.at_level(logging.INFO):
        back = TextClassificationDataModule(dataset="toy", toy_size=200, from_checkpoint=ckpt)
        back.model_info()
    line = [r.getMessage() for r in caplog.records if "from the checkpoint" in r.getMessage()]
    assert len(line) == 1 and all(o in line[0] for o in ("max_length", "stop_words", "lowercase")), line
    assert (back.hp.max_length, back.hp.stop_words, back.hp.lowercase) == (12, ["the"], False)
    texts = ["The movie was good", "THE plot " * 20]
    assert [a.tolist() for a in back.encoder.encode(texts)] == [a.tolist() for a in tuned.encoder.encode(texts)]
    # the same value typed again is no contradiction
    TextClassificationDataModule(
        dataset="toy", toy_size=200, from_checkpoint=ckpt, tokenizer=TokenizerOptions(max_length=12)
    ).model_info()

    plain = _save_checkpoint(TextClassificationDataModule(dataset="toy", toy_size=200), tmp_path / "plain.ckpt")
    for option, field, value in (
        ("max_length", "max_length", 64),
        ("lowercase", "lowercase", False),
        ("stop_words", "stop_words", True),
        ("min_freq", "min_freq", 2),
        ("tokenizer", "kind", "pretrained"),
    ):
        typed = TokenizerOptions(**{field: value})
        with pytest.raises(
            LabError, match=rf"--data.init_args.tokenizer.{field}={value!r}.*checkpoint's {option}="
        ) as err:
            TextClassificationDataModule(dataset="toy", from_checkpoint=plain, tokenizer=typed).model_info()
        assert "\n" not in str(err.value)
    with pytest.raises(LabError, match="max_length"):  # Lightning's restore (fit --ckpt_path) checks too
        TextClassificationDataModule(
            dataset="toy", toy_size=200, tokenizer=TokenizerOptions(max_length=64)
        ).load_state_dict(checkpoint_state(plain))


def test_trec_duplicates_never_straddle_train_and_val_and_the_test_overlap_is_reported(caplog):
    import logging

    dm = TextClassificationDataModule(dataset="trec", source="embedded")
    with pytest.warns(UserWarning, match="71 duplicate texts"), caplog.at_level(logging.INFO):
        dm.setup("fit")
    train, val, test = dm.texts("train"), dm.texts("val"), dm.texts("test")
    assert not set(train) & set(val)
    assert len(train) + len(val) == 5452 - 71 and len(set(train)) == len(train)
    assert len(test) == 500  # the official test set stays whole
    assert dm.test_overlap == len(set(test) & (set(train) | set(val))) == 10
    notice = [r.getMessage() for r in caplog.records if "test 500" in r.getMessage()]
    assert len(notice) == 1 and "10 test texts also in the training data" in notice[0], notice


# --- on the LabDataModule base --------------------------------------------------------------------------------
def test_text_state_is_lab_data_and_older_checkpoints_still_load(tmp_path, recwarn):
    import torch

    from datamodules.base import LabDataModule
    from datamodules.text_classification import checkpoint_state
    from labcore.checkpoints import datamodule_state

    dm = TextClassificationDataModule(dataset="toy", toy_size=200, tokenizer=TokenizerOptions(max_length=12))
    assert isinstance(dm, LabDataModule)
    ckpt = _save_checkpoint(dm, tmp_path / "new.ckpt")
    state = datamodule_state(ckpt)
    assert state["lab_data"] == 1 and state["encoder"] == dm.encoder.state() and state["class_names"] == dm.class_names
    assert checkpoint_state(ckpt) == state
    legacy = {k: v for k, v in state.items() if k not in ("lab_data", "tokenizer_options")}  # before the base
    torch.save({"TextClassificationDataModule": legacy}, tmp_path / "old.ckpt")
    texts = ["the movie was not good", "zzz"]
    for path in (ckpt, str(tmp_path / "old.ckpt")):
        back = TextClassificationDataModule(dataset="toy", from_checkpoint=path)
        assert back.has_state and back.model_info() == dm.model_info() and back.hp.max_length == 12
        assert [a.tolist() for a in back.encoder.encode(texts)] == [a.tolist() for a in dm.encoder.encode(texts)]
        assert back.state_dict()["lab_data"] == 1  # saved again in the new format
    assert not [w for w in recwarn if "no dl-labs data state" in str(w.message)]


def test_dev_file_is_the_validation_split_and_an_unlabelled_test_file_is_left_out(tmp_path):
    rows = [(f"text number {i}", "pos" if i % 2 else "neg") for i in range(40)]
    (tmp_path / "train.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows[:30]))
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows[30:]))
    (tmp_path / "test.tsv").write_text("index\tsentence\n" + "".join(f"{i}\tunlabelled {i}\n" for i in range(5)))
    dm = TextClassificationDataModule(
        dataset="custom", path=str(tmp_path), files=TextFileOptions(text_column="sentence"), test_fraction=0.2
    )
    with pytest.warns(UserWarning, match="unlabelled test set"):
        dm.setup("fit")
    assert dm.texts("val") == [t for t, _ in rows[30:]]
    assert len(dm.texts("test")) == 6 and len(dm.texts("train")) == 24  # test carved from train
    (tmp_path / "validation.tsv").write_text((tmp_path / "dev.tsv").read_text())
    with pytest.raises(DataSourceError, match="keep one of them"):
        TextClassificationDataModule(
            dataset="custom", path=str(tmp_path), files=TextFileOptions(text_column="sentence")
        ).setup("fit")


def test_stratified_split_keeps_trec_class_shares():
    dm = TextClassificationDataModule(dataset="trec", source="embedded", split="stratified")
    dm.setup("fit")
    train, val = dm._splits["train"][1], dm._splits["val"][1]
    share = np.bincount(train, minlength=6) / len(train)
    assert np.abs(np.bincount(val, minlength=6) / len(val) - share).max() < 0.01
    plain = TextClassificationDataModule(dataset="trec", source="embedded")
    plain.setup("fit")
    assert plain.texts("val") != dm.texts("val")


def test_a_file_of_ones_own_is_named_by_its_path_not_the_default_dataset(tmp_path, caplog, recwarn):
    # Before: SST-2 in the GLUE layout through a config with the default dataset was announced as text/rt_polarity.
    rows = [(f"film number {i % 35} was {'good' if i % 2 else 'bad'}", i % 2) for i in range(40)]  # 5 repeats
    (tmp_path / "train.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows[:32]))
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows[32:]))
    caplog.set_level("INFO")
    dm = TextClassificationDataModule(
        source="path", path=str(tmp_path), files=TextFileOptions(text_column="sentence")
    )  # rt_polarity default
    dm.setup("fit")
    notices = [r.getMessage() for r in caplog.records] + [str(w.message) for w in recwarn]
    ours = [m for m in notices if "[dl-labs] text" in m]
    assert ours and all(f"text:{tmp_path}" in m for m in ours), ours
    assert not [m for m in notices if "rt_polarity" in m]
    assert TextClassificationDataModule(source="embedded").name == "text/rt_polarity"  # the set itself keeps its name
