"""Reading every kind of image file, and refusing bad ones with a one-line error naming the file."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image as PILImage

from posekit.errors import PosekitError
from posekit.images import find_images, read_image


def _rgb(h=40, w=60):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_png_round_trip_is_exact(tmp_path):
    arr = _rgb()
    PILImage.fromarray(arr).save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    assert img.rgb.dtype == np.uint8 and img.rgb.shape == (40, 60, 3)
    np.testing.assert_array_equal(img.rgb, arr)
    assert img.scale == 1.0 and img.size == (60, 40)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = _rgb()[:, :, 0]
    PILImage.fromarray(gray, mode="L").save(tmp_path / "g.png")
    rgb = read_image(tmp_path / "g.png").rgb
    assert rgb.shape == (40, 60, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[:, :, c], gray)


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    arr = np.full((10, 12), 65535, np.uint16)
    arr[0, 0] = 0
    arr[0, 1] = 257 * 100
    PILImage.fromarray(arr).save(tmp_path / "d.png")
    rgb = read_image(tmp_path / "d.png").rgb
    assert rgb[5, 5].tolist() == [255, 255, 255]
    assert rgb[0, 0].tolist() == [0, 0, 0]
    assert rgb[0, 1].tolist() == [100, 100, 100]


def test_rgba_is_composited_on_white(tmp_path):
    arr = np.zeros((4, 4, 4), np.uint8)
    arr[..., 0] = 200
    arr[0, 0, 3] = 255  # opaque red-ish pixel
    arr[1, 1, 3] = 0  # fully transparent
    PILImage.fromarray(arr, mode="RGBA").save(tmp_path / "t.png")
    rgb = read_image(tmp_path / "t.png").rgb
    assert rgb[0, 0].tolist() == [200, 0, 0]
    assert rgb[1, 1].tolist() == [255, 255, 255]


def test_exif_rotation_is_applied(tmp_path):
    arr = np.zeros((20, 30, 3), np.uint8)
    arr[0, 0] = [255, 0, 0]  # a red pixel at the stored top-left
    img = PILImage.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 CW to display
    img.save(tmp_path / "r.jpg", exif=exif, quality=100, subsampling=0)
    out = read_image(tmp_path / "r.jpg")
    assert out.rgb.shape == (30, 20, 3)
    assert out.size == (20, 30)
    # after a 90-degree clockwise turn the stored top-left lands at the top-right
    assert out.rgb[0, -1, 0] > 150 and out.rgb[0, 0, 0] < 60


def test_large_jpeg_is_decoded_reduced_with_its_scale(tmp_path):
    PILImage.new("RGB", (8200, 4100), (10, 120, 30)).save(tmp_path / "big.jpg", quality=50)
    img = read_image(tmp_path / "big.jpg")
    assert img.size == (8200, 4100)
    assert max(img.rgb.shape[:2]) <= 4100 and img.rgb.shape[1] == 8200 / img.scale
    assert img.scale == 2.0


def _png_header_only(path, w, h):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10))
                     + chunk(b"IEND", b""))


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("empty.jpg", b"", "empty file"),
        ("text.jpg", b"this is not an image at all", "not a readable image"),
        ("trunc.png", b"\x89PNG\r\n\x1a\n\0\0", "not a readable image"),
        ("huge.png", None, "image too large (20000x20000"),
        ("missing.png", "MISSING", "no such file"),
    ],
)
def test_bad_files_give_one_line_errors_naming_the_file(tmp_path, name, content, expected):
    path = tmp_path / name
    if content is None:
        _png_header_only(path, 20000, 20000)
    elif content != "MISSING":
        path.write_bytes(content)
    with pytest.raises(PosekitError) as err:
        read_image(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and expected in msg and "\n" not in msg


def test_find_images_searches_folders_and_keeps_named_files(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for rel in ("d/b.jpg", "d/sub/a.PNG", "d/notes.txt"):
        (tmp_path / rel).write_bytes(b"x")
    named = tmp_path / "odd.dat"
    named.write_bytes(b"x")
    found = find_images([tmp_path / "d", named])
    assert found == [tmp_path / "d/b.jpg", tmp_path / "d/sub/a.PNG", named]
