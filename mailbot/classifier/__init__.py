"""Sort a mail into the data-protection rights it exercises (see model.py for the labels)."""

from mailbot.classifier.details import Correction, Details
from mailbot.classifier.model import (
    ALL_LABELS,
    FOLLOW_UP,
    NONE,
    RIGHTS,
    Classification,
    ClassifierError,
    Model,
    classify,
    load_model,
)

__all__ = [
    "ALL_LABELS", "FOLLOW_UP", "NONE", "RIGHTS", "Classification", "ClassifierError", "Correction",
    "Details", "Model", "classify", "load_model",
]
