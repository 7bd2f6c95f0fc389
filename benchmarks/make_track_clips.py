"""Pose-tracking clips whose ground truth is known exactly, built from real labelled photos.

    .venv/bin/python benchmarks/make_track_clips.py --out /tmp/posekit-clips [--seed 0] [--fps 30]
        [--seconds 4] [--size 640x480] [--bitrate 1500k] [--motion 6] [--crossing 4] [--data ../shared/data]

Two kinds of clip, each an H.264 MP4 (yuv420p) with a PoseTrack18-style ``<clip>.json`` beside it:

- ``motion``: one real photo with 1-3 people, all labelled (>= 6 keypoints, no crowd), moved by a
  smooth affine per frame (sinusoidal pan, zoom, small rotation, an eased dolly, or all of them), warped
  with bicubic resampling into the fixed frame. The GT keypoints go through the same affine; those that
  leave the frame get v=0. Sources: COCO ``coco-mini-train``, ``mmpose-tests/coco`` and YOLO
  ``coco8-pose``.
- ``crossing``: two people cut from ``coco-mini-train`` photos with their COCO segmentation polygons
  (antialiased alpha) walk past each other over a real photo without people (lightly blurred); one is
  in front (``depth_order`` 0) and hides the other. A back-person keypoint inside the front person's mask
  (alpha >= 0.5 at its pixel) gets v=0.

Coordinates are continuous pixel coordinates (pixel (i, j) covers [i, i+1) x [j, j+1)), the convention of
Pillow's warps, so a point and the pixels drawn around it move together. Per annotation: ``bbox`` = the
box of the person's outline (segmentation polygons, else its source box) under the frame's affine, clipped
to the frame (a back person's box is the whole person, hidden parts included); ``area`` = the source
area (COCO segment area; YOLO: box area, which makes OKS more lenient there) x the affine's area scale.
A person wholly outside the frame has no annotation in that frame. Track ids are 1, 2, 3 per clip.

The GT JSON and ``clips.json`` are byte-identical for a seed; the MP4 bytes depend on the x264 build.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter

from posekit.atomic import write_atomic
from posekit.skeletons import COCO17

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
COCO_MINI = Path("coco-mini-train/annotations/person_keypoints_train2017.json")
MMPOSE_COCO = Path("mmpose-tests/coco/test_coco.json")
COCO8 = Path("coco8-pose")
MOTION_KINDS = ("pan", "zoom", "rotate", "dolly", "mix")
HIDE_ALPHA = 128  # front-person alpha (0..255) at or above which a back keypoint is hidden


# ----------------------------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class SourcePerson:
    """A labelled person in a photo. keypoints: (17, 3) x, y px and COCO v; area: px^2 (OKS area);
    outline: (M, 2) px points whose box is the person's box; polygons: segmentation, px (None: no mask)."""

    keypoints: NDArray[np.float64]
    area: float
    outline: NDArray[np.float64]
    polygons: tuple[NDArray[np.float64], ...] | None = None
    ref: str = ""


@dataclass(frozen=True)
class SourcePhoto:
    """A photo and its people; ``ref`` names it (dataset:image id) in clips.json."""

    path: Path | None
    people: tuple[SourcePerson, ...]
    ref: str
    image: Image.Image | None = field(default=None, compare=False, repr=False)

    def load(self) -> Image.Image:
        return self.image if self.image is not None else Image.open(self.path).convert("RGB")


def _coco_person(ann: dict, ref: str) -> SourcePerson:
    kp = np.asarray(ann["keypoints"], np.float64).reshape(17, 3)
    x, y, w, h = ann["bbox"]
    polys = None
    if isinstance(ann.get("segmentation"), list) and ann["segmentation"]:
        polys = tuple(np.asarray(p, np.float64).reshape(-1, 2) for p in ann["segmentation"] if len(p) >= 6)
    outline = np.concatenate(polys) if polys else np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]])
    return SourcePerson(kp, float(ann["area"]), outline, polys, f"{ref}:{ann['id']}")


def _clean_photo(anns: list[dict], min_keypoints: int = 6, min_area: float = 4000.0) -> bool:
    """1-3 people, no crowd, every person labelled well enough to be worth tracking."""
    return 1 <= len(anns) <= 3 and all(
        not a.get("iscrowd") and a["num_keypoints"] >= min_keypoints and a["area"] >= min_area for a in anns)


