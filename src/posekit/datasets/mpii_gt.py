"""Evaluation files of MPII (``gt_valid.mat`` + predictions) and LSP (``joints.mat``) as plain arrays.

Coordinates: MPII's ``gt_valid.mat`` holds MATLAB 1-based pixel coordinates, and the Python ports of
``evalMPII`` (HRNet, mmpose 0.x) leave the GT as is and add 1 to their 0-based predictions before
comparing. We do the same: predictions from JSON are taken as 0-based (posekit's own convention) and
shifted by +1; predictions from .mat (``pos_pred_src`` as evalMPII reads it, or ``preds`` as HRNet saves
``pred.mat``, already shifted) are taken as 1-based. ``index_base`` overrides that guess. LSP's
``joints.mat`` is treated the same way (annotated in MATLAB, 1-based).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from posekit.errors import PosekitError


def _loadmat(path: str | Path) -> dict:
    import scipy.io

    p = Path(path)
    if not p.is_file():
        raise PosekitError(f"{p}: file not found; pass the path of an existing .mat file")
    try:
        return scipy.io.loadmat(str(p))
    except NotImplementedError:
        raise PosekitError(f"{p}: MATLAB v7.3 (HDF5) .mat is not supported; re-save it with "
                           f"save(..., '-v7')") from None
    except Exception as err:  # scipy raises several types for a corrupt file
        raise PosekitError(f"{p}: not a readable .mat file ({type(err).__name__}); check the file") from None


def _field(mat: dict, path: str | Path, key: str, shape: tuple[int | None, ...]) -> NDArray[np.float64]:
    if key not in mat:
        found = ", ".join(k for k in mat if not k.startswith("__")) or "none"
        raise PosekitError(f"{path}: no variable {key!r} (found: {found}); pass MPII's gt_valid.mat")
    arr = np.asarray(mat[key], np.float64)
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape, strict=True)):
        want = "x".join("N" if s is None else str(s) for s in shape)
        raise PosekitError(f"{path}: {key!r} has shape {'x'.join(map(str, arr.shape))}, expected {want}")
    return arr


def load_mpii_gt(path: str | Path) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Read MPII's ``gt_valid.mat`` (``pos_gt_src`` 16x2xN, ``headboxes_src`` 2x2xN, ``jnt_missing`` 16xN).

    Returns pos_gt (N, 16, 2) 1-based pixels, headboxes (N, 2, 2) corners [[x1, y1], [x2, y2]] pixels,
    jnt_missing (N, 16) bool (True = joint not labelled).
    """
    mat = _loadmat(path)
    pos = _field(mat, path, "pos_gt_src", (16, 2, None))
    n = pos.shape[2]
    heads = _field(mat, path, "headboxes_src", (2, 2, n))
    missing = _field(mat, path, "jnt_missing", (16, n)).T != 0
    pos_gt = pos.transpose(2, 0, 1)
    bad = np.argwhere(~missing & ~np.isfinite(pos_gt).all(axis=2))
    if len(bad):
        raise PosekitError(f"{path}: person {bad[0][0]} joint {bad[0][1]} is labelled but not finite; "
                           f"mark it in jnt_missing or fix it")
    return pos_gt, heads.transpose(2, 0, 1), missing


