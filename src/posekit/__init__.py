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


__all__ = ["Poses", "PosekitError", "SCHEMAS", "Schema", "list_models", "load_model", "__version__"]
