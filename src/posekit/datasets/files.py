"""Small file chores the loaders share: image sizes from headers, image folders, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from posekit.atomic import write_atomic

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def image_size(path: Path | None) -> tuple[int, int] | None:
    """(width, height) in pixels read from the image header (pixels are not decoded).

    None when the file does not exist or is not a readable image.
    """
    if path is None or not path.is_file():
        return None
    from PIL import Image

    try:
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except (OSError, ValueError):
        return None


def default_images_dir(annotation_path: Path) -> Path:
    """``<folder>/images`` when it exists beside the annotation file, else the annotation's folder."""
    folder = annotation_path if annotation_path.is_dir() else annotation_path.parent
    return folder / "images" if (folder / "images").is_dir() else folder


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (``posekit.atomic.write_atomic``)."""
    write_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    """JSON-dump ``data`` to ``path`` atomically (compact separators: datasets get large)."""
    write_text_atomic(path, json.dumps(data, separators=(",", ":")))


def read_json(path: Path) -> Any:
    """Parse a JSON file; a missing or malformed file raises PosekitError naming it."""
    from posekit.errors import PosekitError

    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise PosekitError(f"{path}: no such file; check the path") from None
    except IsADirectoryError:
        raise PosekitError(f"{path}: a folder, not a JSON file; name the annotation file in it "
                           "(e.g. annotations/person_keypoints_val2017.json)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PosekitError(f"{path}: not valid JSON ({err}); fix or re-export the file") from None
