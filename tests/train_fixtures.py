"""Generated pose data with learnable keypoints: coloured blobs whose centres are the keypoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from posekit.datasets.sample import Person, Sample
from posekit.skeletons import Schema

# Three keypoints, no left/right pairs (a flip must not rename a colour).
BLOBS3 = Schema("blobs3", ("red_dot", "green_dot", "blue_dot"), ((0, 1), (1, 2)), ())
BLOB_COLOURS = ((255, 40, 40), (40, 255, 40), (60, 60, 255))


def blob_samples(folder: Path, n: int, seed: int = 0, size: int = 48, radius: int = 4) -> list[Sample]:
    """n images (size x size PNG, noisy grey background), three coloured discs centred on the keypoints."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        bg = rng.integers(60, 120, (size, size, 3), dtype=np.uint8)
        img = Image.fromarray(bg)
        draw = ImageDraw.Draw(img)
        xy = rng.uniform(8, size - 9, (3, 2)).round().astype(np.float32)
        for (x, y), c in zip(xy, BLOB_COLOURS, strict=True):
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=c)
        path = folder / f"blob{i:04d}.png"
        img.save(path)
        person = Person(xy, np.full(3, 2, np.int8), box=np.array([0, 0, size - 1, size - 1], np.float32))
        samples.append(Sample(path, size, size, BLOBS3, [person], image_id=i))
    return samples
