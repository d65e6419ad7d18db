"""The temperature lab as the report wrote it, with the scaler fitted on the train part only: daily minimum temperatures
(Melbourne 1981-1990), windows of 10 days -> the next day; chronological 70/15/15 split; MinMax(-1, 1) fitted
on train; Elman RNN hidden 32 -> linear, Adam 1e-2, MSE, batch 32 (eval 512), 100 epochs; shuffled training
windows. Read as our TimeSeriesDataModule reads it: a daily index (missing dates become missing values), each
part forward-filled on its own for the inputs, windows inside each part, windows whose target is missing dropped.
Test RMSE / MAE in degrees C.

    python benchmarks/peers/temperature_rnn.py --data ../shared/data/daily_min_temperatures [--epochs 100]
"""

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
from _common import finish, parser, setup
from torch.utils.data import DataLoader, TensorDataset

LOOKBACK = 10


def read_series(path: Path) -> np.ndarray:
    csv = path if path.is_file() else next(path.glob("*.csv*"))
    df = pd.read_csv(csv, parse_dates=["Date"], index_col="Date").sort_index()
    temp = pd.to_numeric(df["Temp"], errors="coerce").asfreq("D")  # 1984-12-31, 1988-12-31 are missing
    return temp.to_numpy(dtype=np.float64)


def make_windows(values, lo, hi, fill):
    """Scaled (x, y) windows of one part: inputs forward-filled, windows with a missing target dropped."""
    scaled = 2 * (values - lo) / (hi - lo) - 1
    filled = pd.Series(scaled).ffill().fillna(2 * (fill - lo) / (hi - lo) - 1).to_numpy()
    xs, ys = [], []
    for i in range(len(values) - LOOKBACK):
        if not np.isnan(scaled[i + LOOKBACK]):
            xs.append(filled[i : i + LOOKBACK])
            ys.append(scaled[i + LOOKBACK])
    x = torch.tensor(np.array(xs), dtype=torch.float32).unsqueeze(-1)
    return x, torch.tensor(ys, dtype=torch.float32).unsqueeze(-1)


class RNNModel(nn.Module):
    def __init__(self, hidden_size=32):
        super().__init__()
        self.rnn = nn.RNN(1, hidden_size, num_layers=1, batch_first=True)
        self.dropout = nn.Dropout(0.0)
        self.fc = nn.Linear(hidden_size, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(self.dropout(out[:, -1]))


def predict(model, loader):
    model.eval()
    preds, targets = [], []
    with torch.no_grad():
        for x, y in loader:
            preds.append(model(x))
            targets.append(y)
    return torch.cat(preds), torch.cat(targets)


def main():
    args = parser(__doc__, epochs=100).parse_args()
    setup(args)
    values = read_series(Path(args.data))
    n = len(values)
    n_val, n_test = round(0.15 * n), round(0.15 * n)
    n_train = n - n_val - n_test
    parts = {"train": values[:n_train], "val": values[n_train : n_train + n_val], "test": values[n_train + n_val :]}
    lo, hi, fill = np.nanmin(parts["train"]), np.nanmax(parts["train"]), np.nanmean(parts["train"])
    data = {k: make_windows(v, lo, hi, fill) for k, v in parts.items()}
    print(", ".join(f"{k} {len(v)} rows ({len(data[k][0])} windows)" for k, v in parts.items()))
    train_loader = DataLoader(TensorDataset(*data["train"]), batch_size=32, shuffle=True)
    val_loader = DataLoader(TensorDataset(*data["val"]), batch_size=512)
    test_loader = DataLoader(TensorDataset(*data["test"]), batch_size=512)
    model = RNNModel()
    criterion = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    to_degrees = (hi - lo) / 2
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        running_loss = 0.0
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
        pred, target = predict(model, val_loader)
        val_rmse = ((pred - target) ** 2).mean().sqrt().item() * to_degrees
        print(f"epoch {epoch + 1}: loss {running_loss / len(train_loader):.4f} val rmse {val_rmse:.3f} C")
    train_seconds = time.time() - start
    pred, target = predict(model, test_loader)
    test_rmse = ((pred - target) ** 2).mean().sqrt().item() * to_degrees
    test_mae = (pred - target).abs().mean().item() * to_degrees
    print(f"test rmse {test_rmse:.3f} C, mae {test_mae:.3f} C")
    finish(train_seconds, test_rmse=test_rmse, test_mae=test_mae)


if __name__ == "__main__":
    main()
