"""Training examples: reading classifiers/data/*.jsonl and splitting them by source letter."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mailbot.classifier.model import FOLLOW_UP, MODEL_LABELS, NONE, ClassifierError


@dataclass(frozen=True)
class Example:
    """One labelled mail. Variants of one letter share a source, so a split keeps them together."""

    id: str
    source: str
    lang: str
    subject: str
    text: str
    labels: tuple[str, ...]

    @property
    def is_request(self) -> bool:
        """True if the example exercises at least one right."""
        return any(label not in (NONE, FOLLOW_UP) for label in self.labels)


def read_examples(data_dir: Path) -> tuple[Example, ...]:
    """Every example in data_dir/*.jsonl, in file and line order (sorted file names)."""
    files = sorted(Path(data_dir).glob("*.jsonl"))
    if not files:
        raise ClassifierError(f"no training data in {data_dir}: expected *.jsonl files (see classifiers/README.md)")
    examples: list[Example] = []
    seen: set[str] = set()
    for path in files:
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                example = Example(
                    id=str(row["id"]), source=str(row.get("source") or row["id"]), lang=str(row.get("lang", "en")),
                    subject=str(row.get("subject", "")), text=str(row["text"]),
                    labels=tuple(row["labels"]) or (NONE,),
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ClassifierError(f"{path}:{lineno}: not a valid example ({exc})") from exc
            unknown = set(example.labels) - set(MODEL_LABELS) - {NONE}
            if unknown:
                raise ClassifierError(f"{path}:{lineno}: unknown labels {sorted(unknown)}; known: {MODEL_LABELS}")
            if example.id in seen:
                raise ClassifierError(f"{path}:{lineno}: duplicate example id {example.id!r}")
            seen.add(example.id)
            examples.append(example)
    return tuple(examples)


def is_heldout(source: str, fraction: float, seed: int) -> bool:
    """True if source belongs to the evaluation split (a stable hash, independent of order)."""
    digest = hashlib.sha256(f"{seed}:{source}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split(examples: Sequence[Example], fraction: float, seed: int) -> tuple[tuple[Example, ...], tuple[Example, ...]]:
    """(train, heldout): whole sources go to one side, never both."""
    train = tuple(e for e in examples if not is_heldout(e.source, fraction, seed))
    heldout = tuple(e for e in examples if is_heldout(e.source, fraction, seed))
    return train, heldout


def is_validation(source: str, fraction: float, seed: int) -> bool:
    """True if a training source is kept back to tune the decision thresholds (a second, independent hash)."""
    digest = hashlib.sha256(f"{seed}:validation:{source}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split_validation(
    train: Sequence[Example], fraction: float, seed: int
) -> tuple[tuple[Example, ...], tuple[Example, ...]]:
    """(fit, validation) out of the training side of :func:`split`: whole sources again.

    The thresholds that turn scores into labels are chosen on the validation part, so the
    held-out figures of `evaluate` stay untouched by any choice made in training.
    """
    fit = tuple(e for e in train if not is_validation(e.source, fraction, seed))
    validation = tuple(e for e in train if is_validation(e.source, fraction, seed))
    return fit, validation


def fold_of(source: str, folds: int, seed: int) -> int:
    """The cross-validation fold (0 .. folds-1) of a source: a third stable hash, so whole sources again."""
    digest = hashlib.sha256(f"{seed}:fold:{source}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % folds


def fingerprint(examples: Iterable[Example]) -> str:
    """A hash of the examples' content, stored with the model to tell which data built it."""
    h = hashlib.sha256()
    for e in examples:
        h.update(json.dumps([e.id, e.source, e.subject, e.text, list(e.labels)], ensure_ascii=False).encode())
    return h.hexdigest()[:16]
