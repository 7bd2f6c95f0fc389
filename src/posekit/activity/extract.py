"""Per-image features and poses for the image activity models, computed once and cached on disk.

For each image: the pose model's people (xy (N, K, 2) pixels, scores (N, K), pose scores (N,)), the trunk's
pooled features of the image and of its mirror image (`posekit.activity.backbone.pool_features`), and the
trunk's mean over the pose map of the image and of its mirror (`masked_pool`). The cache holds one ``.npz``
per image, named by the hash of its absolute path, size and modification time, the backbone, the pose model,
its minimum pose score and ``EXTRACT_VERSION``: a changed file or setting is extracted again, nothing else.
Unreadable images are listed, skipped and counted.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from posekit.atomic import write_atomic
from posekit.errors import PosekitError

EXTRACT_VERSION = 1
DEFAULT_POSE_MODEL = "movenet-multipose"
POSE_MIN_SCORE = 0.1  # keep faint people here; features use keypoints scoring MIN_KEYPOINT_SCORE


@dataclass(frozen=True)
class ImageRecord:
    """What the image models need of one image (module docstring); size is (height, width)."""

    xy: NDArray[np.float32]
    scores: NDArray[np.float32]
    pose_scores: NDArray[np.float32]
    size: tuple[int, int]
    image: NDArray[np.float32]
    image_flip: NDArray[np.float32]
    posemap: NDArray[np.float32]
    posemap_flip: NDArray[np.float32]
    schema: str


def cache_key(path: Path, settings: str) -> str:
    st = path.stat()
    ident = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{settings}|v{EXTRACT_VERSION}"
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


class Extractor:
    """Loads the pose model and the trunk once; ``__call__(path)`` -> ImageRecord (cached when it can)."""

    def __init__(self, cache_dir: str | Path, backbone: str | None = None,
                 pose_model: str = DEFAULT_POSE_MODEL, threads: int | None = 1) -> None:
        from posekit.activity.backbone import DEFAULT_BACKBONE

        self.cache_dir = Path(cache_dir)
        self.backbone_name = backbone or DEFAULT_BACKBONE
        self.pose_model_name = pose_model
        self.threads = threads
        self.settings = f"{self.backbone_name}|{pose_model}|{POSE_MIN_SCORE}"
        self._trunk = self._pose = None

    def _load(self) -> None:
        from posekit.activity.backbone import TrunkFeatures
        from posekit.models.registry import load_model

        if self._trunk is None:
            self._trunk = TrunkFeatures(self.backbone_name, threads=self.threads)
            self._pose = load_model(self.pose_model_name, threads=self.threads, min_score=POSE_MIN_SCORE)

    def __call__(self, path: Path) -> ImageRecord:
        file = self.cache_dir / f"{cache_key(path, self.settings)}.npz"
        if file.is_file():
            try:
                with np.load(file) as z:
                    return _record(z)
            except (OSError, ValueError, KeyError):
                pass  # a damaged cache entry is recomputed
        rec = self.compute(path)
        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(v) for k, v in rec.__dict__.items()})
        write_atomic(file, buf.getvalue())
        return rec

    def compute(self, path: Path) -> ImageRecord:
        from posekit.activity.backbone import letterboxed_mask, masked_pool, pool_features
        from posekit.activity.posemap import render_pose_map
        from posekit.activity.predict import MIN_KEYPOINT_SCORE
        from posekit.images import read_image

        self._load()
        image = read_image(path)
        rgb = image.rgb
        poses = self._pose.predict(rgb)
        maps = self._trunk.maps(rgb)
        maps_flip = self._trunk.maps(np.ascontiguousarray(rgb[:, ::-1]))
        size = rgb.shape[:2]
        pmap = render_pose_map(poses.xy, poses.scores >= MIN_KEYPOINT_SCORE, poses.schema, size)
        grid = maps[0].shape[:2]
        s = self._trunk.backbone.input_size
        mask = letterboxed_mask(pmap, s, grid)
        mask_flip = letterboxed_mask(np.ascontiguousarray(pmap[:, ::-1]), s, grid)
        return ImageRecord(poses.xy.astype(np.float32), poses.scores.astype(np.float32),
                           np.asarray(poses.pose_scores, np.float32), (int(size[0]), int(size[1])),
                           pool_features(maps), pool_features(maps_flip), masked_pool(maps, mask),
                           masked_pool(maps_flip, mask_flip), poses.schema.name)


def _record(z) -> ImageRecord:
    return ImageRecord(z["xy"], z["scores"], z["pose_scores"], tuple(int(v) for v in z["size"]), z["image"],
                       z["image_flip"], z["posemap"], z["posemap_flip"], str(z["schema"]))


def extract_all(paths: list[Path], extractor: Extractor,
                progress: bool = True) -> tuple[list[ImageRecord | None], dict[str, str]]:
    """Records of ``paths`` (None for an unreadable image) and {name: error} of the unreadable ones."""
    from tqdm import tqdm

    records: list[ImageRecord | None] = []
    errors: dict[str, str] = {}
    for path in tqdm(paths, desc="features", unit="img", disable=not progress):
        try:
            records.append(extractor(path))
        except PosekitError as err:
            records.append(None)
            errors[path.name] = str(err)
    return records, errors
