"""COCO mAP oracle (tests/box_map_oracle.py): hand-made cases, the report's invalid "mAP", parity with torchmetrics."""

from __future__ import annotations

import pytest
import torch

from tests.box_map_oracle import BoxMAP
from tests.helpers import run_gloo_ranks


def pred(boxes, scores, labels):
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32),
        "scores": torch.tensor(scores),
        "labels": torch.tensor(labels),
    }


def gt(boxes, labels):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels)}


def compute(preds, targets):
    m = BoxMAP()
    m.update(preds, targets)
    return m.compute()


def test_perfect_prediction_gives_one():
    t = [gt([[0, 0, 10, 10], [20, 20, 40, 50]], [1, 2]), gt([[5, 5, 15, 25]], [1])]
    p = [pred([[0, 0, 10, 10], [20, 20, 40, 50]], [0.9, 0.8], [1, 2]), pred([[5, 5, 15, 25]], [0.7], [1])]
    r = compute(p, t)
    assert r["map"] == 1.0 and r["map_50"] == 1.0 and r["map_75"] == 1.0
    assert r["map_per_class"].tolist() == [1.0, 1.0]


def test_shifted_box_scores_less():
    # IoU of [1,0,11,10] with [0,0,10,10] = 90/110 = 0.818: a match at IoU .50 ... .80 (7 of 10 thresholds)
    r = compute([pred([[1, 0, 11, 10]], [0.9], [1])], [gt([[0, 0, 10, 10]], [1])])
    assert r["map_50"] == 1.0 and r["map_75"] == 1.0
    assert r["map"].item() == pytest.approx(0.7)


def test_wrong_class_and_scores_count():
    t = [gt([[0, 0, 10, 10]], [1])]
    assert compute([pred([[0, 0, 10, 10]], [0.9], [2])], t)["map"] == 0.0  # right box, wrong class
    # a false positive ranked above the true one: precision 1/2 at recall 1 -> AP 0.5
    two = [pred([[50, 50, 60, 60], [0, 0, 10, 10]], [0.9, 0.8], [1, 1])]
    assert compute(two, t)["map_50"].item() == pytest.approx(0.5)
    # ranked below it, the same two boxes cost nothing: scores matter
    two = [pred([[50, 50, 60, 60], [0, 0, 10, 10]], [0.7, 0.8], [1, 1])]
    assert compute(two, t)["map_50"].item() == pytest.approx(1.0)


def test_duplicates_cannot_push_map_above_one():
    # the report's "mAP 1.1151" counted matched boxes per ground-truth box: duplicates made it exceed 1
    t = [gt([[0, 0, 10, 10]], [1])]
    dup = [pred([[0, 0, 10, 10], [0, 0, 10, 11], [1, 0, 10, 10]], [0.9, 0.8, 0.7], [1, 1, 1])]
    report_style = sum(1 for _ in dup[0]["boxes"]) / len(t[0]["boxes"])  # 3 "matches" per box
    r = compute(dup, t)
    assert report_style > 1 and 0.0 <= r["map"] <= 1.0 and r["map_50"] == 1.0


def test_matches_torchmetrics_on_random_cases():
    pytest.importorskip("pycocotools")  # torchmetrics' COCO backend; not installed on every machine
    from torchmetrics.detection import MeanAveragePrecision

    g = torch.Generator().manual_seed(0)
    preds, targets = [], []
    for _ in range(12):
        n = int(torch.randint(1, 5, (), generator=g))
        xy = torch.rand(n, 2, generator=g) * 80
        boxes = torch.cat([xy, xy + 5 + torch.rand(n, 2, generator=g) * 30], 1)
        labels = torch.randint(0, 3, (n,), generator=g)
        targets.append({"boxes": boxes, "labels": labels})
        jitter = boxes + torch.randn(n, 4, generator=g) * 3
        extra = torch.cat([xy + 40, xy + 60], 1)
        preds.append(
            {
                "boxes": torch.cat([jitter, extra]),
                "scores": torch.rand(2 * n, generator=g),
                "labels": torch.cat([labels, torch.randint(0, 3, (n,), generator=g)]),
            }
        )
    ours = compute(preds, targets)
    ref = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", class_metrics=True)
    ref.update(preds, targets)
    theirs = ref.compute()
    for key in ("map", "map_50", "map_75"):
        assert ours[key].item() == pytest.approx(theirs[key].item(), abs=1e-4), key
    assert torch.allclose(ours["map_per_class"], theirs["map_per_class"].float(), atol=1e-4)


def _cases():
    g = torch.Generator().manual_seed(1)
    preds, targets = [], []
    for i in range(6):
        xy = torch.rand(2, 2, generator=g) * 50
        boxes = torch.cat([xy, xy + 10 + torch.rand(2, 2, generator=g) * 20], 1)
        targets.append({"boxes": boxes, "labels": torch.tensor([i % 3, (i + 1) % 3])})
        det = boxes + torch.randn(2, 4, generator=g) * 2
        preds.append({"boxes": det, "scores": torch.rand(2, generator=g), "labels": torch.tensor([i % 3, 0])})
    return preds, targets


def _rank(rank: int, world: int, port: int, queue) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    preds, targets = _cases()
    m = BoxMAP()
    m.update(preds[rank::world], targets[rank::world])  # each rank sees half of the images
    r = m.compute()
    queue.put((rank, {k: r[k].item() for k in ("map", "map_50", "map_75")}))
    dist.destroy_process_group()


@pytest.mark.slow
def test_boxmap_synchronises_over_two_processes():
    # the oracle's DDP sync: the two ranks' images together must give the single-process result (image ids
    # unique across ranks)
    results = dict(run_gloo_ranks(_rank))
    single = compute(*_cases())
    for rank in (0, 1):
        for key in ("map", "map_50", "map_75"):
            assert results[rank][key] == pytest.approx(single[key].item(), abs=1e-6), (rank, key)
