"""Toy (sentence, label) pairs for the attention lab: a documented generator, no download.

Short sentences ``the <thing> <verb> [<adverb>] [not] <adjective> [<tail>]``; the label is the
adjective's polarity, flipped by ``not``. Only two words decide the label, so a trained
attention map has something to show (it should look at the adjective and at ``not``).
"""

from __future__ import annotations

import random

THINGS = ["movie", "food", "service", "plot", "actor", "music", "book", "game", "hotel", "trip"]
VERBS = ["was", "is", "seemed", "felt"]
ADVERBS = ["really", "very", "quite", "so", "rather"]
POSITIVE = ["good", "great", "excellent", "wonderful", "fun", "lovely"]
NEGATIVE = ["bad", "awful", "boring", "terrible", "dull", "poor"]
TAILS = ["today", "overall", "to me", "this time", "again", "as always"]


def toy_pairs(n: int = 2000, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        positive = rng.random() < 0.5
        negated = rng.random() < 0.4
        words = ["the", rng.choice(THINGS), rng.choice(VERBS)]
        if rng.random() < 0.5:
            words.append(rng.choice(ADVERBS))
        if negated:
            words.append("not")
        words.append(rng.choice(POSITIVE if positive else NEGATIVE))
        if rng.random() < 0.5:
            words.append(rng.choice(TAILS))
        texts.append(" ".join(words))
        labels.append("positive" if positive != negated else "negative")
    return texts, labels