def coco_photos(json_path: Path, images_dir: Path, dataset: str) -> tuple[list[SourcePhoto], dict]:
    """Motion-clip photos of a COCO keypoints file (see :func:`_clean_photo`) and the raw JSON."""
    data = json.loads(json_path.read_text(encoding="utf-8"))
    by_image: dict[int, list[dict]] = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    photos = []
    for img in sorted(data["images"], key=lambda i: i["id"]):
        anns = sorted(by_image.get(img["id"], []), key=lambda a: a["id"])
        if _clean_photo(anns):
            ref = f"{dataset}:{img['id']}"
            photos.append(SourcePhoto(images_dir / img["file_name"],
                                      tuple(_coco_person(a, ref) for a in anns), ref))
    return photos, data


def yolo_photos(root: Path) -> list[SourcePhoto]:
    """Motion-clip photos of a YOLO-pose folder (area = box area: YOLO has no segments)."""
    from posekit.datasets.yolo import load_yolo

    photos = []
    for s in sorted(load_yolo(root), key=lambda s: str(s.image_path)):
        anns = [{"num_keypoints": int((p.visibility > 0).sum()), "area": float(p.area)} for p in s.persons]
        if not s.persons or not _clean_photo(anns):
            continue
        people = []
        for n, p in enumerate(s.persons):
            x1, y1, x2, y2 = (float(v) for v in p.box)
            kp = np.c_[np.where(p.visibility[:, None] > 0, p.keypoints, 0.0), p.visibility]
            people.append(SourcePerson(kp.astype(np.float64), float(p.area),
                                       np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]]),
                                       ref=f"coco8-pose:{s.image_id}:{n}"))
        photos.append(SourcePhoto(Path(s.image_path), tuple(people), f"coco8-pose:{s.image_id}"))
    return photos


def cutout_people(data: dict, images_dir: Path, min_keypoints: int = 12, min_area: float = 8000.0,
                  min_height: float = 100.0) -> list[tuple[SourcePhoto, SourcePerson]]:
    """People of a COCO file worth cutting out: polygon mask, >= 12 keypoints, big enough to enlarge."""
    files = {img["id"]: img["file_name"] for img in data["images"]}
    out = []
    for ann in sorted(data["annotations"], key=lambda a: a["id"]):
        if ann.get("iscrowd") or ann["num_keypoints"] < min_keypoints or ann["area"] < min_area \
                or ann["bbox"][3] < min_height or not isinstance(ann.get("segmentation"), list):
            continue
        ref = f"coco-mini-train:{ann['image_id']}"
        person = _coco_person(ann, ref)
        out.append((SourcePhoto(images_dir / files[ann["image_id"]], (person,), ref), person))
    return out


def backgrounds(data: dict, images_dir: Path) -> list[SourcePhoto]:
    """Photos of a COCO person file with no person annotation at all (COCO labels every person)."""
    used = {a["image_id"] for a in data["annotations"]}
    return [SourcePhoto(images_dir / img["file_name"], (), f"coco-mini-train:{img['id']}")
            for img in sorted(data["images"], key=lambda i: i["id"]) if img["id"] not in used]


# ------------------------------------------------------------------------------------------------ motion
@dataclass(frozen=True)
class Motion:
    """A smooth camera motion. Per time t (s) of a clip lasting ``duration`` s:

    offset = (pan_x sin(2 pi f_x t + ph_x), pan_y sin(2 pi f_y t + ph_y)) + dolly (2 e(t) - 1) px,
    zoom = 1 + zoom_amp (1 - cos(2 pi f_z t)) / 2 + dolly_zoom e(t), angle = angle_deg sin(2 pi f_a t + ph_a),
    with e(t) = smoothstep(t / duration). The photo's anchor goes to the frame centre + offset.
    """

    kind: str
    pan: tuple[float, float] = (0.0, 0.0)
    pan_freq: tuple[float, float] = (0.0, 0.0)
    pan_phase: tuple[float, float] = (0.0, 0.0)
    zoom_amp: float = 0.0
    zoom_freq: float = 0.0
    angle_deg: float = 0.0
    angle_freq: float = 0.0
    angle_phase: float = 0.0
    dolly: tuple[float, float] = (0.0, 0.0)
    dolly_zoom: float = 0.0

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else [round(x, 4) for x in v] if isinstance(v, tuple)
                    else v) for k, v in self.__dict__.items()}


