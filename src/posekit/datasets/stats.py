"""Dataset statistics: counts a person reads before training or evaluating."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from posekit.datasets.sample import Sample
from posekit.datasets.split import sample_class


def dataset_stats(samples: list[Sample]) -> dict[str, Any]:
    """Images, persons, crowd persons, labelled-keypoints-per-person histogram (index = count, 0..K),
    visibility counts {0, 1, 2} over all keypoints, images per split, images per activity category
    (an image's category is its first person's), and how many images have a known size."""
    k = max((s.schema.num_keypoints for s in samples), default=0)
    hist = np.zeros(k + 1, np.int64)
    vis = Counter({0: 0, 1: 0, 2: 0})
    persons = crowd = 0
    for s in samples:
        for p in s.persons:
            persons += 1
            crowd += int(p.iscrowd)
            hist[int(p.labelled.sum())] += 1
            vis.update(p.visibility.tolist())
    categories = Counter(str(sample_class(s, "category")) for s in samples)
    return {
        "images": len(samples),
        "images_with_size": sum(1 for s in samples if s.width > 0 and s.height > 0),
        "persons": persons,
        "crowd_persons": crowd,
        "schemas": sorted({s.schema.name for s in samples}),
        "keypoints_per_person": hist.tolist(),
        "visibility": {str(v): int(n) for v, n in sorted(vis.items())},
        "splits": dict(sorted(Counter(s.split or "(none)" for s in samples).items())),
        "categories": dict(categories.most_common()),
    }