def load_pose_predictions(path: str | Path, num_joints: int, index_base: int | None = None
                          ) -> NDArray[np.float64]:
    """Read one pose per image: JSON (list of Kx2 or Kx3, or {"preds": ...}) or .mat.

    .mat variables: ``pos_pred_src`` (K x 2 x N, evalMPII's layout) or ``preds`` (N x K x 2 or N x K x 3,
    HRNet's pred.mat). ``index_base``: origin of the file's coordinates (default: 0 for JSON, 1 for .mat).
    Returns (N, K, 2) in 1-based pixels, the frame of MATLAB ground truth. Raises PosekitError naming the
    file and record for a malformed record or a NaN.
    """
    p = Path(path)
    if p.suffix.lower() == ".mat":
        mat = _loadmat(p)
        if "pos_pred_src" in mat:
            preds = _field(mat, p, "pos_pred_src", (num_joints, 2, None)).transpose(2, 0, 1)
        elif "preds" in mat:
            preds = np.asarray(mat["preds"], np.float64)
            if preds.ndim != 3 or preds.shape[1] != num_joints or preds.shape[2] not in (2, 3):
                raise PosekitError(f"{p}: 'preds' has shape {'x'.join(map(str, preds.shape))}, expected "
                                   f"Nx{num_joints}x2 (or x3)")
        else:
            raise PosekitError(f"{p}: no variable 'pos_pred_src' or 'preds'; save predictions under one")
        base = 1 if index_base is None else index_base
    else:
        preds = _json_predictions(p, num_joints)
        base = 0 if index_base is None else index_base
    preds = preds[:, :, :2]
    bad = np.argwhere(~np.isfinite(preds).all(axis=2))
    if len(bad):
        raise PosekitError(f"{p}: record {bad[0][0]} joint {bad[0][1]} is NaN or infinite; "
                           f"write a finite coordinate for every joint")
    return preds + (1 - base)


def _json_predictions(p: Path, num_joints: int) -> NDArray[np.float64]:
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise PosekitError(f"{p}: file not found; pass an existing predictions file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PosekitError(f"{p}: not valid JSON ({err}); write a list of {num_joints}x2 lists") from None
    if isinstance(data, dict) and "preds" in data:
        data = data["preds"]
    if not isinstance(data, list):
        raise PosekitError(f"{p}: expected a list of {num_joints}x2 keypoint lists or {{\"preds\": ...}}")
    out = np.empty((len(data), num_joints, 2))
    for n, rec in enumerate(data):
        try:
            arr = np.asarray(rec, np.float64)
        except (TypeError, ValueError):
            arr = np.zeros(0)
        if arr.ndim != 2 or arr.shape[0] != num_joints or arr.shape[1] not in (2, 3):
            raise PosekitError(f"{p}: record {n} is not {num_joints}x2 numbers (x, y per joint); fix it")
        out[n] = arr[:, :2]
    return out


def load_mpii_preds(path: str | Path, index_base: int | None = None) -> NDArray[np.float64]:
    """MPII predictions (N, 16, 2) in 1-based pixels; see :func:`load_pose_predictions`."""
    return load_pose_predictions(path, 16, index_base)


def load_lsp_joints(path: str | Path) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Read LSP's ``joints.mat`` for evaluation (small reader until ``posekit.datasets.lsp`` exists).

    ``joints`` 3x14xN (original LSP: every joint is annotated, the third row is an occlusion flag) or
    14x3xN (LSP extended: third row 1 = visible; invisible joints are often unannotated).
    Returns gt (N, 14, 2) 1-based pixels and the joints to count (N, 14): all of them for LSP, the visible
    ones for LSP extended.
    """
    mat = _loadmat(path)
    if "joints" not in mat:
        raise PosekitError(f"{path}: no variable 'joints'; pass LSP's joints.mat")
    j = np.asarray(mat["joints"], np.float64)
    if j.ndim == 3 and j.shape[:2] == (3, 14):
        gt, count = j[:2].transpose(2, 1, 0), np.ones((j.shape[2], 14), bool)
    elif j.ndim == 3 and j.shape[:2] == (14, 3):
        gt, count = j[:, :2].transpose(2, 0, 1), j[:, 2].T > 0
    else:
        raise PosekitError(f"{path}: 'joints' has shape {'x'.join(map(str, j.shape))}, expected 3x14xN "
                           f"(LSP) or 14x3xN (LSP extended)")
    bad = np.argwhere(count & ~np.isfinite(gt).all(axis=2))
    if len(bad):
        raise PosekitError(f"{path}: image {bad[0][0]} joint {bad[0][1]} is not finite; fix the file")
    return gt, count
