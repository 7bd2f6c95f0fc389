"""Rendered pose maps: the pose channel of the two-stage image + pose activity model.

A pose map is a single-channel image of the image's size: 1 on the limbs (the schema's skeleton edges)
and joints of the drawn persons, 0 elsewhere. Line width = max(1, round(``width_frac`` x the person's body
scale)), joint discs have that diameter + 2, so a person twice as large gets twice as thick strokes. Body
scale is the torso length (mid-shoulders to mid-hips), or a third of the joints' bounding-box diagonal when
a shoulder or hip is missing (`posekit.activity.dataset.body_scale`).

With several persons, the map shows two: the person whose joint centroid is closest to the image centre,
and the person farthest from that one (the MPII pipeline's choice: the main actor plus the most distant
context person).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from posekit.skeletons import Schema

WIDTH_FRAC = 0.1


def select_persons(xy: NDArray[np.floating], valid: NDArray[np.bool_], size: tuple[int, int]) -> list[int]:
    """Indices of the persons to draw: [closest to the image centre, farthest from it], or fewer.

    xy: (N, K, 2) pixels; valid: (N, K) bool; size: (height, width). Persons with no valid joint are
    never chosen.
    """
    xy, valid = np.asarray(xy, dtype=np.float64), np.asarray(valid, dtype=bool)
    valid = valid & np.isfinite(xy).all(axis=2)
    have = np.flatnonzero(valid.any(axis=1))
    if len(have) == 0:
        return []
    centroids = np.array([xy[i][valid[i]].mean(axis=0) for i in have])
    centre = np.array([size[1] / 2.0, size[0] / 2.0])
    main = int(np.argmin(np.linalg.norm(centroids - centre, axis=1)))
    if len(have) == 1:
        return [int(have[main])]
    far = int(np.argmax(np.linalg.norm(centroids - centroids[main], axis=1)))
    return [int(have[main]), int(have[far])]


def render_pose_map(xy: NDArray[np.floating], valid: NDArray[np.bool_], schema: Schema, size: tuple[int, int],
                    width_frac: float = WIDTH_FRAC) -> NDArray[np.float32]:
    """(H, W, 1) float32 map in {0, 1} of the persons chosen by `select_persons` (module docstring).

    xy: (N, K, 2) pixels in ``schema`` order; valid: (N, K) bool; size: (height, width) of the map.
    """
    from PIL import Image, ImageDraw

    from posekit.activity.dataset import body_scale
    from posekit.activity.features import canonical_joints

    h, w = size
    img = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(img)
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, schema.num_keypoints, 2)
    valid = np.asarray(valid, dtype=bool).reshape(xy.shape[:2]) & np.isfinite(xy).all(axis=2)
    for i in select_persons(xy, valid, size):
        scale = float(body_scale(canonical_joints(xy[i:i + 1], valid[i:i + 1], schema))[0])
        width = max(1, int(round(width_frac * scale)))
        for a, b in schema.edges:
            if valid[i, a] and valid[i, b]:
                draw.line([tuple(xy[i, a]), tuple(xy[i, b])], fill=255, width=width)
        r = (width + 2) / 2.0
        for x, y in xy[i][valid[i]]:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return (np.asarray(img, dtype=np.float32) / 255.0)[:, :, None]
