"""Read a TF.js graph model: ``model.json`` (a TF GraphDef as JSON) plus its ``.bin`` weight shards.

A TF.js graph model stores every ``Const`` node's value in the weight shards, listed in
``weightsManifest`` in byte order across all shard files. Weights may be stored quantized
(float16, or uint8/uint16 affine with ``scale``/``min``); we always hand back the original dtype.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posekit.errors import PosekitError

# TF DataType enum names (as they appear in model.json attrs) -> numpy dtype.
TF_DTYPES: dict[str, type] = {
    "DT_FLOAT": np.float32,
    "DT_INT32": np.int32,
    "DT_INT64": np.int64,
    "DT_BOOL": np.bool_,
    "DT_HALF": np.float16,
    "DT_UINT8": np.uint8,
}

# Storage dtype names in weightsManifest -> (numpy dtype, bytes per element).
_STORED = {
    "float32": np.float32,
    "int32": np.int32,
    "bool": np.bool_,
    "float16": np.float16,
    "uint8": np.uint8,
    "uint16": np.uint16,
}


@dataclass(frozen=True)
class Node:
    """One GraphDef node. ``inputs`` are tensor refs ``"name"`` / ``"name:k"``; control deps dropped."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attr: dict[str, Any] = field(default_factory=dict)

    def attr_int(self, key: str, default: int = 0) -> int:
        value = self.attr.get(key)
        return int(value["i"]) if value is not None and "i" in value else default

    def attr_ints(self, key: str, default: tuple[int, ...] = ()) -> list[int]:
        value = self.attr.get(key)
        if value is None:
            return list(default)
        return [int(i) for i in value.get("list", {}).get("i", [])]

    def attr_bool(self, key: str, default: bool = False) -> bool:
        value = self.attr.get(key)
        return bool(value["b"]) if value is not None and "b" in value else default

    def attr_float(self, key: str, default: float = 0.0) -> float:
        value = self.attr.get(key)
        return float(value["f"]) if value is not None and "f" in value else default

    def attr_str(self, key: str, default: str = "") -> str:
        """A bytes attr (base64 in JSON), decoded to text, e.g. ``padding`` -> ``"SAME"``."""
        value = self.attr.get(key)
        if value is None or "s" not in value:
            return default
        return base64.b64decode(value["s"]).decode()

    def attr_strs(self, key: str) -> list[str]:
        value = self.attr.get(key)
        if value is None:
            return []
        return [base64.b64decode(s).decode() for s in value.get("list", {}).get("s", [])]

    def attr_type(self, key: str) -> str | None:
        value = self.attr.get(key)
        return value.get("type", "DT_FLOAT") if value is not None else None

    def attr_shape(self, key: str = "shape") -> list[int] | None:
        """A shape attr as a list of ints (-1 = unknown); None when absent or of unknown rank."""
        value = self.attr.get(key)
        if value is None or "shape" not in value or value["shape"].get("unknownRank"):
            return None
        return [int(d.get("size", -1)) for d in value["shape"].get("dim", [])]


@dataclass(frozen=True)
class TfjsGraph:
    """A loaded TF.js graph model: nodes in file order, Const values, signature and source hash."""

    path: Path
    nodes: dict[str, Node]
    weights: dict[str, NDArray[Any]]
    signature: dict[str, Any]
    sha256: str
    meta: dict[str, str]


def load_tfjs(model_json: Path) -> TfjsGraph:
    """Load ``model_json`` and the weight shards it names (resolved beside it).

    Raises PosekitError when the file is not a TF.js graph model or a shard is missing/short.
    """
    model_json = Path(model_json)
    try:
        raw = model_json.read_bytes()
        doc = json.loads(raw)
    except (OSError, json.JSONDecodeError) as err:
        raise PosekitError(f"{model_json}: cannot read TF.js model.json ({err}); pass a model.json") from err
    topology = doc.get("modelTopology")
    if not isinstance(topology, dict) or "node" not in topology:
        raise PosekitError(f"{model_json}: no modelTopology.node; only TF.js *graph* models can be converted")
    digest = hashlib.sha256(raw)
    manifest = doc.get("weightsManifest", [])
    blob = _read_shards(model_json, manifest, digest)
    specs = [w for group in manifest for w in group["weights"]]
    weights = _decode_weights(model_json, specs, blob)
    nodes: dict[str, Node] = {}
    for entry in topology["node"]:
        inputs = tuple(i for i in entry.get("input", []) if not i.startswith("^"))
        nodes[entry["name"]] = Node(entry["name"], entry["op"], inputs, entry.get("attr", {}))
    meta = {k: str(doc[k]) for k in ("generatedBy", "convertedBy", "format") if doc.get(k) is not None}
    return TfjsGraph(model_json, nodes, weights, doc.get("signature") or {}, digest.hexdigest(), meta)


def source_sha256(model_json: Path) -> str:
    """sha256 over the bytes of ``model_json`` followed by its weight shards in manifest order."""
    model_json = Path(model_json)
    try:
        raw = model_json.read_bytes()
        manifest = json.loads(raw).get("weightsManifest", [])
    except (OSError, json.JSONDecodeError, AttributeError) as err:
        raise PosekitError(f"{model_json}: cannot read TF.js model.json ({err}); pass a model.json") from err
    digest = hashlib.sha256(raw)
    _read_shards(model_json, manifest, digest)
    return digest.hexdigest()


def _read_shards(model_json: Path, manifest: list[dict[str, Any]], digest: Any) -> bytes:
    chunks = []
    for group in manifest:
        for rel in group["paths"]:
            shard = model_json.parent / rel
            try:
                data = shard.read_bytes()
            except OSError as err:
                raise PosekitError(f"{shard}: weight shard missing ({err}); re-fetch the package") from err
            digest.update(data)
            chunks.append(data)
    return b"".join(chunks)


def _decode_weights(model_json: Path, specs: list[dict[str, Any]], blob: bytes) -> dict[str, NDArray[Any]]:
    """Cut ``blob`` into arrays in manifest order; quantized weights are de-quantized."""
    out: dict[str, NDArray[Any]] = {}
    offset = 0
    for spec in specs:
        shape = [int(s) for s in spec.get("shape", [])]
        count = int(np.prod(shape)) if shape else 1
        quant = spec.get("quantization")
        stored = quant["dtype"] if quant else spec["dtype"]
        if stored not in _STORED:
            raise PosekitError(f"{model_json}: weight {spec['name']} has unsupported dtype {stored}")
        np_type = np.dtype(_STORED[stored])
        nbytes = count * np_type.itemsize
        if offset + nbytes > len(blob):
            raise PosekitError(f"{model_json}: weight shards end before {spec['name']}; re-fetch the package")
        values = np.frombuffer(blob, dtype=np_type.newbyteorder("<"), count=count, offset=offset)
        offset += nbytes
        target = np.dtype(_STORED.get(spec["dtype"], np.float32))
        if quant and stored in ("uint8", "uint16"):
            values = values.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
            if target.kind in "iu":
                values = np.round(values)
        out[spec["name"]] = values.astype(target).reshape(shape)
    return out
