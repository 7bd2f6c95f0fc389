"""Run an exported heatmap model (ONNX, onnxruntime, no torch) on person crops and score it.

This is the whole inference path of an exported model, top to bottom: crop the person box enlarged as the
metadata says, normalise, run, decode heatmaps, map back to original-image pixels. It checks an export
end to end against the numbers its training log reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from posekit.datasets.sample import Sample
from posekit.decode.heatmap import decode_heatmaps_batch
from posekit.errors import PosekitError
from posekit.train.augment import crop_matrix, keypoint_box, transform_points, warp_image


def predict_person(
    session: Any, meta: dict[str, Any], image: Image.Image, box: NDArray[np.floating]
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Keypoints of the person in ``box`` (4,) x1, y1, x2, y2 px of ``image`` (PIL, any mode).

    session: an onnxruntime InferenceSession of an exported model; meta: `read_heatmap_model_meta` of it.
    Returns xy (K, 2) float32 in original-image pixels and scores (K,) float32 (heatmap peaks).
    """
    h, w = meta["input_size"]
    m = crop_matrix(np.asarray(box, np.float64), (h, w), enlarge=meta["crop_enlarge"])
    crop = np.asarray(warp_image(image.convert("RGB"), m, (h, w)), np.float32) / 255.0
    x = ((crop - np.asarray(meta["mean"], np.float32)) / np.asarray(meta["std"], np.float32)).transpose(
        2, 0, 1
    )
    heatmaps = session.run(None, {session.get_inputs()[0].name: x[None].astype(np.float32)})[0]
    xy_hm, scores = decode_heatmaps_batch(heatmaps, meta["decoder"].rsplit("-", 1)[-1])
    hh, hw = meta["heatmap_size"]
    xy_in = (xy_hm[0] + 0.5) * np.array([w / hw, h / hh], np.float32) - 0.5
    return transform_points(xy_in, np.linalg.inv(m)), scores[0]


def evaluate_onnx(onnx_path: str | Path, samples: Sequence[Sample], alpha: float = 0.2) -> dict[str, Any]:
    """PCK@alpha in original-image pixels of an exported LSP-14 model on the samples' persons.

    Each person is cropped around its box (or its labelled keypoints' box, as in training validation).
    Returns {"persons": int, "pck": {body part: fraction, ..., "mean": fraction} from
    posekit.metrics.pck.lsp_pck (torso = right shoulder - left hip; persons without both not counted),
    "pck_train_rule": fraction by the training log's rule (bbox fallback, see posekit.train.loop),
    "skipped": [one line per unreadable image]}.
    """
    import onnxruntime as ort

    from posekit.metrics.pck import lsp_pck
    from posekit.skeletons import LSP14
    from posekit.train.export import read_heatmap_model_meta
    from posekit.train.validation import pck_hits

    meta = read_heatmap_model_meta(onnx_path)
    if meta["schema"] != LSP14.name:
        raise PosekitError(f"{onnx_path}: schema {meta['schema']}, this evaluation needs an lsp14 model")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    preds, gts, labelled, skipped = [], [], [], []
    from tqdm import tqdm

    for s in tqdm(samples, desc="evaluate", unit="img", disable=None):
        for p in s.persons:
            box = p.box if p.box is not None else keypoint_box(p.keypoints, p.labelled)
            if box is None:
                continue
            try:
                with Image.open(s.image_path) as im:
                    xy, _ = predict_person(session, meta, im, box)
            except OSError as err:
                skipped.append(f"{s.image_path}: cannot read the image ({err})")
                continue
            preds.append(xy)
            gts.append(p.keypoints)
            labelled.append(p.labelled)
    pred, gt, lab = np.asarray(preds), np.asarray(gts), np.asarray(labelled)
    table = lsp_pck(pred, gt, lab, alpha=alpha)
    hits, counted = pck_hits(pred, gt, lab, LSP14, alpha)
    rule = hits / counted if counted else None
    return {"persons": len(preds), "pck": table.as_dict(), "pck_train_rule": rule, "skipped": skipped}
