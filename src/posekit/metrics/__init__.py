"""The field's metrics: COCO OKS / keypoint AP-AR (``oks``), PCKh / PCK (``pck``), classification scores."""

from posekit.metrics.classification import (
    ClassificationReport,
    accuracy,
    classification_report,
    confusion_matrix,
    precision_recall_f1,
)
from posekit.metrics.oks import CocoKeypointEvaluator, CocoKeypointResult, coco_keypoint_eval, oks
from posekit.metrics.pck import MpiiReport, PckTable, lsp_pck, mpii_report, pck_curve, pckh

__all__ = [
    "ClassificationReport", "CocoKeypointEvaluator", "CocoKeypointResult", "MpiiReport", "PckTable",
    "accuracy", "classification_report", "coco_keypoint_eval", "confusion_matrix", "lsp_pck", "mpii_report",
    "oks", "pck_curve", "pckh", "precision_recall_f1",
]
