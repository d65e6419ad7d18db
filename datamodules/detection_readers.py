"""Readers for the detection layouts users bring: Pascal VOC and COCO.

Both return :class:`DetectionRecords` per split: image files, boxes as pixel-edge
``x1, y1, x2, y2`` floats (VOC's 1-based inclusive corners ``xmin..xmax`` become ``xmin - 1 .. xmax``;
COCO's ``x, y, w, h`` become ``x, y, x + w, y + h``), class *names* and *ignore* flags; the datamodule
maps names to ids with the class list fitted on the training split.

Ignore regions: VOC ``difficult`` objects and COCO ``iscrowd`` annotations are kept with ``ignore``
set, as the official evaluations keep them: in val / test a detection on one is neither a hit nor a
false positive, and missing one is no miss; training never sees them.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from datamodules.splits import canonical_split
from labcore import log
from labcore.errors import DataSourceError

SPLITS = ("train", "val", "test")


@dataclass
class DetectionRecords:
    """One split: ``files[i]`` with boxes ``boxes[i]`` (list of 4 floats each) named ``names[i]``;
    ``ignore[i][j]`` marks an ignore region (difficult / crowd)."""

    files: list[Path] = field(default_factory=list)
    boxes: list[list[list[float]]] = field(default_factory=list)
    names: list[list[str]] = field(default_factory=list)
    ignore: list[list[bool]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files)

    def subset(self, idx: list[int]) -> DetectionRecords:
        return DetectionRecords(
            [self.files[i] for i in idx],
            [self.boxes[i] for i in idx],
            [self.names[i] for i in idx],
            [self.ignore[i] for i in idx],
        )

    def append(self, file: Path, boxes: list[list[float]], names: list[str], ignore: list[bool]) -> None:
        self.files.append(file)
        self.boxes.append(boxes)
        self.names.append(names)
        self.ignore.append(ignore)


def is_voc(root: Path) -> bool:
    return (root / "Annotations").is_dir() and (root / "JPEGImages").is_dir()


def find_voc_root(root: Path) -> Path | None:
    """``root`` itself or a ``VOCdevkit/VOC20xx`` (or any one level below) holding Annotations/ + JPEGImages/."""
    if is_voc(root):
        return root
    for cand in sorted(root.glob("*")) + sorted(root.glob("*/*")):
        if cand.is_dir() and is_voc(cand):
            return cand
    return None


def read_voc_annotation(
    xml_file: Path, keep_difficult: bool = False
) -> tuple[str, list[list[float]], list[str], list[bool]]:
    """``(image file name, boxes, names, ignore)`` of one VOC XML file: difficult objects are ignore
    regions (ordinary objects with ``keep_difficult``)."""
    try:
        root = ET.parse(xml_file).getroot()
    except ET.ParseError as e:
        raise DataSourceError(f"detection: {xml_file} is not valid XML ({e})") from None
    boxes, names, ignore = [], [], []
    for obj in root.iter("object"):
        bb = obj.find("bndbox")
        name = (obj.findtext("name") or "").strip()
        if bb is None or not name:
            raise DataSourceError(f"detection: an object in {xml_file} has no name or bndbox")
        x1, y1, x2, y2 = (float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append([x1 - 1, y1 - 1, x2, y2])  # 1-based inclusive corners -> pixel edges
        names.append(name)
        ignore.append(not keep_difficult and (obj.findtext("difficult") or "0").strip() == "1")
    filename = (root.findtext("filename") or f"{xml_file.stem}.jpg").strip()
    return filename, boxes, names, ignore


def read_voc(root: Path, keep_difficult: bool = False) -> dict[str, DetectionRecords]:
    """The splits listed in ``ImageSets/Main/{train,val,test}.txt`` (also ``trainval``/``dev``); a
    split without a list is absent (the datamodule carves it)."""
    lists = root / "ImageSets" / "Main"
    found: dict[str, list[str]] = {}
    if lists.is_dir():
        for f in sorted(lists.glob("*.txt")):
            split = canonical_split(f.stem)
            if split in SPLITS and split not in found:
                found[split] = [ln.split()[0] for ln in f.read_text().splitlines() if ln.strip()]
    if "train" not in found:
        trainval = lists / "trainval.txt"
        ids = (
            [ln.split()[0] for ln in trainval.read_text().splitlines() if ln.strip()]
            if trainval.exists() and "val" not in found
            else sorted(p.stem for p in (root / "Annotations").glob("*.xml"))
        )
        found["train"] = ids
    out, difficult = {}, 0
    for split, ids in found.items():
        rec = DetectionRecords()
        for image_id in ids:
            xml_file = root / "Annotations" / f"{image_id}.xml"
            if not xml_file.exists():
                raise DataSourceError(f"detection: {xml_file} (listed in ImageSets/Main/{split}.txt) is missing")
            filename, boxes, names, ignore = read_voc_annotation(xml_file, keep_difficult)
            difficult += sum(ignore)
            rec.append(root / "JPEGImages" / filename, boxes, names, ignore)
        out[split] = rec
    if difficult:
        log.warn(
            f"detection: {difficult} objects marked difficult: not trained on, ignore regions in val/test "
            "(--data.init_args.keep_difficult true makes them ordinary objects)"
        )
    return out


def find_coco_annotations(root: Path) -> dict[str, Path]:
    """``{split: instances json}`` from files named like ``instances_train2017.json`` / ``instances_val.json``
    under ``root`` or ``root/annotations``."""
    out: dict[str, Path] = {}
    for f in sorted(root.glob("*.json")) + sorted(root.glob("annotations/*.json")):
        stem = f.stem.removeprefix("instances_").rstrip("0123456789")
        split = canonical_split(stem)
        if split in SPLITS and split not in out:
            out[split] = f
    return out


def read_coco(root: Path) -> tuple[dict[str, DetectionRecords], list[str]]:
    """COCO instances files per split (see ``find_coco_annotations``); images are looked up as
    ``images/<split folder>/<file_name>``, ``images/<file_name>`` or ``<file_name>`` under ``root``.
    Returns the splits and the category names in category-id order; crowd boxes are ignore regions."""
    files = find_coco_annotations(root)
    if "train" not in files:
        raise DataSourceError(
            f"detection: no instances_train*.json under {root} or {root / 'annotations'}; "
            "pass a COCO folder (images/ + annotations/instances_<split>.json) or a VOC folder"
        )
    out, categories, crowd = {}, {}, 0
    for split, ann_file in files.items():
        try:
            data = json.loads(ann_file.read_text())
        except json.JSONDecodeError as e:
            raise DataSourceError(f"detection: {ann_file} is not valid JSON ({e})") from None
        for c in data.get("categories", []):
            categories[int(c["id"])] = str(c["name"])
        per_image: dict[int, tuple[list, list, list]] = {int(im["id"]): ([], [], []) for im in data.get("images", [])}
        cat_names = {int(c["id"]): str(c["name"]) for c in data.get("categories", [])}
        for a in data.get("annotations", []):
            is_crowd = bool(a.get("iscrowd", 0))
            crowd += is_crowd
            x, y, w, h = (float(v) for v in a["bbox"])
            boxes, names, ignore = per_image.setdefault(int(a["image_id"]), ([], [], []))
            boxes.append([x, y, x + w, y + h])
            names.append(cat_names.get(int(a["category_id"]), str(a["category_id"])))
            ignore.append(is_crowd)
        rec = DetectionRecords()
        split_dir = ann_file.stem.removeprefix("instances_")
        for im in data.get("images", []):
            name = im["file_name"]
            cands = [root / "images" / split_dir / name, root / "images" / name, root / split_dir / name, root / name]
            path = next((c for c in cands if c.exists()), cands[0])
            rec.append(path, *per_image[int(im["id"])])
        out[split] = rec
    if crowd:
        log.warn(f"detection: {crowd} crowd annotations (iscrowd=1): not trained on, ignore regions in val/test")
    return out, [categories[k] for k in sorted(categories)]