def random_motion(kind: str, rng: np.random.Generator) -> Motion:
    """Motion parameters for a kind, drawn from ``rng`` (amplitudes in px, frequencies in Hz)."""
    u = rng.uniform
    pan = dict(pan=(u(25, 55), u(8, 25)), pan_freq=(u(0.2, 0.5), u(0.2, 0.5)),
               pan_phase=(u(0, 2 * math.pi), u(0, 2 * math.pi)))
    zoom = dict(zoom_amp=u(0.15, 0.35), zoom_freq=u(0.25, 0.5))
    rotate = dict(angle_deg=float(rng.choice([-1, 1]) * u(4, 8)), angle_freq=u(0.2, 0.45),
                  angle_phase=u(0, 2 * math.pi))
    dolly = dict(dolly=(float(rng.choice([-1, 1]) * u(30, 55)), u(-12, 12)), dolly_zoom=u(0.1, 0.25))
    small_pan = dict(pan=(u(5, 15), u(3, 8)), pan_freq=(u(0.2, 0.4), u(0.2, 0.4)),
                     pan_phase=(u(0, 2 * math.pi), u(0, 2 * math.pi)))
    parts = {"pan": pan, "zoom": {**zoom, **small_pan}, "rotate": {**rotate, "zoom_amp": 0.0},
             "dolly": dolly, "mix": {**pan, **zoom, **rotate}}[kind]
    return Motion(kind, **{k: tuple(float(x) for x in v) if isinstance(v, tuple) else float(v)
                           for k, v in parts.items()})


def _smoothstep(x: NDArray[np.float64]) -> NDArray[np.float64]:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def motion_matrices(motion: Motion, times: NDArray[np.floating], duration: float, anchor: tuple[float, float],
                    base_scale: float, frame_size: tuple[int, int]) -> NDArray[np.float64]:
    """(T, 3, 3) affines photo px -> frame px: T(centre + offset) R(angle) S(base_scale zoom) T(-anchor)."""
    t = np.asarray(times, np.float64)
    m = motion
    e = _smoothstep(t / duration)
    ox = m.pan[0] * np.sin(2 * np.pi * m.pan_freq[0] * t + m.pan_phase[0]) + m.dolly[0] * (2 * e - 1)
    oy = m.pan[1] * np.sin(2 * np.pi * m.pan_freq[1] * t + m.pan_phase[1]) + m.dolly[1] * (2 * e - 1)
    zoom = 1 + m.zoom_amp * (1 - np.cos(2 * np.pi * m.zoom_freq * t)) / 2 + m.dolly_zoom * e
    ang = np.deg2rad(m.angle_deg * np.sin(2 * np.pi * m.angle_freq * t + m.angle_phase))
    s = base_scale * zoom
    c, n = np.cos(ang) * s, np.sin(ang) * s
    w, h = frame_size
    out = np.zeros((len(t), 3, 3))
    out[:, 0, 0], out[:, 0, 1], out[:, 1, 0], out[:, 1, 1] = c, -n, n, c
    out[:, 0, 2] = w / 2 + ox - (c * anchor[0] - n * anchor[1])
    out[:, 1, 2] = h / 2 + oy - (n * anchor[0] + c * anchor[1])
    out[:, 2, 2] = 1
    return out


def apply_affine(matrix: NDArray[np.float64], xy: NDArray[np.floating]) -> NDArray[np.float64]:
    """Points (..., 2) px through one (3, 3) affine."""
    xy = np.asarray(xy, np.float64)
    return xy @ matrix[:2, :2].T + matrix[:2, 2]


def warp(image: Image.Image, matrix: NDArray[np.float64], size: tuple[int, int],
         origin: tuple[int, int] = (0, 0)) -> Image.Image:
    """``image`` through the affine ``matrix`` (source px -> frame px), bicubic, as the frame region of
    ``size`` whose top-left is ``origin``. Pillow samples continuous coordinates (pixel centres at +0.5)."""
    shift = np.array([[1, 0, origin[0]], [0, 1, origin[1]], [0, 0, 1]], np.float64)
    inv = np.linalg.inv(matrix) @ shift
    return image.transform(size, Image.Transform.AFFINE, tuple(inv[:2].ravel()), Image.Resampling.BICUBIC)


