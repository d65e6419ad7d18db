"""datamodules.timeseries: chronological splits, windows inside one split, train-only statistics, units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from datamodules.series_scaling import fill_missing, fit_scaling, scale, unscale
from datamodules.timeseries import TimeSeriesDataModule
from lab_modules import Regressor
from lab_modules.nets import RNNForecaster
from labcore.errors import LabError


def _csv(tmp_path, values, name="series.csv", start="2000-01-01", extra=None) -> str:
    frame = pd.DataFrame({"Date": pd.date_range(start, periods=len(values), freq="D").strftime("%Y-%m-%d")})
    frame["Temp"] = values
    for k, v in (extra or {}).items():
        frame[k] = v
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


def _dm(path, **kw) -> TimeSeriesDataModule:
    dm = TimeSeriesDataModule(source="path", path=path, **kw)
    dm.setup("fit")
    return dm


def test_splits_are_chronological_blocks_and_windows_stay_inside_one():
    dm = TimeSeriesDataModule(source="embedded", lookback=10, horizon=3)
    dm.setup("fit")
    frames = dm.frames
    assert frames["train"].index[-1] < frames["val"].index[0] <= frames["val"].index[-1] < frames["test"].index[0]
    assert sum(len(f) for f in frames.values()) == len(dm.read())  # nothing lost, nothing shared
    for split, frame in frames.items():
        ds = dm.datasets[split]
        # every window's inputs and targets are rows of its own split
        assert int(ds.starts.min()) >= 0 and int(ds.starts.max()) + 10 + 3 <= len(frame)
        batch = ds.__getitems__(list(range(len(ds))))
        real = frame["Temp"].to_numpy()
        shift, scale_ = dm.data_state["shift"][0], dm.data_state["scale"][0]
        for i in (0, len(ds) - 1):
            s = int(batch["start"][i])
            np.testing.assert_allclose(batch["window"][i, :, 0].numpy() * scale_ + shift, real[s : s + 10], atol=1e-4)
            np.testing.assert_allclose(batch["y"][i].numpy() * scale_ + shift, real[s + 10 : s + 13], atol=1e-4)
    dates = {k: dm.target_dates(k) for k in frames}
    assert dates["train"][0] == frames["train"].index[10]  # the first target comes after a full window
    assert dates["train"].max() < dates["val"].min() and dates["val"].max() < dates["test"].min()


def test_val_is_its_own_block_not_the_test_set():
    """Two reports validated on the test set: our val loader serves the val block, earlier than test."""
    dm = TimeSeriesDataModule(
        source="embedded", dataset="india_air_quality", value_columns=["PM2.5"], filter={"City": "Delhi"}, lookback=90
    )
    dm.setup("fit")
    val, test = dm.val_dataloader().dataset, dm.test_dataloader().dataset
    assert val is dm.datasets["val"] and test is dm.datasets["test"] and val is not test
    assert dm.target_dates("val").max() < dm.frames["test"].index.min()


def test_statistics_come_from_train_rows_only(tmp_path):
    """The series reports fitted the scaler on the whole series before splitting: val / test rows must
    not move the fitted fill values or scaler (but train rows must)."""
    rng = np.random.default_rng(0)
    values = rng.normal(10, 2, 200)
    values[5] = np.nan
    base = _dm(_csv(tmp_path, values, "a.csv"), lookback=5, scaler="standard").data_state
    changed = values.copy()
    changed[140:] = changed[140:] * 100 + 1000  # val and test rows (train is the first 140)
    changed[150] = np.nan
    moved = _dm(_csv(tmp_path, changed, "b.csv"), lookback=5, scaler="standard").data_state
    assert moved == base
    changed_train = values.copy()
    changed_train[10] = 500.0
    assert _dm(_csv(tmp_path, changed_train, "c.csv"), lookback=5, scaler="standard").data_state != base
    train = values[:140]
    assert base["fill"][0] == pytest.approx(np.nanmean(train))
    assert base["shift"][0] == pytest.approx(np.nanmean(train)) and base["scale"][0] == pytest.approx(np.nanstd(train))


def test_minmax_maps_the_train_range_onto_feature_range_and_round_trips():
    train = np.array([[1.0, -4.0], [3.0, np.nan], [5.0, 6.0]])
    st = fit_scaling(train, ["a", "b"], "minmax", (-1.0, 1.0))
    scaled = scale(np.nan_to_num(train, nan=0.0), st["shift"], st["scale"])
    assert scaled[:, 0].tolist() == [-1.0, 0.0, 1.0] and scaled[[0, 2], 1].tolist() == [-1.0, 1.0]
    x = np.array([[7.0, -10.0], [0.0, 2.5]])
    np.testing.assert_allclose(unscale(scale(x, st["shift"], st["scale"]), st["shift"], st["scale"]), x)


def test_regressor_turns_the_datas_scaled_targets_back_into_real_units(tmp_path):
    values = np.arange(100, dtype=float) * 0.5 + 3
    dm = _dm(_csv(tmp_path, values), lookback=4, horizon=2, feature_range=(0.0, 1.0))
    info = dm.model_info()
    assert info["target_names"] == ["Temp+1", "Temp+2"] and info["out_features"] == 2
    model = Regressor(
        RNNForecaster(input_size=1, out_features=2),
        target_shift=info["target_shift"],
        target_scale=info["target_scale"],
        target_names=info["target_names"],
    )
    batch = dm.datasets["test"].__getitems__([0, 1, 2])
    real = model.to_real(batch["y"])
    rows = dm.frames["test"]["Temp"].to_numpy()
    starts = batch["start"].numpy()
    expected = np.stack([rows[s + 4 : s + 6] for s in starts])
    np.testing.assert_allclose(real.numpy(), expected, rtol=1e-5)
    torch.testing.assert_close(model.to_scaled(real), batch["y"])


def test_missing_values_fill_forward_within_a_split_and_missing_targets_drop_windows(tmp_path):
    fill = [99.0]
    col = np.array([[np.nan], [1.0], [np.nan], [3.0]])
    assert fill_missing(col, "ffill", fill)[:, 0].tolist() == [99.0, 1.0, 1.0, 3.0]
    assert fill_missing(col, "mean", fill)[:, 0].tolist() == [99.0, 1.0, 99.0, 3.0]
    assert np.isnan(fill_missing(col, "drop", fill)[2, 0])
    values = np.arange(100, dtype=float)
    values[20] = np.nan
    with pytest.warns(UserWarning, match="dropped 1 of"):  # the window whose target is day 20
        dm = _dm(_csv(tmp_path, values, "f.csv"), lookback=5)
    ds = dm.datasets["train"]
    assert 15 not in ds.starts.tolist() and len(ds) == ds.possible - 1
    with pytest.warns(UserWarning, match="dropped 6 of"):  # and, under drop, the 5 whose inputs hold it
        _dm(_csv(tmp_path, values, "g.csv"), lookback=5, missing="drop")


def test_rows_are_filtered_and_missing_dates_inserted(tmp_path):
    dates = [d.strftime("%Y-%m-%d") for d in pd.date_range("2001-01-01", periods=60, freq="D")]
    kept = [d for i, d in enumerate(dates) if i != 30]  # one day absent
    frame = pd.concat(
        [
            pd.DataFrame({"City": "A", "Date": kept, "v": np.arange(59.0)}),
            pd.DataFrame({"City": "B", "Date": dates, "v": -np.arange(60.0)}),
        ]
    )
    path = tmp_path / "cities.csv"
    frame.to_csv(path, index=False)
    dm = TimeSeriesDataModule(source="path", path=str(path), value_columns=["v"], filter={"City": "A"}, lookback=3)
    read = dm.read()
    assert len(read) == 60 and read["v"].min() == 0 and np.isnan(read["v"].iloc[30])


def test_bad_input_is_one_line(tmp_path):
    path = _csv(tmp_path, np.arange(50.0))
    with pytest.raises(LabError, match="value_columns"):
        TimeSeriesDataModule(source="path", path=path, value_columns=["Tmp"]).setup("fit")
    with pytest.raises(LabError, match="no rows"):
        TimeSeriesDataModule(
            source="path", path=_csv(tmp_path, np.arange(50.0), "c.csv", extra={"City": "X"}), filter={"City": "Y"}
        ).setup("fit")
    with pytest.raises(LabError, match="shorter lookback"):
        TimeSeriesDataModule(source="path", path=path, lookback=30).setup("fit")
    with pytest.raises(LabError, match="missing"):
        TimeSeriesDataModule(missing="interpolate")


def test_the_checkpoint_state_is_used_instead_of_refitting(tmp_path):
    """predict / test from a checkpoint scale with the statistics trained with, even on other data."""
    first = _dm(_csv(tmp_path, np.arange(200.0), "a.csv"), lookback=5)
    ckpt = tmp_path / "x.ckpt"
    torch.save({"TimeSeriesDataModule": first.state_dict()}, ckpt)
    other = _csv(tmp_path, np.arange(200.0) * 3 + 7, "b.csv")
    restored = TimeSeriesDataModule(source="path", path=other, lookback=5, from_checkpoint=str(ckpt))
    assert restored.model_info()["target_shift"] == first.model_info()["target_shift"]
    restored.setup("test")
    assert restored.data_state == first.data_state
    assert _dm(other, lookback=5).data_state != first.data_state  # refitting would have moved it
    with pytest.raises(LabError, match="columns"):
        TimeSeriesDataModule(
            source="path",
            path=_csv(tmp_path, np.arange(200.0), "c.csv", extra={"B": 1.0}),
            value_columns=["Temp", "B"],
            lookback=5,
            from_checkpoint=str(ckpt),
        ).setup("test")


# Fails on the old code: the data filled only the first target's column and the net added that value to every
# target, so with two targets an untrained residual forecaster was not the naive forecast.
@pytest.mark.parametrize("horizon", [1, 3])
def test_residual_forecaster_starts_as_the_naive_forecast_for_each_target(tmp_path, horizon):
    rng = np.random.default_rng(0)
    extra = {"Hum": rng.normal(60, 9, 120), "Wind": rng.normal(5, 1, 120)}
    path = _csv(tmp_path, rng.normal(15, 3, 120), extra=extra)
    # the targets in another order than the inputs: each must be matched with its own input column
    dm = _dm(path, value_columns=["Temp", "Wind", "Hum"], target_columns=["Hum", "Temp"], lookback=4, horizon=horizon)
    info = dm.model_info()
    assert info["target_index"] == [2, 0] and info["out_features"] == 2 * horizon
    net = RNNForecaster(
        input_size=info["input_size"],
        out_features=info["out_features"],
        residual=True,
        target_index=info["target_index"],
    )
    torch.nn.init.zeros_(net.head.weight)
    torch.nn.init.zeros_(net.head.bias)  # the head predicts no change
    batch = dm.datasets["val"].__getitems__(list(range(5)))
    with torch.no_grad():
        torch.testing.assert_close(net(batch["window"]), batch["naive"])


def test_residual_forecaster_needs_every_target_among_the_inputs(tmp_path):
    path = _csv(tmp_path, np.arange(60.0), extra={"Hum": np.arange(60.0) * 2})
    info = _dm(path, value_columns=["Temp"], target_columns=["Temp", "Hum"], lookback=4).model_info()
    assert info["target_index"] is None
    with pytest.raises(LabError, match="every target must be an input column"):
        RNNForecaster(input_size=1, out_features=2, residual=True, target_index=info["target_index"])
    assert RNNForecaster(input_size=2, out_features=1, residual=True, target_index=1).target_index == [1]
