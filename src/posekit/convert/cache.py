"""The converted-model cache: ``$POSEKIT_HOME/onnx/<name>-<source sha256[:16]>[-<shape tag>].onnx``.

The file name carries the hash of the TF.js source (model.json + weights), so a changed source never
reuses a stale conversion. Files are written atomically, so concurrent or interrupted runs are safe.
"""

from __future__ import annotations

import re
from pathlib import Path

from posekit.convert.core import InputShapes, convert_tfjs
from posekit.convert.graph import source_sha256


def cached_onnx(name_or_model_json: str | Path, input_shapes: InputShapes | None = None) -> Path:
    """Path of the ONNX conversion of a model, converting on first use.

    ``name_or_model_json`` is a package model name (``"movenet-lightning"``, resolved with
    ``posekit.hub.model_json``) or the path of a TF.js ``model.json``. ``input_shapes`` as in
    ``convert_tfjs``; each distinct value gets its own file.
    """
    from posekit import hub

    source = Path(name_or_model_json)
    if isinstance(name_or_model_json, str) and source.suffix != ".json" and len(source.parts) == 1:
        source = hub.model_json(name_or_model_json)
    stem = f"{source.stem}-{source_sha256(source)[:16]}{shape_tag(input_shapes)}"
    path = hub.cache_dir() / "onnx" / f"{stem}.onnx"
    if not path.is_file():
        convert_tfjs(source, out=path, input_shapes=input_shapes)
    return path


def shape_tag(input_shapes: InputShapes | None) -> str:
    """File-name tag for ``input_shapes``: ``{"input": [1, None, None, 3]}`` -> ``"-input-1xNxNx3"``."""
    if not input_shapes:
        return ""
    parts = []
    for key in sorted(input_shapes):
        dims = "x".join("N" if d is None or d < 0 else str(int(d)) for d in input_shapes[key])
        parts.append(f"{re.sub(r'[^A-Za-z0-9_]', '_', key)}-{dims}")
    return "-" + "-".join(parts)
