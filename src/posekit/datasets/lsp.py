"""Leeds Sports Pose (LSP, 2,000 images) and LSP Extended (LSPET, 10,000 images) -> Samples.

The two ``joints.mat`` files differ in layout AND in the meaning of the third channel:
LSP   ``joints`` is 3 x 14 x N, the third row is OCCLUDED: 0 -> visibility 2, 1 -> 1 (labelled, occluded).
LSPET ``joints`` is 14 x 3 x N, the third column is VISIBLE: 1 -> 2, 0 -> 0 (not labelled: its
coordinates are placeholders, often negative, and are replaced by (0, 0)).
Images: ``images/im%04d.jpg`` (LSP) / ``images/im%05d.jpg`` (LSPET), numbered from 1. Coordinates are
kept as given. Split: LSP's first 1,000 images 'train', the last 1,000 'test' (the usual protocol);
LSPET all 'train'.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posekit.datasets.files import image_size
from posekit.datasets.report import LoadReport
from posekit.datasets.sample import Person, Sample
from posekit.errors import PosekitError
from posekit.skeletons import LSP14

_LAYOUT = {"lsp": (3, 14), "lspet": (14, 3)}
_NAME = {"lsp": "im{:04d}.jpg", "lspet": "im{:05d}.jpg"}


def load_lsp(path: str | Path, kind: str | None = None, images_dir: str | Path | None = None,
             report: LoadReport | None = None) -> list[Sample]:
    """Samples from an LSP or LSPET folder (holding ``joints.mat``) or the ``joints.mat`` file itself.

    kind: 'lsp' or 'lspet'; None infers it from the matrix shape. A kind whose layout contradicts the
    shape raises PosekitError (the third channel would be misread).
    """
    import scipy.io

    path = Path(path)
    mat_path = path / "joints.mat" if path.is_dir() else path
    report = report if report is not None else LoadReport()
    try:
        joints = scipy.io.loadmat(str(mat_path)).get("joints")
    except FileNotFoundError:
        raise PosekitError(f"{mat_path}: no such file; point at the LSP folder holding joints.mat") from None
    except Exception as err:  # scipy raises MatReadError, ValueError, IndexError... on corrupt files
        msg = f"{mat_path}: not a readable MATLAB file ({err}); re-download the dataset"
        raise PosekitError(msg) from None
    if joints is None or joints.ndim != 3:
        raise PosekitError(f"{mat_path}: no 3-D matrix 'joints'; this is not an LSP joints.mat")
    found = next((k for k, shape in _LAYOUT.items() if joints.shape[:2] == shape), None)
    if found is None:
        raise PosekitError(f"{mat_path}: joints shape {joints.shape}, need 3x14xN (LSP) or 14x3xN (LSPET)")
    if kind is not None and kind != found:
        raise PosekitError(
            f"{mat_path}: joints has shape {joints.shape}, the {found.upper()} layout, not {kind.upper()}; "
            f"load it as {found}:{path}"
        )
    kind = found
    arr = np.asarray(joints, dtype=np.float64)
    arr = arr.transpose(2, 1, 0) if kind == "lsp" else arr.transpose(2, 0, 1)  # -> (N, 14, 3)
    root = Path(images_dir) if images_dir is not None else mat_path.parent / "images"
    from tqdm import tqdm

    samples = []
    for i in tqdm(range(arr.shape[0]), desc=f"{kind} images", unit="img", disable=None, leave=False):
        flag = arr[i, :, 2]
        where = f"{mat_path}: image {i + 1}"
        if not np.isfinite(arr[i]).all():
            report.bad(f"{where}: NaN or infinite joint values; fix joints.mat")
            continue
        if not np.isin(flag, (0, 1)).all():
            report.bad(f"{where}: third channel must be 0 or 1, got {sorted(set(flag.tolist()))}")
            continue
        if kind == "lsp":
            vis = np.where(flag == 1, 1, 2).astype(np.int8)
        else:
            vis = np.where(flag == 1, 2, 0).astype(np.int8)
            report.note("joint not visible (unlabelled)", None, int((vis == 0).sum()))
        xy = np.where(vis[:, None] > 0, arr[i, :, :2], 0.0)
        image_path = root / _NAME[kind].format(i + 1)
        size = image_size(image_path)
        if size is None:
            report.note("missing image file", str(image_path))
        w, h = size or (0, 0)
        split = "train" if kind == "lspet" or i < 1000 else "test"
        samples.append(Sample(image_path, w, h, LSP14, [Person(xy, vis)], image_id=i + 1, split=split))
    return samples