# ------------------------------------------------------------------------------------------ annotations
def annotate(person: SourcePerson, matrix: NDArray[np.float64], frame_size: tuple[int, int],
             hidden: NDArray[np.bool_] | None = None) -> dict | None:
    """The GT annotation of a person under one frame's affine (no ids); None when wholly outside."""
    w, h = frame_size
    xy = apply_affine(matrix, person.keypoints[:, :2])
    v = person.keypoints[:, 2].astype(int)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    v = np.where(inside & (v > 0), v, 0)
    if hidden is not None:
        v = np.where(hidden, 0, v)
    box = apply_affine(matrix, person.outline)
    x1, y1 = np.clip(box.min(axis=0), 0, (w, h))
    x2, y2 = np.clip(box.max(axis=0), 0, (w, h))
    if x2 <= x1 or y2 <= y1:
        return None
    kps = []
    for (x, y), vis in zip(xy.tolist(), v.tolist(), strict=True):
        kps += [round(x, 3), round(y, 3), vis] if vis else [0, 0, 0]
    scale = abs(float(np.linalg.det(matrix[:2, :2])))
    return {"category_id": 1, "keypoints": kps, "num_keypoints": int((v > 0).sum()),
            "bbox": [round(float(v), 3) for v in (x1, y1, x2 - x1, y2 - y1)],
            "area": round(person.area * scale, 2), "iscrowd": 0}


def gt_document(name: str, clip_no: int, n_frames: int, fps: int, frame_size: tuple[int, int],
                per_frame: list[list[dict]]) -> dict:
    """PoseTrack18-style GT: images (one per frame), annotations (with track_id), the COCO-17 category.

    per_frame: for each frame, annotation dicts carrying track_id (ids are assigned here: image id =
    (clip_no + 1) * 100000 + frame, annotation ids unique across clips as well).
    """
    images, anns = [], []
    base = (clip_no + 1) * 100000
    for f in range(n_frames):
        images.append({"id": base + f, "file_name": f"{name}/{f:06d}.jpg", "frame_id": f, "vid_id": name,
                       "nframes": n_frames, "is_labeled": True, "time": round(f / fps, 6),
                       "width": frame_size[0], "height": frame_size[1]})
        for ann in per_frame[f]:
            anns.append({"id": base * 10 + len(anns) + 1, "image_id": base + f, **ann})
    category = {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO17.keypoints),
                "skeleton": [[a + 1, b + 1] for a, b in COCO17.edges]}
    return {"images": images, "annotations": anns, "categories": [category]}


# ------------------------------------------------------------------------------------------------ clips
@dataclass
class Clip:
    """A built clip: RGB frames (T, H, W, 3) uint8, its GT document and its clips.json entry."""

    name: str
    frames: NDArray[np.uint8]
    gt: dict
    info: dict


def _cover_scale(photo_size: tuple[int, int], frame_size: tuple[int, int]) -> float:
    return max(frame_size[0] / photo_size[0], frame_size[1] / photo_size[1])


def framing(photo_size: tuple[int, int], people_box: NDArray[np.float64], frame_size: tuple[int, int],
            fill: float = 0.7) -> tuple[float, tuple[float, float]]:
    """Scale and anchor (photo px) that show the people at rest: the people's box (2, 2) fills ``fill`` of
    the frame, within [whole photo visible, 1.1 x photo covers frame]; the anchor is the box centre, moved
    so the photo covers the frame where it can, else the photo's centre on that axis."""
    size, frame = np.asarray(photo_size, np.float64), np.asarray(frame_size, np.float64)
    contain, cover = float((frame / size).min()), float((frame / size).max())
    fit = fill * float((frame / np.maximum(people_box[1] - people_box[0], 1.0)).min())
    base = min(max(fit, contain), 1.1 * cover)
    half = frame / (2 * base)
    centre = people_box.mean(axis=0)
    anchor = np.where(size >= 2 * half, np.clip(centre, half, size - half), size / 2)
    return base, (float(anchor[0]), float(anchor[1]))


