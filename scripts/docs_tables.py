"""Write the generated parts of README.md and docs/*.md from their data, or check that they match it.

    python scripts/docs_tables.py           # rewrite every generated block
    python scripts/docs_tables.py --check   # exit 1, naming the blocks, when one differs from its data
    python scripts/docs_tables.py --capture-errors   # run every bad-input case, keep its line in docs/errors.json

Generated blocks sit between marker comments; everything outside them is hand-written:

- ``<!-- results:<family> -->`` ... ``<!-- /results -->``: the results table of ``docs/results/<family>.json``.
- ``<!-- results:index -->`` ... ``<!-- /results -->``: the lab index (one row per config under configs/labs/,
  its headline result, i.e. the first row of that lab in the results files, beside the report's number).
- ``<!-- gallery:<lab>[,<lab>...] -->`` ... ``<!-- /gallery -->``: the labs' figures listed in
  docs/gallery/index.json; labs without figures yet get a sentence saying so, so the build never depends on
  the gallery.
- ``<!-- errors -->`` ... ``<!-- /errors -->``: the bad-input catalogue, read from the case table of
  tests/test_bad_input.py (imported, so a new case appears here without an edit), with the line each case
  printed when ``--capture-errors`` last ran them (docs/errors.json).
- ``<!-- contracts -->`` ... ``<!-- /contracts -->``: the import-linter contracts of pyproject.toml.

A results file is a JSON list of rows ``{lab, metric, split, value, report_value, report_note, command,
commit, machine, date}``; ``lab`` is a config name, with ``[variant]`` for a variant of a compare spec.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser as a package
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ("lab", "metric", "split", "value", "report_value", "report_note", "command", "commit", "machine", "date")
BLOCK = re.compile(r"(<!-- (results|gallery):([\w.,-]+) -->\n)(.*?)(<!-- /\2 -->)", re.S)
ERRORS_BLOCK = re.compile(r"(<!-- errors -->\n)(.*?)(<!-- /errors -->)", re.S)
CONTRACTS_BLOCK = re.compile(r"(<!-- contracts -->\n)(.*?)(<!-- /contracts -->)", re.S)
PERCENT_METRICS = {"acc"}

# The docs page of each config folder (detection labs live in dense/ but have their own page).
PAGES = {
    "vision": "vision.md",
    "text": "text.md",
    "generative": "generative.md",
    "dense": "dense.md",
    "seq2seq": "translation.md",
    "series": "series.md",
    "tabular": "tables.md",
}

# What each lab draws or shows, for the index; a lab missing here shows its config's first comment line.
SHOWS = {
    "mnist_mlp": "samples, first-layer weights, hidden activations, confusion matrix",
    "mnist_mlp_improved": "the same net widened, one-cycle AdamW",
    "mnist_mlp_theory": "the architecture the report's text describes",
    "mnist_cnn": "conv1 filters, misclassified digits",
    "mnist_cnn_improved": "BatchNorm, dropout, small affine shifts",
    "gd_variants": "full batch vs mini-batch vs batch 1, overlaid curves",
    "cifar_optimizers": "SGD vs Adam vs RMSprop curves",
    "cifar_bn_augment": "the 2x2 BatchNorm x augmentation ablation",
    "cifar_bn_augment_improved": "a short-run recipe, confusion matrix",
    "cifar_speed": "the airbench94 recipe as a lab (GPU)",
    "cifar_vgg_resnet": "SimpleCNN vs VGG16 vs ResNet18, fit time",
    "cifar_vgg_resnet_improved": "the same nets trained properly",
    "feature_maps": "trained conv kernels and activations",
    "early_stopping": "early stopping, best checkpoint tested",
    "transfer_pretrain": "the offline stand-in for ImageNet weights",
    "transfer_learning": "accuracy after each fine-tuning phase",
    "sentiment_rnn": "LSTM / GRU on an own vocabulary, packed",
    "sentiment_rnn_improved": "bidirectional GRU, one-cycle AdamW",
    "sentiment_bow_mlp": "bag of words MLP, cross-set transfer",
    "sentiment_bow_mlp_embedding": "MLP on frozen sentence embeddings",
    "sentiment_bert_gru": "frozen encoder + BiGRU, `predict` on raw text",
    "trec_transformer": "a from-scratch Transformer, attention heatmap",
    "trec_prefix_tuning": "prefix tuning of a frozen encoder",
    "trec_finetune": "fine-tuning the last encoder layers",
    "attention_toy": "scaled dot-product attention heatmap",
    "gan": "fixed-noise grids over epochs, MNIST-FID",
    "gan_dcgan": "the DCGAN variant",
    "cyclegan": "A->B->A grids against the known true mapping",
    "vae": "latent traversal, reconstructions, latent scatter",
    "vae_conv": "the convolutional VAE",
    "denoising_ae": "noisy / denoised / clean grids",
    "denoising_ae_improved": "a small denoising U-Net",
    "mnist_fid_cnn": "the feature network behind MNIST-FID",
    "unet_segmentation": "image / truth / prediction triplets",
    "unet_segmentation_smp": "segmentation-models-pytorch's Unet",
    "unet_segmentation_albumentations": "elastic + grid distortion augmentation",
    "detection": "true vs predicted boxes, per-class AP",
    "detection_improved": "AdamW + one-cycle + albumentations",
    "translation_rnn": "encoder-decoder without attention, BLEU",
    "translation_rnn_attention": "additive attention heatmaps, BLEU",
    "translation_transformer": "cross-attention heatmaps, BLEU",
    "temperature_rnn": "forecast vs actual beside the naive forecast",
    "temperature_rnn_lstm": "the LSTM cell",
    "temperature_rnn_improved": "residual LSTM, longer window",
    "pm25_lstm": "PM2.5 forecast, residuals",
    "pm25_mlp": "the MLP baseline the report never trained",
    "house_prices": "linear regression, predicted vs actual",
    "house_prices_mlp": "MLP regression",
    "house_prices_mlp_mae": "MLP with MAE loss, a fresh run",
    "regularization": "L1 / L2 / dropout curves",
    "imbalanced": "PR and ROC curves, six imbalance strategies",
}


def lab_configs(root: Path) -> list[tuple[str, str]]:
    """(family folder, lab) of every lab config, in the docs' family order."""
    folders, labs = list(PAGES), list(SHOWS)
    found = [(p.parent.name, p.stem) for p in (root / "configs" / "labs").glob("*/*.yaml")]
    return sorted(
        found,
        key=lambda fl: (
            folders.index(fl[0]) if fl[0] in folders else len(folders),
            labs.index(fl[1]) if fl[1] in labs else len(labs),
            fl[1],
        ),
    )


