"""Person crops and augmentation: ONE affine matrix per sample, applied to the image and the keypoints.

Pure numpy + PIL. Coordinates have pixel centres at integers in the original image and in the crop. The
matrix maps original-image pixels to model-input pixels:

    M = T(crop centre) . S(input / crop side) . R(rotation) . F(flip) . T(-box centre)

A horizontal flip also renames keypoints: after it, keypoint j of the crop is the original keypoint
``schema.flip_permutation()[j]`` (left <-> right).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image


@dataclass(frozen=True)
class AugmentConfig:
    """Random ranges. flip: probability; rotation: +- degrees; scale: zoom-out range on top of the box
    enlargement; enlarge: the person box is enlarged by a factor drawn from this range; brightness: +-
    fraction of 255 added; contrast: +- fraction around 1; noise: Gaussian std as a fraction of 255."""

    flip: float = 0.5
    rotation: float = 30.0
    scale: tuple[float, float] = (0.9, 1.1)
    enlarge: tuple[float, float] = (1.1, 1.5)
    brightness: float = 0.2
    contrast: float = 0.2
    noise: float = 0.02


# Validation / inference crop: the middle of the training enlargement, nothing random.
EVAL_ENLARGE = 1.3
NO_AUGMENT = AugmentConfig(0.0, 0.0, (1.0, 1.0), (EVAL_ENLARGE, EVAL_ENLARGE), 0.0, 0.0, 0.0)


def keypoint_box(xy: NDArray[np.floating], labelled: NDArray[np.bool_]) -> NDArray[np.float32] | None:
    """(4,) x1, y1, x2, y2 around the labelled keypoints (K, 2), or None when none is labelled."""
    pts = np.asarray(xy, np.float32)[np.asarray(labelled, bool)]
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        return None
    return np.concatenate([pts.min(axis=0), pts.max(axis=0)]).astype(np.float32)


def crop_matrix(
    box: NDArray[np.floating],
    input_size: tuple[int, int],
    enlarge: float = EVAL_ENLARGE,
    rotation: float = 0.0,
    flip: bool = False,
) -> NDArray[np.float64]:
    """(3, 3) affine matrix from original-image pixels to input pixels for a person box.

    box: (4,) x1, y1, x2, y2 pixels; input_size: (H, W); enlarge: crop side / box side (the crop keeps the
    input's aspect ratio and covers the box's longer side); rotation in degrees (counter-clockwise in the
    image as seen); flip: mirror horizontally about the box centre.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    h, w = input_size
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    bw, bh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    crop_w = max(bw, bh * w / h) * enlarge
    s = w / crop_w
    a = math.radians(rotation)
    rot = np.array([[math.cos(a), math.sin(a), 0], [-math.sin(a), math.cos(a), 0], [0, 0, 1]])
    fl = np.diag([-1.0 if flip else 1.0, 1.0, 1.0])
    to_origin = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], dtype=np.float64)
    to_crop = np.array([[s, 0, (w - 1) / 2], [0, s, (h - 1) / 2], [0, 0, 1]], dtype=np.float64)
    return to_crop @ rot @ fl @ to_origin


def random_matrix(
    rng: np.random.Generator, box: NDArray[np.floating], input_size: tuple[int, int], cfg: AugmentConfig
) -> tuple[NDArray[np.float64], bool]:
    """A random crop matrix (3, 3) and whether it flips, drawn from cfg."""
    enlarge = rng.uniform(*cfg.enlarge) * rng.uniform(*cfg.scale)
    rotation = rng.uniform(-cfg.rotation, cfg.rotation)
    flip = bool(rng.random() < cfg.flip)
    return crop_matrix(box, input_size, enlarge, rotation, flip), flip


def warp_image(image: Image.Image, matrix: NDArray[np.float64], input_size: tuple[int, int]) -> Image.Image:
    """The crop (H, W) of a PIL image under ``matrix`` (original -> input pixels), bilinear, black outside."""
    inv = np.linalg.inv(matrix)
    a, b, t0 = inv[0]
    c, d, t1 = inv[1]
    # PIL samples with pixel edges at integers: shift by half a pixel on both sides.
    coeffs = (a, b, t0 + 0.5 - 0.5 * (a + b), c, d, t1 + 0.5 - 0.5 * (c + d))
    h, w = input_size
    return image.transform((w, h), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR)


def transform_points(xy: NDArray[np.floating], matrix: NDArray[np.float64]) -> NDArray[np.float32]:
    """(K, 2) points under a (3, 3) affine matrix -> (K, 2) float32."""
    pts = np.asarray(xy, np.float64).reshape(-1, 2)
    return (pts @ matrix[:2, :2].T + matrix[:2, 2]).astype(np.float32)


def photometric(
    rng: np.random.Generator, image: NDArray[np.uint8], cfg: AugmentConfig
) -> NDArray[np.float32]:
    """(H, W, 3) uint8 -> (H, W, 3) float32 in [0, 255] after random contrast, brightness and noise."""
    img = image.astype(np.float32)
    if cfg.contrast > 0:
        alpha = rng.uniform(1 - cfg.contrast, 1 + cfg.contrast)
        img = (img - img.mean()) * alpha + img.mean()
    if cfg.brightness > 0:
        img = img + rng.uniform(-cfg.brightness, cfg.brightness) * 255.0
    if cfg.noise > 0:
        img = img + rng.normal(0.0, cfg.noise * 255.0, img.shape).astype(np.float32)
    return np.clip(img, 0.0, 255.0)