def motion_clip(name: str, clip_no: int, photo: SourcePhoto, motion: Motion, frame_size: tuple[int, int],
                fps: int, n_frames: int) -> Clip:
    """A photo moved by ``motion`` about the anchor chosen by :func:`framing`. A photo that would be
    shrunk is first resized with Lanczos (antialiased) so that the per-frame bicubic warp only magnifies."""
    image = photo.load()
    pts = np.concatenate([p.outline for p in photo.people])
    box = np.array([pts.min(axis=0), pts.max(axis=0)])
    base, anchor = framing(image.size, box, frame_size)
    pre = np.eye(3)
    if base < 1.0:  # Pillow's resize maps continuous coordinates by the size ratio exactly
        small = (max(1, round(image.size[0] * base)), max(1, round(image.size[1] * base)))
        pre = np.diag([small[0] / image.size[0], small[1] / image.size[1], 1.0])
        image = image.resize(small, Image.Resampling.LANCZOS)
        base, anchor = base / pre[0, 0], (anchor[0] * pre[0, 0], anchor[1] * pre[1, 1])
    times = np.arange(n_frames) / fps
    mats = motion_matrices(motion, times, n_frames / fps, anchor, base, frame_size) @ pre
    frames = np.zeros((n_frames, frame_size[1], frame_size[0], 3), np.uint8)
    per_frame: list[list[dict]] = []
    for f, m in enumerate(mats):
        frames[f] = np.asarray(warp(image, m @ np.linalg.inv(pre), frame_size))
        anns = []
        for tid, person in enumerate(photo.people, start=1):
            ann = annotate(person, m, frame_size)
            if ann is not None:
                anns.append({"track_id": tid, **ann})
        per_frame.append(anns)
    info = {"name": name, "kind": "motion", "motion": motion.as_dict(), "people": len(photo.people),
            "frames": n_frames, "fps": fps, "sources": [photo.ref], "persons": [p.ref for p in photo.people]}
    return Clip(name, frames, gt_document(name, clip_no, n_frames, fps, frame_size, per_frame), info)


@dataclass(frozen=True)
class Cutout:
    """A person cut from a photo: premultiplied RGBa crop, its origin in the photo, the person."""

    image: Image.Image
    origin: tuple[int, int]
    person: SourcePerson


def cut_person(image: Image.Image, person: SourcePerson, supersample: int = 4) -> Cutout:
    """Crop around the person's polygons with an antialiased alpha mask (polygons rasterised at 4x, then
    box-filtered down); a person without polygons is cut as its box."""
    pts = person.outline
    x0, y0 = (max(0, int(math.floor(v)) - 2) for v in pts.min(axis=0))
    x1 = min(image.size[0], int(math.ceil(pts[:, 0].max())) + 2)
    y1 = min(image.size[1], int(math.ceil(pts[:, 1].max())) + 2)
    size = (x1 - x0, y1 - y0)
    mask = Image.new("L", (size[0] * supersample, size[1] * supersample), 0)
    draw = ImageDraw.Draw(mask)
    (bx0, by0), (bx1, by1) = pts.min(axis=0), pts.max(axis=0)
    polys = person.polygons or (np.array([[bx0, by0], [bx1, by0], [bx1, by1], [bx0, by1]]),)
    for poly in polys:
        draw.polygon([tuple(p) for p in ((poly - (x0, y0)) * supersample).tolist()], fill=255)
    rgba = image.crop((x0, y0, x1, y1)).convert("RGBA")
    rgba.putalpha(mask.resize(size, Image.Resampling.BOX))
    return Cutout(rgba.convert("RGBa"), (x0, y0), person)


def _layer(cut: Cutout, matrix: NDArray[np.float64], frame_size: tuple[int, int]) -> tuple[
        NDArray[np.float64], NDArray[np.float64], tuple[int, int]]:
    """The warped cutout over its frame region: premultiplied RGB (h, w, 3) and alpha (h, w) in 0..1,
    and the region's top-left (x, y). Matrix maps photo px -> frame px."""
    local = matrix @ np.array([[1, 0, cut.origin[0]], [0, 1, cut.origin[1]], [0, 0, 1]], np.float64)
    w, h = cut.image.size
    corners = apply_affine(local, np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64))
    x0, y0 = (max(0, int(math.floor(v)) - 2) for v in corners.min(axis=0))
    x1 = min(frame_size[0], int(math.ceil(corners[:, 0].max())) + 2)
    y1 = min(frame_size[1], int(math.ceil(corners[:, 1].max())) + 2)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0, 3)), np.zeros((0, 0)), (0, 0)
    arr = np.asarray(warp(cut.image, local, (x1 - x0, y1 - y0), (x0, y0)), np.float32) / np.float32(255.0)
    return arr[..., :3], arr[..., 3], (x0, y0)


