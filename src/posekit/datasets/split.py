"""Deterministic stratified train/val/test splits.

Every class is split on its own: its members are shuffled with a generator seeded by ``seed`` and cut
by largest-remainder rounding of ``fraction x class size``, so each split gets its share of each class
to within one sample. A class too small to reach every split (e.g. 1 or 2 members with 0.7/0.15/0.15)
goes where the largest remainders fall, i.e. mostly to the first split: such classes are missing from
the smaller splits; :func:`class_counts` shows where they landed. Samples without a class form the
class "(none)".
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from math import floor

import numpy as np

from posekit.datasets.sample import Sample
from posekit.errors import PosekitError

SPLIT_NAMES = ("train", "val", "test")
NO_CLASS = "(none)"


def sample_class(sample: Sample, key: str | Callable[[Sample], Hashable] = "category") -> Hashable:
    """The class of a sample: ``key(sample)``, or the first non-empty ``key`` attribute of its persons
    (e.g. 'category', 'activity'), else the sample's own attribute; ``"(none)"`` when there is none."""
    if callable(key):
        value = key(sample)
    else:
        value = next((getattr(p, key) for p in sample.persons if getattr(p, key, None) not in (None, "")),
                     getattr(sample, key, None))
    return NO_CLASS if value in (None, "") else value


def _allocate(n: int, fractions: Sequence[float], rotate: int = 0) -> list[int]:
    """Largest-remainder counts summing to n; equal remainders go to the split ``rotate`` first (so
    that, over many classes, ties do not always favour the same split)."""
    m = len(fractions)
    exact = [f * n for f in fractions]
    counts = [floor(e) for e in exact]
    order = sorted(range(m), key=lambda i: (-round(exact[i] - counts[i], 9), (i - rotate) % m))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def stratified_split(
    samples: list[Sample],
    key: str | Callable[[Sample], Hashable] = "category",
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    names: Sequence[str] = SPLIT_NAMES,
) -> dict[str, list[Sample]]:
    """Split ``samples`` into ``names`` with class proportions kept (see module docstring).

    Deterministic for a seed and an input order; each split keeps the input order.
    """
    if len(fractions) != len(names):
        raise PosekitError(f"fractions {tuple(fractions)}: give one per split ({', '.join(names)})")
    if any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise PosekitError(f"fractions {tuple(fractions)}: need non-negative values that sum to 1")
    groups: dict[Hashable, list[int]] = {}
    for i, s in enumerate(samples):
        groups.setdefault(sample_class(s, key), []).append(i)
    rng = np.random.default_rng(seed)
    chosen: list[list[int]] = [[] for _ in names]
    for c, cls in enumerate(sorted(groups, key=str)):
        members = np.asarray(groups[cls])[rng.permutation(len(groups[cls]))]
        start = 0
        for j, count in enumerate(_allocate(len(members), fractions, rotate=c)):
            chosen[j].extend(members[start:start + count].tolist())
            start += count
    return {name: [samples[i] for i in sorted(idx)] for name, idx in zip(names, chosen, strict=True)}


def class_counts(
    splits: dict[str, list[Sample]], key: str | Callable[[Sample], Hashable] = "category"
) -> dict[Hashable, dict[str, int]]:
    """{class: {split name: number of samples}} for every class seen in any split."""
    out: dict[Hashable, dict[str, int]] = {}
    for name, samples in splits.items():
        for s in samples:
            row = out.setdefault(sample_class(s, key), dict.fromkeys(splits, 0))
            row[name] += 1
    return dict(sorted(out.items(), key=lambda kv: str(kv[0])))