def page_of(folder: str, lab: str) -> str:
    return "detection.md" if lab.startswith("detection") else PAGES.get(folder, "index.md")


def base_lab(lab: str) -> str:
    return lab.split("[", 1)[0]


def load_results(root: Path) -> dict[str, list[dict]]:
    """Every docs/results/<family>.json, each row checked for the schema's fields."""
    out: dict[str, list[dict]] = {}
    for path in sorted((root / "docs" / "results").glob("*.json")):
        rows = json.loads(path.read_text())
        if not isinstance(rows, list):
            raise SystemExit(
                f"error: {path.relative_to(root)}: expected a JSON list of rows (see scripts/docs_tables.py)"
            )
        for i, r in enumerate(rows):
            missing = [f for f in FIELDS if f not in r]
            if missing:
                raise SystemExit(
                    f"error: {path.relative_to(root)}: row {i} ({r.get('lab')}) lacks {missing}; "
                    f"every row needs {list(FIELDS)}"
                )
        out[path.stem] = rows
    return out


def fmt(value: object, metric: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    v = float(value)  # type: ignore[arg-type]
    if metric in PERCENT_METRICS and abs(v) <= 1:
        return f"{100 * v:.2f}%"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4f}".rstrip("0").rstrip(".")


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def report_cell(row: dict) -> str:
    value, note = fmt(row["report_value"], row["metric"]), row["report_note"] or ""
    if value and note:
        return cell(f"{value} ({note})")
    return cell(value or note)


def results_table(rows: list[dict]) -> str:
    lines = [
        "One seeded run per row; `lab[variant]` is a variant of the lab's compare spec. A path such as",
        "`../shared/data` in a command is where the full data sets were on the machine that ran it: pass your copy.",
        "",
        "| lab | metric | ours | report | command | measured |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['lab']}` | {r['split']} {r['metric']} | {fmt(r['value'], r['metric'])} | {report_cell(r)} "
            f"| `{cell(r['command'])}` | `{r['commit']}`, {cell(r['machine'])}, {r['date']} |"
        )
    return "\n".join(lines) + "\n"


