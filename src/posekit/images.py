"""Reading images into RGB uint8 arrays, whatever the file holds.

Handles EXIF orientation, grayscale, palette, RGBA (composited on white), CMYK and 16-bit images. Very
large JPEGs are decoded at a reduced scale (libjpeg's DCT scaling) instead of being refused; ``Image.scale``
says how to map array pixels back to original-image pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from posekit.errors import PosekitError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
# Decoding more pixels than this is refused (a 16k x 16k PNG needs ~800 MB as RGB); JPEGs are reduced instead.
MAX_DECODED_PIXELS = 16384 * 16384
# JPEGs larger than this on their longer side are decoded at 1/2, 1/4 or 1/8 scale (no pose model needs more).
MAX_SIDE = 4096


@dataclass(frozen=True)
class Image:
    """rgb: (H, W, 3) uint8; scale: original pixels per array pixel; size: original (width, height)."""

    rgb: NDArray[np.uint8]
    scale: float
    size: tuple[int, int]
    path: Path | None = None


def _to_rgb(img) -> NDArray[np.uint8]:
    from PIL import Image as PILImage

    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img)
        if mode == "I":
            hi = float(arr.max()) if arr.size else 0.0
            arr = arr.astype(np.float64) * (255.0 / hi if hi > 255 else 1.0)
        else:
            arr = arr.astype(np.float64) / 257.0
        gray = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)
        gray = np.clip(np.rint((arr - lo) / max(hi - lo, 1e-12) * 255), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(PILImage.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(img.convert("RGB"))


def read_image(path: str | Path, min_side: int | None = None) -> Image:
    """Decode ``path`` into an RGB uint8 array in display orientation (EXIF applied).

    ``min_side``: the caller needs the longer side to be at least this many pixels (a model's input size);
    JPEGs are then decoded at the smallest DCT scale (1/2, 1/4, 1/8) that still gives it, which is several
    times faster than a full decode followed by a resize. ``Image.scale`` maps back to original pixels.
    """
    path = Path(path)
    if not path.exists():
        raise PosekitError(f"{path}: no such file")
    if path.is_dir():
        raise PosekitError(f"{path}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise PosekitError(f"{path}: empty file; pass a JPEG or PNG image")
    return _decode(path, str(path), min_side, path)


def decode_image(data: bytes, min_side: int | None = None, label: str = "upload") -> Image:
    """``read_image`` for image bytes (an upload, a streamed frame): the same decoding; errors name
    ``label``."""
    import io

    if not data:
        raise PosekitError(f"{label}: empty (0 bytes); send a JPEG or PNG image")
    return _decode(io.BytesIO(data), label, min_side, None)


def _decode(source, label: str, min_side: int | None, path: Path | None) -> Image:
    from PIL import Image as PILImage
    from PIL import ImageOps, UnidentifiedImageError

    try:
        PILImage.MAX_IMAGE_PIXELS = None  # we apply our own limit below
        with PILImage.open(source) as img:
            width, height = img.size
            side = max(width, height)
            target = min(side, MAX_SIDE, min_side or side)
            if img.format == "JPEG" and target < side:
                img.draft("RGB", (-(-width * target // side), -(-height * target // side)))
            elif width * height > MAX_DECODED_PIXELS:
                raise PosekitError(
                    f"{label}: image too large ({width}x{height} pixels, limit {MAX_DECODED_PIXELS} for "
                    f"{img.format}); downscale it first or save it as JPEG"
                )
            scale = width / img.size[0]
            # (PNG's getexif may decode the whole image, so it comes after the size check.)
            orientation = img.getexif().get(0x0112, 1)
            full = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
            img.load()
            if orientation != 1:
                img = ImageOps.exif_transpose(img)
            rgb = np.asarray(img) if img.mode == "RGB" else _to_rgb(img)
    except PosekitError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise PosekitError(f"{label}: not a readable image ({err}); pass a JPEG or PNG image") from None
    return Image(rgb, scale, full, path)


def find_images(inputs: list[str | Path]) -> list[Path]:
    """Files named directly (any suffix, so bad ones get reported) and images found in folders, sorted."""
    found: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found.extend(sorted(q for q in p.rglob("*")
                                if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES))
        else:
            found.append(p)
    return found
