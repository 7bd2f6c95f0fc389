"""One Sample type that every dataset loader returns.

Keypoint visibility follows COCO's convention for every dataset: 0 = not labelled (coordinates
meaningless), 1 = labelled but occluded, 2 = labelled and visible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posekit.errors import PosekitError
from posekit.skeletons import Schema


@dataclass
class Person:
    """One annotated person.

    keypoints: (K, 2) float32 pixel coordinates x, y.
    visibility: (K,) int8 in {0, 1, 2} (see module docstring).
    box: (4,) float32 x1, y1, x2, y2 in pixels, or None.
    head_box: (4,) float32 x1, y1, x2, y2 (MPII), or None.
    center: (2,) float32 and scale (MPII: person height / 200 px), or None.
    """

    keypoints: NDArray[np.float32]
    visibility: NDArray[np.int8]
    box: NDArray[np.float32] | None = None
    head_box: NDArray[np.float32] | None = None
    center: NDArray[np.float32] | None = None
    scale: float | None = None
    area: float | None = None
    iscrowd: bool = False
    activity: str | None = None
    category: str | None = None
    activity_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32)
        self.visibility = np.asarray(self.visibility, dtype=np.int8)
        if self.keypoints.ndim != 2 or self.keypoints.shape[1] != 2:
            raise PosekitError(f"keypoints must have shape (K, 2), got {self.keypoints.shape}")
        if self.visibility.shape != (self.keypoints.shape[0],):
            raise PosekitError(
                f"visibility must have shape ({self.keypoints.shape[0]},), got {self.visibility.shape}"
            )
        for name in ("box", "head_box"):
            v = getattr(self, name)
            if v is not None:
                setattr(self, name, np.asarray(v, dtype=np.float32).reshape(4))
        if self.center is not None:
            self.center = np.asarray(self.center, dtype=np.float32).reshape(2)

    @property
    def labelled(self) -> NDArray[np.bool_]:
        return self.visibility > 0


@dataclass
class Sample:
    """One image with its annotated persons.

    image_path: where the image is (it may not exist when a dataset ships annotations only).
    width, height: image size in pixels, or 0 when unknown.
    split: 'train', 'val', 'test' or None.
    """

    image_path: Path | None
    width: int
    height: int
    schema: Schema
    persons: list[Person]
    image_id: int | str | None = None
    split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = self.schema.num_keypoints
        for p in self.persons:
            if p.keypoints.shape[0] != k:
                raise PosekitError(
                    f"{self.image_path or self.image_id}: a person has {p.keypoints.shape[0]} keypoints, "
                    f"schema {self.schema.name} has {k}"
                )