def headline(lab: str, results: dict[str, list[dict]]) -> dict | None:
    for rows in results.values():
        for r in rows:
            if base_lab(r["lab"]) == lab:
                return r
    return None


def index_table(root: Path, results: dict[str, list[dict]], docs_prefix: str) -> str:
    lines = ["| lab | what it shows | ours | report | config |", "|---|---|---|---|---|"]
    for folder, lab in lab_configs(root):
        config = f"configs/labs/{folder}/{lab}.yaml"
        shows = SHOWS.get(lab) or _first_comment(root / config)
        r = headline(lab, results)
        if r is None:
            ours, report = "not measured yet", ""
        else:
            variant = r["lab"][len(lab) :].strip("[]")
            ours = f"{r['split']} {r['metric']} {fmt(r['value'], r['metric'])}" + (f" ({variant})" if variant else "")
            report = report_cell(r)
        link = f"[{lab}]({docs_prefix}{page_of(folder, lab)})"
        lines.append(f"| {link} | {cell(shows)} | {cell(ours)} | {report} | `{config}` |")
    return "\n".join(lines) + "\n"


def _first_comment(config: Path) -> str:
    first = config.read_text().splitlines()[0] if config.exists() else ""
    return first.lstrip("# ").split(":", 1)[-1].strip()[:80]


def gallery(root: Path, labs: list[str], page: Path) -> str:
    """The labs' figures from docs/gallery/index.json, linked relative to ``page``."""
    index_path = root / "docs" / "gallery" / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    out = []
    for lab, e in [(name, e) for name in labs for e in index.get(name, [])]:
        path = _gallery_file(root, lab, e["file"])
        if path is None:
            continue
        rel = Path(os.path.relpath(path, page.parent)).as_posix()
        caption = cell(e.get("caption") or path.stem)
        out.append(f"![{caption}]({rel})\n\n*{caption}*: `{cell(e.get('command', ''))}` at `{e.get('commit', '')}`\n")
    if not out:
        names, command = ", ".join(f"`{lab}`" for lab in labs), f"python scripts/gallery.py --labs {','.join(labs)}"
        return f"No figure of {names} in the gallery yet: `{command}` draws them.\n"
    return "\n".join(out)


def _gallery_file(root: Path, lab: str, name: str) -> Path | None:
    for candidate in (root / "docs" / "gallery" / name, root / "docs" / "gallery" / lab / name, root / name):
        if candidate.is_file():
            return candidate
    return None


def _bad_input(root: Path):
    sys.path.insert(0, str(root))
    from tests import test_bad_input

    return test_bad_input


