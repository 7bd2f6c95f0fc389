"""Stratified split: determinism, proportions per class, tiny classes."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.datasets import Person, Sample
from posekit.datasets.split import class_counts, stratified_split
from posekit.errors import PosekitError
from posekit.skeletons import LSP14


def _samples(classes: dict[str, int]) -> list[Sample]:
    out = []
    for cls, n in classes.items():
        for i in range(n):
            p = Person(np.zeros((14, 2)), np.full(14, 2), category=cls)
            out.append(Sample(None, 0, 0, LSP14, [p], image_id=f"{cls}{i}"))
    return out


def test_proportions_per_class_and_determinism():
    samples = _samples({"a": 100, "b": 20, "c": 40, "single": 1, "pair": 2})
    splits = stratified_split(samples, fractions=(0.7, 0.15, 0.15), seed=3)
    counts = class_counts(splits)
    assert counts["a"] == {"train": 70, "val": 15, "test": 15}
    assert counts["b"] == {"train": 14, "val": 3, "test": 3}
    assert counts["c"]["train"] == 28 and sorted([counts["c"]["val"], counts["c"]["test"]]) == [6, 6]
    assert counts["single"] == {"train": 1, "val": 0, "test": 0}
    assert counts["pair"] == {"train": 2, "val": 0, "test": 0}
    ids = {k: [s.image_id for s in v] for k, v in splits.items()}
    assert sorted(sum(ids.values(), [])) == sorted(s.image_id for s in samples)  # a partition
    again = stratified_split(samples, fractions=(0.7, 0.15, 0.15), seed=3)
    assert {k: [s.image_id for s in v] for k, v in again.items()} == ids
    other = stratified_split(samples, fractions=(0.7, 0.15, 0.15), seed=4)
    assert {k: [s.image_id for s in v] for k, v in other.items()} != ids
    order = [s.image_id for s in samples]
    assert ids["train"] == sorted(ids["train"], key=order.index)  # input order kept


def test_other_keys_and_bad_fractions():
    samples = _samples({"x": 10})
    samples.append(Sample(None, 0, 0, LSP14, [], image_id="bare"))
    splits = stratified_split(samples, key=lambda s: str(s.image_id)[0], fractions=(0.5, 0.5), seed=0,
                              names=("a", "b"))
    assert class_counts(splits, key=lambda s: str(s.image_id)[0]) == {"b": {"a": 1, "b": 0},
                                                                      "x": {"a": 5, "b": 5}}
    assert class_counts(stratified_split(samples))["(none)"] == {"train": 1, "val": 0, "test": 0}
    with pytest.raises(PosekitError, match="sum to 1"):
        stratified_split(samples, fractions=(0.5, 0.3, 0.3))
    with pytest.raises(PosekitError, match="one per split"):
        stratified_split(samples, fractions=(0.5, 0.5))
