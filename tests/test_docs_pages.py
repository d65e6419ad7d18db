"""The README stays one screen and the docs pages say what the code does: the README's two commands are
the ones CI calls, its links resolve, and the Python snippet of docs/python.md runs as printed."""

from __future__ import annotations

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
