"""Activity data from the real MPII CSV export (skipped where ../shared/data is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posekit.activity.train import load_splits


@pytest.mark.slow  # reads 17,372 CSV rows
def test_mpii_csv_persons_splits_and_features(shared_data: Path) -> None:
    csv = shared_data / "mpii-activity" / "mpii_human_pose.csv"
    splits, counts = load_splits(f"mpii-csv:{csv}", seed=0)
    assert counts["persons"] == 17372
    assert counts["person without activity category (NA or empty)"] == 41
    assert counts["person without labelled keypoints"] == 0
    assert [len(splits[n]) for n in ("train", "val", "test")] == [12131, 2601, 2599]
    assert sum(len(p) for p in splits.values()) == 17372 - 41
    labels = set(splits["train"].labels.tolist())
    assert len(labels) == 20 and "NA" not in labels
    assert set(splits["test"].labels.tolist()) == labels  # every category reaches the test split
    top = max(labels, key=lambda c: int(np.sum(splits["train"].labels == c)))
    assert top == "sports" and np.sum(splits["train"].labels == "sports") == 2415  # 3450 x 0.7
    feats = splits["test"].features()
    assert feats.shape == (2599, 76) and np.isfinite(feats).all()