def error_catalogue(root: Path) -> str:
    """One row per bad-input case of tests/test_bad_input.py: the command, what its one line must name, and
    the line itself as ``--capture-errors`` last recorded it."""
    bad = _bad_input(root)
    source = Path(bad.__file__)
    groups = _case_groups(source)
    repo = source.parent.parent  # the paths in the cases are the test module's, whichever --root is checked
    captured_path = root / "docs" / "errors.json"
    captured = json.loads(captured_path.read_text()) if captured_path.exists() else {}
    lines = ["| case | command | the line names | the line |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        group = None
        for name, make in bad.CASES.items():
            if groups.get(name) != group:
                group = groups.get(name)
                lines.append(f"| **{group}** | | | |")
            argv, words = make(Path(tmp) / name)
            command = " ".join(_shorten(a, repo, Path(tmp) / name) for a in argv)
            named = ", ".join(f"`{_shorten(w, repo, Path(tmp) / name)}`" for w in words)
            line = f"`{cell(captured[name])}`" if name in captured else "(not captured yet)"
            lines.append(f"| `{name}` | `python cli.py {cell(command)}` | {named} | {line} |")
    return "\n".join(lines) + "\n"


def capture_errors(root: Path) -> dict[str, str]:
    """Run every bad-input case in this process, as the test does, and keep the last line it printed on stderr."""
    bad = _bad_input(root)
    os.environ.update(bad.OFFLINE_ENV)
    from cli import main as cli_main

    repo, out = Path(bad.__file__).parent.parent, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in bad.CASES.items():
            where = Path(tmp) / name
            argv, _ = make(where)
            if argv[0] != "compare" and "--runs_dir" not in argv:
                argv = [*argv, "--runs_dir", str(where / "runs")]
            # Both levels: Python's sys.stderr (the error line) and file descriptor 2 (libraries writing to it).
            with tempfile.TemporaryFile("w+") as err, open(os.devnull, "w") as null:
                saved = os.dup(1), os.dup(2)
                sys.stdout.flush(), sys.stderr.flush()
                os.dup2(null.fileno(), 1), os.dup2(err.fileno(), 2)
                try:
                    with contextlib.redirect_stdout(null), contextlib.redirect_stderr(err):
                        cli_main(argv)
                except SystemExit:
                    pass
                finally:
                    err.flush()
                    os.dup2(saved[0], 1), os.dup2(saved[1], 2)
                    os.close(saved[0]), os.close(saved[1])
                err.seek(0)
                printed = err.read().strip().splitlines()
            out[name] = _shorten(printed[-1] if printed else "", repo, where)
            print(f"{name}: {out[name]}")
    return out


def _shorten(arg: str, root: Path, tmp: Path) -> str:
    return str(arg).replace(str(tmp) + "/", "").replace(str(tmp), ".").replace(str(root) + "/", "")


def _case_groups(source: Path) -> dict[str, str]:
    """The comment heading above each case in the CASES table (``# readers``, ...)."""
    text = source.read_text()
    body = text[text.index("CASES: dict") :]
    body = body[: body.index("\n}\n")]
    groups, group = {}, "cases"
    for line in body.splitlines():
        heading = re.match(r"    # (.+)", line)
        key = re.match(r'    "([^"]+)": ', line)
        if heading:
            group = heading.group(1).strip()
        elif key:
            groups[key.group(1)] = group
    return groups


def contracts(root: Path) -> str:
    """The import-linter contracts of pyproject.toml, one row each."""
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["importlinter"]
    lines = ["| contract | modules | may not import |", "|---|---|---|"]
    for c in config["contracts"]:
        modules = ", ".join(f"`{m}`" for m in c.get("source_modules", c.get("modules", c.get("layers", []))))
        forbidden = ", ".join(f"`{m}`" for m in c.get("forbidden_modules", [])) or c.get("type", "")
        lines.append(f"| {cell(c['name'])} | {modules} | {forbidden} |")
    return "\n".join(lines) + "\n"


def render(root: Path, path: Path, text: str, results: dict[str, list[dict]], errors: Callable[[], str]) -> str:
    docs_prefix = "docs/" if path.parent == root else ""

    def block(m: re.Match) -> str:
        kind, name = m.group(2), m.group(3)
        if kind == "gallery":
            body = gallery(root, name.split(","), path)
        elif name == "index":
            body = index_table(root, results, docs_prefix)
        elif name in results:
            body = results_table(results[name])
        else:
            where = path.relative_to(root)
            raise SystemExit(
                f"error: {where}: <!-- results:{name} --> has no docs/results/{name}.json; add it or fix the name"
            )
        return f"{m.group(1)}\n{body}\n{m.group(5)}"

    text = BLOCK.sub(block, text)
    text = CONTRACTS_BLOCK.sub(lambda m: f"{m.group(1)}\n{contracts(root)}\n{m.group(3)}", text)
    return ERRORS_BLOCK.sub(lambda m: f"{m.group(1)}\n{errors()}\n{m.group(3)}", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a generated block differs from its data")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (default: this one)")
    parser.add_argument(
        "--capture-errors", action="store_true", help="run every bad-input case first and record its line"
    )
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if args.capture_errors:
        lines = capture_errors(root)
        (root / "docs" / "errors.json").write_text(json.dumps(lines, indent=1, ensure_ascii=False) + "\n")
    results = load_results(root)
    cache: list[str] = []

    def errors() -> str:  # imports torch and the test module: only when a page asks for it, once
        if not cache:
            cache.append(error_catalogue(root))
        return cache[0]

    stale = []
    for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        if not path.exists():
            continue
        old = path.read_text()
        new = render(root, path, old, results, errors)
        if new != old:
            stale.append(path.relative_to(root).as_posix())
            if not args.check:
                path.write_text(new)
    if args.check and stale:
        print(
            f"error: {', '.join(stale)} differ from docs/results, docs/gallery/index.json or tests/test_bad_input.py; "
            "run python scripts/docs_tables.py",
            file=sys.stderr,
        )
        return 1
    for name in stale:
        print(f"rewrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
