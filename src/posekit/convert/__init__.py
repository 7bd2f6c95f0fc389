"""TF.js graph model -> ONNX converter (our own; no tf2onnx / TensorFlow needed).

``convert_tfjs(model_json)`` converts one model; ``cached_onnx(name)`` converts once per source hash and
keeps the result under ``$POSEKIT_HOME/onnx/``.
"""

from posekit.convert.cache import cached_onnx
from posekit.convert.core import OPSET, convert_tfjs

__all__ = ["OPSET", "cached_onnx", "convert_tfjs"]
