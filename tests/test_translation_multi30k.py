"""Official Multi30k file names (test_2016_flickr, test_2017_flickr, test_2017_mscoco), gz, empty last lines,
and aligned files that match no split named in a warning."""

from __future__ import annotations

import gzip
import logging

import pytest

from datamodules.parallel_readers import read_parallel_path
from datamodules.translation import TranslationDataModule
from labcore.errors import DataSourceError

TRAIN = (["zwei hunde spielen.", "ein mann läuft.", "eine frau singt."] * 4,
         ["two dogs play.", "a man runs.", "a woman sings."] * 4)  # fmt: skip
SETS = {
    "val": (["ein hund läuft."], ["a dog runs."]),
    "test_2016_flickr": (["zwei männer singen.", "ein kind spielt."], ["two men sing.", "a child plays."]),
    "test_2017_flickr": (["eine katze schläft."], ["a cat sleeps."]),
    "test_2017_mscoco": (["ein zug fährt."], ["a train goes."]),
}


def _write(folder, name, de, en, gz=False):
    for lang, lines in (("de", de), ("en", en)):
        data = ("\n".join(lines) + "\n\n").encode("utf-8")  # an empty last line, as some copies have
        if gz:
            (folder / f"{name}.{lang}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / f"{name}.{lang}").write_bytes(data)


def _multi30k(folder, gz=False, sets=SETS):
    _write(folder, "train", *TRAIN, gz=gz)
    for name, (de, en) in sets.items():
        _write(folder, name, de, en, gz=gz)
    return folder


@pytest.mark.parametrize("gz", [False, True])
def test_official_test_set_is_the_test_split_by_default(tmp_path, gz, caplog):
    with caplog.at_level(logging.INFO):
        splits = read_parallel_path(_multi30k(tmp_path, gz), "de", "en")
    assert splits["test"] == SETS["test_2016_flickr"]
    assert splits["val"] == SETS["val"] and len(splits["train"][0]) == 12  # empty last lines dropped
    assert "test_2017_flickr, test_2017_mscoco" in caplog.text  # the other test sets are named


@pytest.mark.parametrize("name", ["test_2017_flickr", "test_2017_mscoco"])
def test_test_set_option_chooses_another(tmp_path, name):
    dm = TranslationDataModule(
        dataset="custom", path=str(_multi30k(tmp_path)), src_lang="de", tgt_lang="en", test_set=name, batch_size=4
    )
    dm.setup("fit")
    assert dm.texts("test") == SETS[name]
    assert len(dm.texts("train")[0]) == 12  # nothing carved from training


def test_several_test_sets_without_the_default_or_an_unknown_one_are_errors(tmp_path):
    sets = {k: v for k, v in SETS.items() if k != "test_2016_flickr"}
    _multi30k(tmp_path, sets=sets)
    with pytest.raises(DataSourceError, match="several test sets .*--data.init_args.test_set"):
        read_parallel_path(tmp_path, "de", "en")
    with pytest.raises(DataSourceError, match="no test set 'test_2018_flickr'"):
        read_parallel_path(tmp_path, "de", "en", test_set="test_2018_flickr")


def test_files_that_match_no_split_are_named(tmp_path):
    _multi30k(tmp_path)
    _write(tmp_path, "newstest2014", ["ein satz."], ["a sentence."])
    (tmp_path / "train.lc.norm.tok.de").write_text("x\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("about\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="files match no split") as record:
        read_parallel_path(tmp_path, "de", "en")
    warning = " ".join(str(w.message) for w in record)
    assert "3 files match no split" in warning
    for name in ("newstest2014.de", "newstest2014.en", "train.lc.norm.tok.de"):
        assert name in warning
    assert "README.md" not in warning
