"""The frozen description of a zoo model (timm's habit: a registry is a plain dict of these)."""

from __future__ import annotations

from dataclasses import dataclass

from posekit.skeletons import Schema


@dataclass(frozen=True)
class ModelSpec:
    """name: what users type; family: the module that runs it; graph: the TF.js graph in the package;
    input_size: model input side in pixels; multi_person: whether one run finds several people."""

    name: str
    family: str
    graph: str
    input_size: int
    schema: Schema
    multi_person: bool
    summary: str
    license: str
    source: str