@dataclass(frozen=True)
class Walk:
    """A person's path: scale (person px per source px), foot point x(t) = x_cross + speed (t - t_cross)
    px, y(t) = foot_y + bob sin(2 pi bob_freq t + bob_phase) px."""

    scale: float
    x_cross: float
    t_cross: float
    speed: float
    foot_y: float
    bob: float = 0.0
    bob_freq: float = 0.0
    bob_phase: float = 0.0

    def matrices(self, person: SourcePerson, times: NDArray[np.float64]) -> NDArray[np.float64]:
        """(T, 3, 3): the source person's foot point (box bottom centre) to the path's point, scaled."""
        pts = person.outline
        foot = ((pts[:, 0].min() + pts[:, 0].max()) / 2, pts[:, 1].max())
        x = self.x_cross + self.speed * (times - self.t_cross)
        y = self.foot_y + self.bob * np.sin(2 * np.pi * self.bob_freq * times + self.bob_phase)
        out = np.zeros((len(times), 3, 3))
        out[:, 0, 0] = out[:, 1, 1] = self.scale
        out[:, 0, 2] = x - self.scale * foot[0]
        out[:, 1, 2] = y - self.scale * foot[1]
        out[:, 2, 2] = 1
        return out

    def as_dict(self) -> dict:
        return {k: round(float(v), 4) for k, v in self.__dict__.items()}


def random_walks(front: SourcePerson, back: SourcePerson, frame_size: tuple[int, int], duration: float,
                 rng: np.random.Generator) -> tuple[Walk, Walk]:
    """Front and back paths that cross near mid-clip, both people inside the frame throughout."""
    w, h = frame_size
    u = rng.uniform
    t_cross = duration / 2 + u(-0.1, 0.1) * duration
    reach = 0.36 * w / max(t_cross, duration - t_cross)
    sign = float(rng.choice([-1, 1]))
    front_h = h * u(0.5, 0.62)
    back_h = front_h * u(0.8, 0.9)
    foot_f = h * u(0.93, 0.98)
    foot_b = foot_f - h * u(0.04, 0.09)

    def height(p: SourcePerson) -> float:
        return float(np.ptp(p.outline[:, 1]))

    walk_f = Walk(min(3.0, front_h / height(front)), w / 2 + u(-10, 10), t_cross, sign * reach * u(0.75, 1.0),
                  foot_f, u(1.5, 3.5), u(1.2, 2.0), u(0, 2 * math.pi))
    walk_b = Walk(min(3.0, back_h / height(back)), w / 2 + u(-10, 10), t_cross, -sign * reach * u(0.75, 1.0),
                  foot_b, u(1.5, 3.5), u(1.2, 2.0), u(0, 2 * math.pi))
    return walk_f, walk_b


def background_frame(photo: Image.Image, frame_size: tuple[int, int], blur: float) -> NDArray[np.float64]:
    """The photo scaled (Lanczos) to cover the frame, centre-cropped, Gaussian-blurred; (H, W, 3) in 0..1."""
    s = _cover_scale(photo.size, frame_size)
    size = (max(frame_size[0], round(photo.size[0] * s)), max(frame_size[1], round(photo.size[1] * s)))
    img = photo.resize(size, Image.Resampling.LANCZOS)
    x0, y0 = (size[0] - frame_size[0]) // 2, (size[1] - frame_size[1]) // 2
    img = img.crop((x0, y0, x0 + frame_size[0], y0 + frame_size[1]))
    if blur > 0:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    return np.asarray(img, np.float32) / np.float32(255.0)


