"""Training data: one item per annotated person (crop, augment, heatmap targets) and its torch DataLoader.

Every random draw of an item comes from ``numpy.random.default_rng((seed, epoch, index))`` and the order
of an epoch from a torch Generator seeded with (seed, epoch), so an epoch's batches depend only on
(seed, epoch): the same with any num_workers and after a resume.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image

from posekit.datasets.sample import Sample
from posekit.errors import PosekitError
from posekit.skeletons import Schema
from posekit.train.augment import (
    NO_AUGMENT,
    AugmentConfig,
    keypoint_box,
    photometric,
    random_matrix,
    transform_points,
    warp_image,
)
from posekit.train.targets import HeatmapCodec

# Input normalisation: RGB in [0, 1], then (x - mean) / std (ImageNet statistics).
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PersonRef:
    """Where one training person lives: sample index, person index, and its crop box (4,) in pixels."""

    sample: int
    person: int
    box: tuple[float, float, float, float]


def index_persons(samples: Sequence[Sample]) -> tuple[list[PersonRef], list[str]]:
    """Every usable person of the samples, and one line per skipped one (no box and no labelled keypoint)."""
    refs, skipped = [], []
    for si, s in enumerate(samples):
        for pi, p in enumerate(s.persons):
            box = p.box if p.box is not None else keypoint_box(p.keypoints, p.labelled)
            if box is None or not np.isfinite(box).all() or box[2] <= box[0] and box[3] <= box[1]:
                skipped.append(
                    f"{s.image_path or s.image_id}: person {pi} has no box and no labelled keypoint"
                )
                continue
            refs.append(PersonRef(si, pi, tuple(float(v) for v in box)))
    return refs, skipped


class PersonDataset(torch.utils.data.Dataset):
    """Person crops with Gaussian heatmap targets.

    Items are indexed by (epoch, index) pairs (see `EpochSampler`) and are dicts of tensors:
    image (3, H, W) float32 normalised with mean / std (default MEAN / STD); heatmaps (K, h, w) float32;
    weights (K,) float32 (0 = unlabelled or off the map); keypoints (K, 2) float32 in input pixels;
    labelled (K,) bool.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        codec: HeatmapCodec,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        mean: tuple[float, float, float] = MEAN,
        std: tuple[float, float, float] = STD,
    ) -> None:
        if not samples:
            raise PosekitError("no samples to train on: check the --data path")
        self.samples = list(samples)
        self.schema: Schema = self.samples[0].schema
        self.codec = codec
        self.augment = augment or NO_AUGMENT
        self.seed = seed
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        self.refs, self.skipped = index_persons(self.samples)
        self.flip_perm = np.asarray(self.schema.flip_permutation())

    def __len__(self) -> int:
        return len(self.refs)

    def load(self, epoch: int, index: int) -> dict[str, NDArray]:
        """The numpy item for (epoch, index); see the class docstring."""
        ref = self.refs[index]
        sample = self.samples[ref.sample]
        person = sample.persons[ref.person]
        rng = np.random.default_rng((self.seed, epoch, index))
        m, flipped = random_matrix(rng, np.asarray(ref.box), self.codec.input_size, self.augment)
        try:
            with Image.open(sample.image_path) as im:
                crop = warp_image(im.convert("RGB"), m, self.codec.input_size)
        except OSError as err:
            raise PosekitError(
                f"{sample.image_path}: cannot read the image ({err}); fix or drop it"
            ) from None
        pixels = photometric(rng, np.asarray(crop), self.augment)
        xy = transform_points(person.keypoints, m)
        labelled = person.labelled.copy()
        if flipped:
            xy, labelled = xy[self.flip_perm], labelled[self.flip_perm]
        heatmaps, weights = self.codec.encode(xy, labelled)
        image = (pixels / 255.0 - self.mean) / self.std
        return {
            "image": np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32),
            "heatmaps": heatmaps,
            "weights": weights,
            "keypoints": xy,
            "labelled": labelled,
        }

    def bad_item_message(self, index: int) -> str:
        """One line naming the image of an item that could not be read."""
        path = self.samples[self.refs[index].sample].image_path
        return f"{path}: cannot read the image; fix or drop it (its person was skipped)"

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        """Tensors of `load`, plus ``bad``: -1, or the index of an unreadable item (returned all zeros with
        zero weights, so a batch goes on past it; the training loop reports it)."""
        epoch, index = key
        try:
            item = self.load(epoch, index)
            bad = -1
        except PosekitError:
            k, (h, w), (hh, hw) = self.schema.num_keypoints, self.codec.input_size, self.codec.heatmap_size
            item = {
                "image": np.zeros((3, h, w), np.float32), "heatmaps": np.zeros((k, hh, hw), np.float32),
                "weights": np.zeros(k, np.float32), "keypoints": np.zeros((k, 2), np.float32),
                "labelled": np.zeros(k, bool),
            }  # fmt: skip
            bad = index
        tensors = {name: torch.from_numpy(np.asarray(v)) for name, v in item.items()}
        tensors["bad"] = torch.tensor(bad)
        return tensors


class EpochSampler(torch.utils.data.Sampler):
    """Yields (epoch, index) pairs: a shuffled (or ordered) pass whose order depends only on (seed, epoch).

    per_epoch: only the first that many of each epoch's shuffled order (an epoch of a random subset, so a
    time-boxed run sees images from the whole set and is checkpointed often)."""

    def __init__(self, n: int, shuffle: bool, seed: int = 0, per_epoch: int | None = None) -> None:
        self.n, self.shuffle, self.seed, self.epoch = n, shuffle, seed, 0
        self.per_epoch = min(per_epoch, n) if per_epoch else n

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.per_epoch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        return iter((self.epoch, i) for i in order[: self.per_epoch])


def make_loader(
    dataset: PersonDataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int = 0,
    prefetch_factor: int = 2,
    drop_last: bool = False,
    per_epoch: int | None = None,
) -> torch.utils.data.DataLoader:
    """A DataLoader over (epoch, index) pairs; call ``loader.sampler.set_epoch(e)`` before each epoch.
    per_epoch: see `EpochSampler`."""
    sampler = EpochSampler(len(dataset), shuffle, dataset.seed, per_epoch)
    extra = {"prefetch_factor": prefetch_factor, "persistent_workers": True} if num_workers > 0 else {}
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers, drop_last=drop_last, **extra
    )
