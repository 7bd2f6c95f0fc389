"""posekit: 2D human pose estimation and pose-based activity recognition on a plain CPU."""

from posekit.errors import PosekitError
from posekit.skeletons import SCHEMAS, Schema
from posekit.types import Poses

__version__ = "0.1.0"


def list_models() -> list[str]:
    """Names of the zoo models `load_model` accepts."""
    from posekit.models.registry import list_models as _list

    return _list()


def load_model(name_or_path: str, **options):
    """A ready model: a zoo name (see `list_models`) or a path to an .onnx file.

    Fetches and converts the model on first use. ``model.predict(image_rgb_uint8) -> Poses``.
    """
    from posekit.models.registry import load_model as _load

    return _load(name_or_path, **options)


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