def crossing_clip(name: str, clip_no: int, background: NDArray[np.float64], front: Cutout, back: Cutout,
                  walks: tuple[Walk, Walk], fps: int, n_frames: int, refs: dict | None = None) -> Clip:
    """Two people walking across each other over ``background`` (H, W, 3) in 0..1; track 1 = front."""
    frame_size = (background.shape[1], background.shape[0])
    times = np.arange(n_frames) / fps
    mats = [walks[0].matrices(front.person, times), walks[1].matrices(back.person, times)]
    frames = np.zeros((n_frames, frame_size[1], frame_size[0], 3), np.uint8)
    per_frame: list[list[dict]] = []
    for f in range(n_frames):
        canvas = background.copy()
        front_alpha = np.zeros(canvas.shape[:2], np.float32)
        for depth, cut in ((1, back), (0, front)):
            rgb, alpha, (x, y) = _layer(cut, mats[depth][f], frame_size)
            region = canvas[y:y + alpha.shape[0], x:x + alpha.shape[1]]
            region[:] = rgb + region * (1 - alpha[..., None])
            if depth == 0:
                front_alpha[y:y + alpha.shape[0], x:x + alpha.shape[1]] = alpha
        frames[f] = np.clip(np.round(canvas * 255), 0, 255).astype(np.uint8)
        anns = []
        for depth, cut in ((0, front), (1, back)):
            hidden = None
            if depth == 1:
                xy = apply_affine(mats[1][f], cut.person.keypoints[:, :2])
                ix = np.clip(np.floor(xy).astype(int), 0, (frame_size[0] - 1, frame_size[1] - 1))
                hidden = np.round(front_alpha[ix[:, 1], ix[:, 0]] * 255) >= HIDE_ALPHA
            ann = annotate(cut.person, mats[depth][f], frame_size, hidden)
            if ann is not None:
                anns.append({"track_id": depth + 1, **ann, "depth_order": depth})
        per_frame.append(anns)
    info = {"name": name, "kind": "crossing", "people": 2, "frames": n_frames, "fps": fps,
            **(refs or {}), "walks": [walks[0].as_dict(), walks[1].as_dict()]}
    return Clip(name, frames, gt_document(name, clip_no, n_frames, fps, frame_size, per_frame), info)


