"""posekit: 2D human pose estimation and pose-based activity recognition on a plain CPU."""

from posekit.errors import PosekitError
from posekit.skeletons import SCHEMAS, Schema
from posekit.types import Poses

__version__ = "0.1.0"


def list_models() -> list[str]:
    """Names of the zoo models `load_model` accepts."""
    from posekit.models.registry import list_models as _list

    return _list()


def load_model(name_or_path: str, tta: str = "none", **options):
    """A ready model: a zoo name (see `list_models`) or a path to an .onnx file.

    Fetches and converts the model on first use. ``model.predict(image_rgb_uint8) -> Poses``. ``tta``
    ("flip" or "flip,rot", one-person models only): test-time augmentation (``posekit.models.tta``).
    """
    from posekit.models.registry import load_model as _load

    model = _load(name_or_path, **options)
    if tta in (None, "none"):
        return model
    from posekit.models.tta import CropModel

    return CropModel(model, tta=tta, min_score=getattr(model, "min_score", 0.0))


def load_topdown(single: str = "movenet-thunder", detector: str | None = None, tta: str = "none",
                 **options):
    """A top-down pipeline: a person detector (default: the best measured, ``nanodet``), then the
    one-person model ``single`` on every person's crop (the whole image when nobody is found).
    ``options``: margin, threads, min_score, fallback, and the single model's own options."""
    from posekit.models.detectors import DEFAULT_DETECTOR
    from posekit.models.topdown import load_topdown as _load

    return _load(single, detector or DEFAULT_DETECTOR, tta=tta, **options)


def __getattr__(name: str):
    """Video names load lazily (PyAV and scipy only when used): ``posekit.read_video``,
    ``posekit.PoseTracker``; and ``posekit.PoseEstimator`` (Ray Data's ``map_batches`` callable)."""
    if name == "read_video":
        from posekit.video.io import read_video

        return read_video
    if name == "PoseEstimator":
        from posekit.ray_engine import PoseEstimator

        return PoseEstimator
    if name == "PoseTracker":
        from posekit.video.pose_tracker import PoseTracker

        return PoseTracker
    raise AttributeError(f"module 'posekit' has no attribute {name!r}")


__all__ = ["PoseEstimator", "PoseTracker", "Poses", "PosekitError", "SCHEMAS", "Schema", "list_models",
           "load_model", "read_video", "__version__"]
