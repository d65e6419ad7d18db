"""TabularDataModule: statistics from training rows only, the raw California file, the checkpointed state."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from datamodules.tabular import TabularDataModule
from datamodules.tabular_features import Preprocessing
from labcore.errors import LabError


def _table(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(10, 2, n)
    a[::7] = np.nan  # missing numeric entries
    colour = rng.choice(["red", "green", "blue"], n).astype(object)
    colour[::11] = None  # missing categories
    return pd.DataFrame({"a": a, "b": rng.normal(0, 1, n), "colour": colour, "price": rng.normal(100, 10, n)})


def _dm(path, **kw) -> TabularDataModule:
    args = dict(target="price", task="regression", numeric=["a", "b"], categorical=["colour"], source="path")
    return TabularDataModule(path=str(path), **{**args, **kw})


def _state_after_editing(tmp_path, table: pd.DataFrame, rows) -> dict:
    edited = table.copy()
    # outliers that would move a median / mean / std, each row its own (identical rows would be de-duplicated
    # before the split, and the split would move with the row count)
    edited.loc[rows, "a"] = 1e6 + np.arange(len(rows))
    edited.loc[rows, "b"] = -1e6
    edited.loc[rows, "colour"] = "purple"  # a category only these rows have
    edited.loc[rows, "price"] = 1e9
    path = tmp_path / "edited.csv"
    edited.to_csv(path, index=False)
    dm = _dm(path)
    dm.setup("fit")
    return dm.data_state


def test_statistics_see_training_rows_only(tmp_path):
    table = _table()
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    dm = _dm(path)
    dm.setup("fit")
    state = dm.data_state
    held_out = np.concatenate([dm.split_rows["val"], dm.split_rows["test"]])
    # val/test rows changed beyond recognition: not one fitted number moves (the split depends on n and the seed only)
    assert _state_after_editing(tmp_path, table, held_out) == state
    # the same edit on training rows moves them: the check above can fail
    moved = _state_after_editing(tmp_path, table, dm.split_rows["train"][:20])
    assert moved["numeric_fill"] != state["numeric_fill"]
    assert moved["numeric_std"] != state["numeric_std"]
    assert "purple" in moved["categories"][0]
    assert moved["target_shift"] != state["target_shift"]


def test_imputation_scaling_and_encoding(tmp_path):
    table = _table()
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    dm = _dm(path, preprocessing=Preprocessing(impute="mean"))
    dm.setup("fit")
    s = dm.data_state
    train = table.iloc[dm.split_rows["train"]]
    assert s["numeric_fill"][0] == pytest.approx(train["a"].mean())
    assert s["categories"] == [["blue", "green", "red"]]
    assert s["feature_names"] == ["a", "b", "colour=blue", "colour=green", "colour=red"]
    x = dm.datasets["train"].x
    assert not torch.isnan(x).any()
    assert x[:, :2].mean(0).abs().max() < 1e-5  # standardised on these very rows
    assert torch.allclose(x[:, 2:].sum(1), torch.ones(len(x)))  # one-hot (missing -> the most frequent)
    ordinal = _dm(path, preprocessing=Preprocessing(encoding="ordinal"))
    ordinal.setup("fit")
    assert ordinal.model_info()["in_features"] == 3


def test_unknown_category_is_all_zero_and_counted(tmp_path):
    table = _table()
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    dm = _dm(path)
    dm.setup("fit")
    new = table.head(3).copy()
    new["colour"] = ["violet", "red", "violet"]
    with pytest.warns(UserWarning, match="2 entries of 'colour'"):
        x, _ = dm._tensors(new, "predict")
    assert x[:, 2:].sum(1).tolist() == [0.0, 1.0, 0.0]


def test_regression_target_round_trip(tmp_path):
    table = _table()
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    dm = _dm(path)
    dm.setup("fit")
    info = dm.model_info()
    y = dm.datasets["val"].target[:, 0].double()
    real = y * info["target_scale"][0] + info["target_shift"][0]
    expected = table["price"].iloc[dm.split_rows["val"]].to_numpy()
    assert np.allclose(real.numpy(), expected, rtol=1e-5)
    assert info["target_names"] == ["price"] and info["out_features"] == 1


def test_reads_california_housing_as_it_is():
    dm = TabularDataModule(
        dataset="california_housing",
        target="median_house_value",
        task="regression",
        categorical=["ocean_proximity"],
        source="embedded",
    )
    raw = dm.read_csv(dm._csv_file())
    assert raw["total_bedrooms"].isna().any()  # the file's missing entries are there
    dm.setup("fit")
    names = dm.data_state["feature_names"]
    assert "total_bedrooms" in names and "median_house_value" not in names
    assert any(n.startswith("ocean_proximity=") for n in names)
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"x", "y"} and batch["x"].dtype == torch.float32 and not torch.isnan(batch["x"]).any()


def test_state_survives_a_weights_only_checkpoint(tmp_path):
    kw = dict(dataset="titanic", target="Survived", numeric=["Pclass", "Age", "Fare"], categorical=["Sex", "Embarked"])
    dm = TabularDataModule(source="embedded", **kw)
    dm.setup("fit")
    dm.setup("test")
    ckpt = tmp_path / "c.ckpt"
    torch.save({"state_dict": {}, "TabularDataModule": dm.state_dict()}, ckpt)
    again = TabularDataModule(source="embedded", from_checkpoint=str(ckpt), **kw)  # read with weights_only=True
    assert again.model_info() == dm.model_info()
    again.setup("test")
    assert torch.equal(again.datasets["test"].x, dm.datasets["test"].x)


def test_raw_rows_predict_without_target(tmp_path):
    kw = dict(dataset="titanic", target="Survived", numeric=["Pclass", "Age", "Fare"], categorical=["Sex"])
    dm = TabularDataModule(source="embedded", **kw)
    dm.setup("fit")
    raw = tmp_path / "new.csv"
    pd.DataFrame({"Pclass": [1, 3], "Age": [None, 30], "Fare": [80.0, 7.25], "Sex": ["female", "male"]}).to_csv(
        raw, index=False
    )
    dm.predict_path = str(raw)
    dm.setup("predict")
    item = dm.datasets["predict"].__getitems__([0, 1])
    assert set(item) == {"x"} and item["x"].shape == (2, 5)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_predict_keeps_rows_whose_target_is_blank(tmp_path, recwarn, task):
    # Before: rows with a blank target were dropped from predict_path (the output no longer lined up with the
    # input file) under a warning about "classes the training rows never had".
    target = "Survived" if task == "classification" else "Fare"
    feats = ["Pclass", "Age"] if task == "regression" else ["Pclass", "Age", "Fare"]
    dm = TabularDataModule(source="embedded", dataset="titanic", target=target, task=task, numeric=feats)
    dm.setup("fit")
    raw = tmp_path / "new.csv"
    frame = pd.DataFrame(
        {"Pclass": [1, 3, 2], "Age": [20, 30, None], "Fare": [80.0, 7.25, 10.0], "Survived": [1, 0, 1]}
    )
    frame.loc[1, target] = None
    frame.to_csv(raw, index=False)
    dm.predict_path = str(raw)
    dm.setup("predict")
    assert len(dm.datasets["predict"]) == 3  # one prediction per input row, in file order
    assert dm.datasets["predict"].target is None
    assert not [w for w in recwarn if "dropped" in str(w.message)]
    frame.loc[1, target] = 0
    frame.to_csv(raw, index=False)
    dm.setup("predict")
    assert len(dm.datasets["predict"]) == 3 and dm.datasets["predict"].target is not None  # all known: kept


@pytest.mark.parametrize("split", ["random", "stratified"])
def test_exact_duplicate_rows_are_dropped_before_the_split(tmp_path, split):
    # Before: tables were split as read, so copies of one row landed in training and in test.
    table = _table(300, seed=3)
    table["kind"] = np.where(table["b"] > 0, "x", "y")
    dup = pd.concat([table, table.iloc[:40], table.iloc[:10]], ignore_index=True)  # 50 exact copies
    dup.insert(0, "Unnamed: 0", range(len(dup)))  # a written index column makes no row unique
    path = tmp_path / "dup.csv"
    dup.to_csv(path, index=False)
    dm = _dm(path, target="kind", task="classification", numeric=["a", "b", "price"], split=split)
    with pytest.warns(UserWarning, match="50 exact duplicate rows dropped before the split"):
        dm.setup("fit")
    assert sum(len(r) for r in dm.split_rows.values()) == 300
    key = [c for c in dup.columns if c != "Unnamed: 0"]
    seen = {s: {tuple(map(str, row)) for row in dm.frames[s][key].itertuples(index=False)} for s in dm.frames}
    assert not seen["train"] & seen["test"] and not seen["train"] & seen["val"] and not seen["val"] & seen["test"]


def test_classification_split_is_stratified_and_disjoint():
    dm = TabularDataModule(dataset="titanic", target="Survived", numeric=["Fare"], source="embedded")
    dm.setup("fit")
    rows = dm.split_rows
    assert not set(rows["val"]) & set(rows["test"]) and not set(rows["train"]) & set(rows["val"])
    rates = [dm.frames[s]["Survived"].mean() for s in ("train", "val", "test")]
    assert max(rates) - min(rates) < 0.02


def test_no_validation_split_is_refused():
    # the Titanic report chose its model on the test set: a table lab always has a validation split of its own
    with pytest.raises(LabError, match="val_fraction"):
        TabularDataModule(dataset="titanic", target="Survived", val_fraction=0, source="embedded")


def test_bad_column_is_one_line(tmp_path):
    dm = TabularDataModule(dataset="titanic", target="Survive", source="embedded")
    with pytest.raises(LabError, match="no column 'Survive'.*--data.init_args.target") as err:
        dm.setup("fit")
    assert "\n" not in str(err.value)


def test_weighted_sampler_loader_resumes_mid_epoch_with_the_epochs_own_draws():
    # Before: a plain DataLoader over a WeightedRandomSampler: no saved position, and its generator restarted
    # at epoch 0's draws after any resume.
    kw = dict(dataset="titanic", target="Survived", numeric=["Pclass", "Fare"], source="embedded", batch_size=32)

    def epoch(loader, number: int, take: int | None = None) -> list[list[int]]:
        loader.batch_sampler.set_epoch(number)
        out = []
        for batch in loader:
            out.append(batch["label"].tolist())
            if len(out) == take:
                break
        return out

    dm = TabularDataModule(imbalance="weighted_sampler", **kw)
    dm.setup("fit")
    full = {e: epoch(dm.train_dataloader(), e) for e in (0, 1)}
    assert full[0] != full[1]
    first = dm.train_dataloader()
    epoch(first, 1, take=3)
    resumed = dm.train_dataloader()
    resumed.load_state_dict(first.state_dict())
    assert epoch(resumed, 1) == full[1][3:]
    labels = torch.tensor([y for batch in full[0] for y in batch])
    assert abs(float(labels.float().mean()) - 0.5) < 0.1  # still draws the classes equally often