# ----------------------------------------------------------------------------------------------- output
def encode_mp4(frames: NDArray[np.uint8], fps: int, bitrate: int, preset: str = "veryfast") -> bytes:
    """H.264 (libx264, yuv420p) MP4 of RGB frames (T, H, W, 3); frame i at pts i / fps."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = bitrate
        stream.options = {"preset": preset}
        stream.codec_context.time_base = Fraction(1, fps)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


def gt_bytes(gt: dict) -> bytes:
    return (json.dumps(gt, separators=(",", ":")) + "\n").encode()


def write_clip(out: Path, clip: Clip, bitrate: int, preset: str = "veryfast") -> None:
    """``out/<name>.mp4`` and ``out/<name>.json``, each written atomically."""
    write_atomic(out / f"{clip.name}.mp4", encode_mp4(clip.frames, clip.info["fps"], bitrate, preset))
    write_atomic(out / f"{clip.name}.json", gt_bytes(clip.gt))


# ------------------------------------------------------------------------------------------------ a set
def plan_clips(data: Path, seed: int, frame_size: tuple[int, int], fps: int, n_frames: int, n_motion: int,
               n_crossing: int):
    """Yield the set's clips one by one (built lazily, so that only one clip's frames are in memory)."""
    rng = np.random.default_rng(seed)
    mini, mini_data = coco_photos(data / COCO_MINI, data / COCO_MINI.parent.parent / "train2017",
                                  "coco-mini-train")
    mm, _ = coco_photos(data / MMPOSE_COCO, data / MMPOSE_COCO.parent, "mmpose-tests/coco")
    pool = mini + mm + yolo_photos(data / COCO8)
    multi = [p for p in pool if len(p.people) > 1]  # several people first: identities to keep apart
    single = [p for p in pool if len(p.people) == 1]
    order = [multi[i] for i in rng.permutation(len(multi))]
    order += [single[i] for i in rng.permutation(len(single))]
    for n in range(n_motion):
        photo = order[n % len(order)]
        kind = MOTION_KINDS[n % len(MOTION_KINDS)]
        name = f"motion-{n:02d}-{kind}"
        yield partial(motion_clip, name, n, photo, random_motion(kind, rng), frame_size, fps, n_frames)
    people = cutout_people(mini_data, data / COCO_MINI.parent.parent / "train2017")
    bgs = backgrounds(mini_data, data / COCO_MINI.parent.parent / "train2017")
    queue: list[int] = []
    for n in range(n_crossing):
        if len(queue) < 2:  # everyone once before anyone twice
            queue += rng.permutation(len(people)).tolist()
        a = queue.pop(0)
        b = next(i for i in queue if people[i][0].ref != people[a][0].ref)
        queue.remove(b)
        bg = bgs[int(rng.integers(len(bgs)))]
        (photo_f, front), (photo_b, back) = people[a], people[b]
        walks = random_walks(front, back, frame_size, n_frames / fps, rng)
        blur = float(rng.uniform(0.0, 2.5))
        refs = {"sources": [photo_f.ref, photo_b.ref, bg.ref], "persons": [front.ref, back.ref],
                "background_blur": round(blur, 4)}

        yield partial(_crossing, f"crossing-{n:02d}", n_motion + n, bg, blur, (photo_f, front),
                      (photo_b, back), walks, frame_size, fps, n_frames, refs)


def _crossing(name: str, clip_no: int, bg: SourcePhoto, blur: float, front: tuple[SourcePhoto, SourcePerson],
              back: tuple[SourcePhoto, SourcePerson], walks: tuple[Walk, Walk], frame_size: tuple[int, int],
              fps: int, n_frames: int, refs: dict) -> Clip:
    return crossing_clip(name, clip_no, background_frame(bg.load(), frame_size, blur),
                         cut_person(front[0].load(), front[1]), cut_person(back[0].load(), back[1]), walks,
                         fps, n_frames, refs)


def build_set(data: Path, out: Path, seed: int = 0, fps: int = 30, seconds: float = 4.0,
              frame_size: tuple[int, int] = (640, 480), bitrate: int = 1_500_000, n_motion: int = 6,
              n_crossing: int = 4, preset: str = "veryfast", log=print) -> dict:
    """Build, encode and write a clip set and its ``clips.json`` index; returns the index."""
    n_frames = int(round(fps * seconds))
    entries = []
    for make in plan_clips(data, seed, frame_size, fps, n_frames, n_motion, n_crossing):
        t0 = time.perf_counter()
        clip = make()
        write_clip(out, clip, bitrate, preset)
        n_people = len({a["track_id"] for a in clip.gt["annotations"]})
        hidden = sum(17 - a["num_keypoints"] for a in clip.gt["annotations"])
        log(f"{clip.name:20} {clip.info['kind']:8} {n_people} people  {n_frames} frames  "
            f"{hidden:5d} unlabelled keypoint slots  {time.perf_counter() - t0:5.2f} s")
        entries.append({**clip.info, "video": f"{clip.name}.mp4", "gt": f"{clip.name}.json",
                        "width": frame_size[0], "height": frame_size[1], "seed": seed})
    index = {"seed": seed, "fps": fps, "seconds": seconds, "size": list(frame_size), "bitrate": bitrate,
             "clips": entries}
    write_atomic(out / "clips.json", (json.dumps(index, indent=1) + "\n").encode())
    return index


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def _bitrate(text: str) -> int:
    text = text.strip().lower()
    mult = {"k": 1000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text[:-1] if mult > 1 else text) * mult)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("/tmp/posekit-clips"))
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--size", type=_size, default=(640, 480), help="WxH")
    ap.add_argument("--bitrate", type=_bitrate, default=1_500_000, help="e.g. 1500k")
    ap.add_argument("--motion", type=int, default=6, help="number of motion clips")
    ap.add_argument("--crossing", type=int, default=4, help="number of crossing clips")
    ap.add_argument("--preset", default="veryfast", help="x264 preset (veryfast: about a phone's quality)")
    args = ap.parse_args(argv)
    if args.out.resolve().is_relative_to(ROOT):
        ap.error(f"--out {args.out} is inside the repository; write the clips elsewhere "
                 f"(e.g. /tmp/posekit-clips)")
    if not (args.data / COCO_MINI).is_file():
        ap.error(f"--data {args.data}: no {COCO_MINI} there; point --data at the shared data folder")
    t0 = time.perf_counter()
    index = build_set(args.data, args.out, args.seed, args.fps, args.seconds, args.size, args.bitrate,
                      args.motion, args.crossing, args.preset)
    print(f"{len(index['clips'])} clips in {args.out} ({time.perf_counter() - t0:.1f} s); index clips.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
