"""The generated parts of README.md and docs/*.md match their data (scripts/docs_tables.py), and --check
notices when they do not."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

from tests.helpers import ROOT


def _docs_tables():
    spec = importlib.util.spec_from_file_location("docs_tables", ROOT / "scripts" / "docs_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The README, one family page and the results data, in a repository of their own."""
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copy(ROOT / "docs" / "vision.md", tmp_path / "docs" / "vision.md")
    shutil.copytree(ROOT / "docs" / "results", tmp_path / "docs" / "results")
    shutil.copytree(ROOT / "configs" / "labs", tmp_path / "configs" / "labs")
    return tmp_path


def test_every_generated_table_matches_its_data(capsys):
    assert _docs_tables().main(["--check"]) == 0, capsys.readouterr().err


def test_a_changed_value_fails_the_check_until_the_tables_are_rewritten(copy, capsys):
    tables = _docs_tables()
    # the page's gallery blocks list the figures that exist: without them the copy would differ already
    shutil.copytree(ROOT / "docs" / "gallery", copy / "docs" / "gallery")
    assert tables.main(["--check", "--root", str(copy)]) == 0
    path = copy / "docs" / "results" / "vision.json"
    rows = json.loads(path.read_text())
    mnist = next(r for r in rows if r["lab"] == "mnist_mlp")
    mnist["value"] = 0.5
    path.write_text(json.dumps(rows))
    assert tables.main(["--check", "--root", str(copy)]) == 1
    err = capsys.readouterr().err
    assert "README.md" in err and "docs/vision.md" in err
    assert tables.main(["--root", str(copy)]) == 0  # rewrite
    assert tables.main(["--check", "--root", str(copy)]) == 0
    assert "| 50.00% |" in (copy / "docs" / "vision.md").read_text()
    assert "test acc 50.00%" in (copy / "README.md").read_text()


def test_a_row_missing_a_field_is_one_error_line(copy):
    path = copy / "docs" / "results" / "vision.json"
    rows = json.loads(path.read_text())
    del rows[0]["commit"]
    path.write_text(json.dumps(rows))
    with pytest.raises(SystemExit, match=r"error: docs/results/vision.json: row 0 \(mnist_mlp\) lacks \['commit'\]"):
        _docs_tables().main(["--check", "--root", str(copy)])


def test_gallery_figures_appear_with_caption_command_and_commit(copy):
    tables = _docs_tables()
    figure = copy / "docs" / "gallery" / "mnist_mlp" / "confusion.png"
    figure.parent.mkdir(parents=True)
    figure.write_bytes(b"\x89PNG\r\n\x1a\n")
    entry = {"file": "mnist_mlp/confusion.png", "caption": "test confusion matrix", "command": "python cli.py fit X"}
    (copy / "docs" / "gallery" / "index.json").write_text(json.dumps({"mnist_mlp": [{**entry, "commit": "abc1234"}]}))
    assert tables.main(["--check", "--root", str(copy)]) == 1  # the page still says there is no figure
    assert tables.main(["--root", str(copy)]) == 0
    page = (copy / "docs" / "vision.md").read_text()
    assert "![test confusion matrix](gallery/mnist_mlp/confusion.png)" in page
    assert "`python cli.py fit X` at `abc1234`" in page
    assert "No figure of `mnist_cnn`, `mnist_cnn_improved` in the gallery yet" in page  # no figure: no broken page


def test_every_lab_config_has_a_gallery_section_on_a_docs_page():
    blocks = re.findall(r"<!-- gallery:([\w.,-]+) -->", "".join(p.read_text() for p in (ROOT / "docs").glob("*.md")))
    shown = {lab for block in blocks for lab in block.split(",")}
    labs = {config.stem for config in (ROOT / "configs" / "labs").glob("*/*.yaml")}
    assert labs <= shown, sorted(labs - shown)


def test_every_lab_config_has_a_row_in_the_readme_index():
    readme = (ROOT / "README.md").read_text()
    for config in sorted((ROOT / "configs" / "labs").glob("*/*.yaml")):
        assert f"`configs/labs/{config.parent.name}/{config.name}`" in readme, config


def test_capture_errors_records_the_one_line_a_case_prints(monkeypatch, capsys):
    from tests import test_bad_input as bad

    monkeypatch.setattr(bad, "CASES", {"batch_size_0": bad.CASES["batch_size_0"]})
    for key, value in bad.OFFLINE_ENV.items():  # capture_errors sets them; restored after the test
        monkeypatch.setenv(key, value)
    lines = _docs_tables().capture_errors(ROOT)
    line = "error: mnist: --data.init_args.batch_size 0 is out of range; pass a whole number >= 1"
    assert lines == {"batch_size_0": line}
    assert "batch_size_0: error: mnist:" in capsys.readouterr().out
