"""Activity data: dataset samples -> per-person pose features and category labels, splits, perturbation.

The split is by image (``posekit.datasets.split.stratified_split`` on the image's category, seeded), so the
persons of one image never land in two splits. Persons whose category is empty or "NA" and persons with no
labelled keypoint are dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from posekit.activity.features import CANONICAL_JOINTS, body_frame, canonical_joints, joint_features
from posekit.datasets.sample import Person, Sample
from posekit.errors import PosekitError

NO_CATEGORY = (None, "", "NA", "nan")


@dataclass
class PersonSet:
    """Persons of a list of samples.

    joints: (N, 14, 2) canonical joints in pixels, NaN where missing; labels: (N,) category names;
    image_paths: (N,) where each person's image is (may not exist); dropped: counts of dropped persons.
    """

    joints: NDArray[np.float64]
    labels: NDArray[np.str_]
    image_paths: list[str]
    persons: list[Person] = field(repr=False, default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def features(self) -> NDArray[np.float64]:
        """(N, NUM_FEATURES) pose features."""
        return joint_features(self.joints)


def person_set(samples: list[Sample]) -> PersonSet:
    """Every person with a category and at least one labelled keypoint (the rest dropped and counted)."""
    dropped = {"person without activity category (NA or empty)": 0, "person without labelled keypoints": 0}
    joints, labels, paths, persons = [], [], [], []
    for s in samples:
        keep = []
        for p in s.persons:
            if p.category in NO_CATEGORY:
                dropped["person without activity category (NA or empty)"] += 1
            elif not p.labelled.any():
                dropped["person without labelled keypoints"] += 1
            else:
                keep.append(p)
        if keep:
            xy = np.stack([p.keypoints for p in keep])
            joints.append(canonical_joints(xy, np.stack([p.labelled for p in keep]), s.schema))
            labels += [str(p.category) for p in keep]
            paths += [str(s.image_path or "")] * len(keep)
            persons += keep
    j = np.concatenate(joints) if joints else np.zeros((0, 14, 2))
    return PersonSet(j, np.asarray(labels, dtype=str), paths, persons, dropped)


def image_category(sample: Sample) -> str | None:
    """The category of an image: its first person's category that is not empty / "NA"."""
    return next((p.category for p in sample.persons if p.category not in NO_CATEGORY), None)


def split_samples(samples: list[Sample], seed: int = 0,
                  fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)) -> dict[str, list[Sample]]:
    """Images with a category split into train / val / test, stratified by category (by image)."""
    from posekit.datasets.split import stratified_split

    usable = [s for s in samples if image_category(s) is not None]
    if not usable:
        raise PosekitError("no image has an activity category; pass MPII annotations with categories "
                           "(e.g. mpii-csv:mpii_human_pose.csv)")
    return stratified_split(usable, key=image_category, fractions=fractions, seed=seed)


def body_scale(joints: NDArray[np.float64]) -> NDArray[np.float64]:
    """(N,) torso length |mid-shoulders - mid-hips| in pixels, or the present joints' bounding-box diagonal
    / 3 when a shoulder or hip is missing (1 when fewer than two distinct joints), from (N, 14, 2) joints."""
    _, scale, is_torso = body_frame(np.asarray(joints, dtype=np.float64))
    return np.where(is_torso, scale, scale / 3.0)


def augment(joints: NDArray[np.float64], labels: NDArray, copies: int, seed: int = 0,
            max_sigma: float = 0.15, dropout: float = 0.1) -> tuple[NDArray[np.float64], NDArray]:
    """The persons and ``copies`` altered copies of them, as a pose model would see them: each copy gets
    Gaussian noise with a per-person sigma drawn uniformly in [0, ``max_sigma``] x body scale and joint
    dropout ``dropout`` (`perturb`); copies 1, 3, ... are also mirrored (left <-> right, x -> -x; features are
    translation-invariant). Returns the (N x (copies + 1), 14, 2) joints and their labels."""
    from posekit.activity.pairs import flip_joints

    rng = np.random.default_rng(seed)
    out, out_labels = [np.asarray(joints, dtype=np.float64)], [np.asarray(labels)]
    s = body_scale(out[0])
    for c in range(copies):
        j = flip_joints(out[0], 0.0) if c % 2 == 0 else out[0].copy()
        sigma = rng.uniform(0.0, max_sigma, len(j)) * s
        j = j + rng.normal(size=j.shape) * sigma[:, None, None]
        j[rng.random(j.shape[:2]) < dropout] = np.nan
        ls, rs, neck = (CANONICAL_JOINTS.index(n) for n in ("left_shoulder", "right_shoulder", "neck"))
        j[:, neck] = (j[:, ls] + j[:, rs]) / 2.0
        out.append(j)
        out_labels.append(np.asarray(labels))
    return np.concatenate(out), np.concatenate(out_labels)


def perturb(joints: NDArray[np.float64], sigma: float = 0.0, dropout: float = 0.0,
            seed: int = 0) -> NDArray[np.float64]:
    """Simulated pose-model errors: Gaussian noise with standard deviation ``sigma`` x body scale (per
    coordinate, see `body_scale`) and each present joint removed with probability ``dropout`` (the neck
    then follows the shoulders).

    joints: (N, 14, 2) pixels, NaN where missing. Returns a new (N, 14, 2) array.
    """
    rng = np.random.default_rng(seed)
    j = np.array(joints, dtype=np.float64)
    s = body_scale(j)
    j += rng.normal(size=j.shape) * (sigma * s)[:, None, None]
    if dropout > 0:
        j[rng.random(j.shape[:2]) < dropout] = np.nan
    # the neck is defined as mid-shoulders: keep it so after the shoulders moved
    ls, rs, neck = (CANONICAL_JOINTS.index(n) for n in ("left_shoulder", "right_shoulder", "neck"))
    j[:, neck] = (j[:, ls] + j[:, rs]) / 2.0
    return j
