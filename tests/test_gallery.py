"""The lab gallery: the committed index points to small PNGs that exist, and the script draws a lab's figures."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from PIL import Image

from tests.helpers import ROOT

GALLERY = ROOT / "docs" / "gallery"
MAX_BYTES = 150 * 1024


def _script():
    spec = importlib.util.spec_from_file_location("gallery", ROOT / "scripts" / "gallery.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_index_entries_point_to_small_pngs_with_command_and_commit():
    index = json.loads((GALLERY / "index.json").read_text())
    assert index, "the gallery is empty"
    labs = {p.stem for p in (ROOT / "configs" / "labs").rglob("*.yaml")}
    for lab, entries in index.items():
        assert lab in labs, f"{lab}: no such lab config"
        for entry in entries:
            assert set(entry) == {"file", "caption", "command", "commit"}
            png = GALLERY / entry["file"]
            assert png.is_file(), png
            assert png.stat().st_size <= MAX_BYTES, f"{png}: {png.stat().st_size} bytes"
            assert entry["command"].startswith("python cli.py fit --config configs/labs/")
            assert f"/{lab}.yaml " in entry["command"]


def test_docs_folder_stays_under_15_mb():
    assert sum(f.stat().st_size for f in (ROOT / "docs").rglob("*") if f.is_file()) < 15 * 1024 * 1024


def test_shrink_brings_a_large_figure_under_the_cap(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (1200, 1600, 3), dtype=np.uint8)
    src = tmp_path / "big.png"
    Image.fromarray(noise).save(src)
    assert src.stat().st_size > MAX_BYTES
    size = _script().shrink(src, tmp_path / "small.png", MAX_BYTES)
    assert size == (tmp_path / "small.png").stat().st_size <= MAX_BYTES
    with Image.open(tmp_path / "small.png") as small:
        assert small.mode == "P" and max(small.size) >= 64


def test_unknown_lab_is_a_one_line_error(capsys, tmp_path):
    assert _script().main(["--labs", "no_such_lab", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --labs:") and "mnist_mlp" in err and "\n" not in err


@pytest.mark.slow
def test_one_lab_into_a_temporary_gallery(tmp_path):
    out = tmp_path / "gallery"
    (out / "vae").mkdir(parents=True)
    (out / "index.json").write_text(json.dumps({"vae": [{"file": "vae/x.png"}]}))
    assert _script().main(["--labs", "mnist_mlp", "--out", str(out), "--runs-dir", str(tmp_path / "runs")]) == 0
    index = json.loads((out / "index.json").read_text())
    assert index["vae"] == [{"file": "vae/x.png"}], "another lab's entries were touched"
    names = {e["file"] for e in index["mnist_mlp"]}
    assert "mnist_mlp/test_confusion_matrix.png" in names
    for entry in index["mnist_mlp"]:
        assert (out / entry["file"]).stat().st_size <= MAX_BYTES
        assert entry["command"].startswith("python cli.py fit --config configs/labs/vision/mnist_mlp.yaml ")
