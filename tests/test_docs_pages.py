"""The README stays one screen and the docs pages say what the code does: the README's two commands are
the ones CI calls, its links resolve, and the Python snippet of docs/python.md runs as printed."""

from __future__ import annotations

import json
import os
import re
import sys

import pytest

from tests.helpers import ROOT


def test_readme_is_one_screen_with_the_two_commands_and_links_that_resolve():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    assert "```bash\nmake demo\n```" in text and "```bash\nmake test\n```" in text  # .ci/run calls `make test`
    assert "../shared" not in text
    for target in re.findall(r"\]\(([^)#]+)[^)]*\)", text):
        if "://" not in target:
            assert (ROOT / target).exists(), target


def test_every_docs_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f": {page.name}" in nav, page.name


def _python_snippet() -> str:
    text = (ROOT / "docs" / "python.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1
    return blocks[0]


@pytest.mark.slow
def test_the_python_snippet_runs_as_printed(tmp_path, monkeypatch, capsys):
    """Run from a directory that looks like the repository root, so its runs/ land in tmp_path."""
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.setitem(os.environ, "WANDB_MODE", "offline")
    exec(compile(_python_snippet(), "docs/python.md", "exec"), {"__name__": "__docs__"})
    out = capsys.readouterr().out.strip().splitlines()[-1]
    acc, best = out.split()
    assert 0.0 <= float(acc) <= 1.0
    assert best.startswith("runs/mnist_mlp/version_0/checkpoints/") and (tmp_path / best).is_file()
    assert sys.modules["cli"].__file__ == str(ROOT / "cli.py")


_PATH = re.compile(
    r"(?<![\w/.<-])((?:benchmarks|callbacks|commands|runtime|labcore|datamodules|lab_modules|scripts|tests|configs)"
    r"/[\w/.-]*\.(?:py|yaml|sbatch|sh|json))\b"
)


def _docs_texts() -> dict[str, str]:
    pages = [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "docs" / "results").glob("*.json")),
    ]
    return {p.relative_to(ROOT).as_posix(): p.read_text() for p in pages}


# Files a page asks the reader to write (worked examples), or that a documented command writes.
_WRITTEN_BY_THE_READER = {
    "configs/labs/series/sine_forecast.yaml",
    "configs/labs/vision/mnist_cnn_sgd.yaml",
    "configs/labs/vision/my_lab.yaml",
    "configs/sweeps/sentiment_rnn_hidden.yaml",
}


def test_every_file_the_docs_name_exists():
    """A page or results row that names a moved or deleted module (a benchmark runner, a callbacks/ file that
    went to runtime/) fails here, not in a reader's shell."""
    missing = []
    for page, text in _docs_texts().items():
        for path in sorted(set(_PATH.findall(text))):
            if path not in _WRITTEN_BY_THE_READER and not (ROOT / path).exists():
                missing.append(f"{page}: {path}")
    assert not missing, "\n".join(missing)


def test_every_results_command_runs_an_existing_driver_and_lab():
    from benchmarks.specs import FAMILIES

    for results in sorted((ROOT / "docs" / "results").glob("*.json")):
        for row in json.loads(results.read_text()):
            words = row["command"].split()
            assert words[0] == "python", row
            if words[1] == "-m":
                assert words[2] == "benchmarks.results", row
                family = words[words.index("--family") + 1]
                assert family == results.stem, row
                labs = {r.lab.partition("[")[0] for r in FAMILIES[family].runs}
                assert words[words.index("--labs") + 1] in labs, row
            else:
                assert (ROOT / words[1]).is_file(), row
