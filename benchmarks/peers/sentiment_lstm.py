"""The LSTM sentiment labs as the reports write them: own word vocabulary (min_freq 2, <pad>/<unk>, built on the
training split) -> Embedding 100 -> LSTM 256 (1 layer, packed sequences) -> dropout 0.3 -> linear, Adam 1e-3,
batch 64 (eval 256), 8 epochs on rt-polarity. Read as our TextClassificationDataModule reads it: latin-1
lines split on "\\n" only, negative then positive, duplicate texts dropped (first kept) before a seeded
80/10/10 split; tokens: HTML tags stripped, lower-cased, ``\\w+|[^\\w\\s]+``; at most 256 tokens.

    python benchmarks/peers/sentiment_lstm.py --data ../shared/data/rt_polarity [--epochs 8] [--threads 2]
"""

import re
import time
from collections import Counter
from pathlib import Path

import torch
import torch.nn as nn
from _common import finish, parser, setup, split
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence
from torch.utils.data import DataLoader, Dataset

MAX_LENGTH, MIN_FREQ = 256, 2


def read_lines(path):
    text = path.read_bytes().decode("latin-1")
    # "\n" only: the latin-1 file holds U+0085, which str.splitlines() would break on
    return [ln.rstrip("\r") for ln in text.split("\n") if ln.strip()]


def tokenize(text):
    return re.findall(r"\w+|[^\w\s]+", re.sub(r"<[^>]*>", " ", text).lower())


def build_vocab(texts):
    counts = Counter(t for text in texts for t in tokenize(text))
    words = sorted((w for w, c in counts.items() if c >= MIN_FREQ), key=lambda w: (-counts[w], w))
    return {"<pad>": 0, "<unk>": 1, **{w: i + 2 for i, w in enumerate(words)}}


def encode(text, vocab):
    ids = [vocab.get(t, 1) for t in tokenize(text)][:MAX_LENGTH]
    return ids or [1]


class ReviewDataset(Dataset):
    def __init__(self, texts, labels, vocab):
        self.ids = [torch.tensor(encode(t, vocab)) for t in texts]
        self.labels = labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.ids[i], self.labels[i]


def collate(batch):
    ids, labels = zip(*batch)
    lengths = torch.tensor([len(x) for x in ids])
    return pad_sequence(ids, batch_first=True, padding_value=0), lengths, torch.stack(labels)


class LSTMClassifier(nn.Module):
    def __init__(self, vocab_size, embedding_dim=100, hidden_size=256, num_classes=2, dropout=0.3):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers=1, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, ids, lengths):
        x = self.dropout(self.embedding(ids))
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        return self.fc(self.dropout(h[-1]))


def evaluate(model, loader):
    model.eval()
    correct, total = 0, 0
    with torch.no_grad():
        for ids, lengths, labels in loader:
            correct += (model(ids, lengths).argmax(1) == labels).sum().item()
            total += labels.size(0)
    return correct / total


def main():
    args = parser(__doc__, epochs=8).parse_args()
    setup(args)
    neg, pos = read_lines(Path(args.data) / "rt-polarity.neg"), read_lines(Path(args.data) / "rt-polarity.pos")
    texts, labels, seen = [], [], set()
    for text, label in zip(neg + pos, [0] * len(neg) + [1] * len(pos)):
        if text not in seen:  # a text in train and in test would leak
            seen.add(text)
            texts.append(text)
            labels.append(label)
    print(f"{len(neg) + len(pos) - len(texts)} duplicate texts dropped")
    labels = torch.tensor(labels)
    train_idx, val_idx, test_idx = split(len(texts), val=0.1, test=0.1)
    pick = lambda idx: ([texts[i] for i in idx.tolist()], labels[idx])  # noqa: E731
    train_texts, train_labels = pick(train_idx)
    vocab = build_vocab(train_texts)
    print(f"train {len(train_idx)}, val {len(val_idx)}, test {len(test_idx)}, vocabulary {len(vocab)}")
    train_loader = DataLoader(
        ReviewDataset(train_texts, train_labels, vocab), batch_size=64, shuffle=True, collate_fn=collate
    )
    val_loader = DataLoader(ReviewDataset(*pick(val_idx), vocab), batch_size=256, collate_fn=collate)
    test_loader = DataLoader(ReviewDataset(*pick(test_idx), vocab), batch_size=256, collate_fn=collate)
    model = LSTMClassifier(len(vocab))
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        running_loss, correct, total = 0.0, 0, 0
        for ids, lengths, batch_labels in train_loader:
            optimizer.zero_grad()
            outputs = model(ids, lengths)
            loss = criterion(outputs, batch_labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            correct += (outputs.argmax(1) == batch_labels).sum().item()
            total += batch_labels.size(0)
        val_acc = evaluate(model, val_loader)
        train_loss, train_acc = running_loss / len(train_loader), correct / total
        print(f"epoch {epoch + 1}: loss {train_loss:.4f} acc {train_acc:.4f} val {val_acc:.4f}")
    train_seconds = time.time() - start
    test_acc = evaluate(model, test_loader)
    print(f"test accuracy {test_acc:.4f}")
    finish(train_seconds, test_acc=test_acc)


if __name__ == "__main__":
    main()
