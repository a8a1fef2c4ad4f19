"""The trained classifier: load it once, classify a mail, say how sure it is.

``follow_up`` is a label of its own, reported in ``labels`` and ``scores`` beside the rights:
a reminder about an earlier request ("I wrote on 3 May and had no answer"). It belongs to the
earlier case, so it does not make a mail a request on its own; a follow-up that names no right
is marked ``uncertain`` so that the owner links it to the case rather than it being missed.
An ordinary mail has the single label ``none``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from mailbot.classifier import architecture  # noqa: F401  (registers the network with spaCy before any load)
from mailbot.classifier import details as details_mod
from mailbot.classifier import language
from mailbot.classifier.bow import BowScorer
from mailbot.classifier.details import Details
from mailbot.classifier.normalisation import (
    features_by_sentence,
    is_data_thread_reply,
    model_words,
    normalise,
    tokens,
)
from mailbot.classifier.rules import RuleHit, RuleSet
from mailbot.errors import MailbotError
from spacy.tokens import Doc

RIGHTS: tuple[str, ...] = (
    "access", "rectification", "erasure", "restriction", "objection",
    "portability", "withdraw_consent", "complaint",
)
FOLLOW_UP = "follow_up"
NONE = "none"
MODEL_LABELS: tuple[str, ...] = (*RIGHTS, FOLLOW_UP)  # what the text categoriser scores and we report
# An internal label the text categoriser also learns: "exercises any right". It pools the
# examples of all rights, so it knows the wording requests share ("my data", "about me",
# "mijn gegevens") even where a right's own examples are few; it only decides `uncertain`
# and is never reported.
ANY_REQUEST = "_request"
TEXTCAT = "textcat_multilabel"  # the pipeline name of the (first) text categoriser
TRAINED_LABELS: tuple[str, ...] = (*MODEL_LABELS, ANY_REQUEST)
ALL_LABELS: tuple[str, ...] = (*MODEL_LABELS, NONE)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL_DIR = PROJECT_ROOT / "classifiers" / "model"
MODEL_ENV = "MAILBOT_CLASSIFIER_MODEL"
DECISION_FILE = "mailbot.json"


class ClassifierError(MailbotError):
    """The classifier model is missing, unreadable or does not fit this version of mailbot."""


@dataclass(frozen=True)
class Decision:
    """How scores become labels: thresholds stored with the model at training time.

    ``thresholds`` holds a label's own threshold where the validation split showed that one
    differs from the common ``threshold`` (sparse labels often score lower); other labels use
    ``threshold``.
    """

    threshold: float = 0.5
    uncertain_low: float = 0.2
    uncertain_high: float = 0.65
    rule_floor: float = 0.9
    thresholds: dict[str, float] = field(default_factory=dict, hash=False)
    # A mail below every threshold is marked uncertain when its ANY_REQUEST score reaches this
    # (1.0: never, as for a model without that label).
    request_low: float = 1.0
    # A right the model alone gives (no rule fired for it) is only called when ANY_REQUEST
    # reaches this as well; below it the mail goes to the owner as uncertain. Ordinary mail
    # in a right's words ("delete the duplicate order from my account") often scores high on
    # that right but low on "exercises any right" (0.0: no gate).
    request_gate: float = 0.0

    def threshold_of(self, label: str) -> float:
        """The score at or above which label is given."""
        return self.thresholds.get(label, self.threshold)


@dataclass(frozen=True)
class Classification:
    """What the classifier says about one mail."""

    is_request: bool
    labels: tuple[str, ...]
    scores: dict[str, float] = field(hash=False)
    language: str
    uncertain: bool
    details: Details
    rule_hits: tuple[RuleHit, ...] = field(default=(), repr=False, compare=False)

    @property
    def follow_up(self) -> bool:
        """True if the mail chases an earlier request."""
        return FOLLOW_UP in self.labels

    @property
    def rights(self) -> tuple[str, ...]:
        """The rights the mail exercises (labels without follow_up and none)."""
        return tuple(label for label in self.labels if label in RIGHTS)

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape: is_request, labels, scores, language, uncertain, details."""
        return {
            "is_request": self.is_request,
            "labels": list(self.labels),
            "scores": {label: round(score, 4) for label, score in self.scores.items()},
            "language": self.language,
            "uncertain": self.uncertain,
            "details": self.details.to_json(),
        }


class Model:
    """A loaded spaCy text categoriser with its rules and decision thresholds."""

    def __init__(self, nlp, decision: Decision, meta: dict[str, Any], *, lean: bool = False) -> None:  # type: ignore[no-untyped-def]
        """Wrap a loaded pipeline; build the rules over its vocabulary.

        lean: the fast scorer takes the networks' weights out of the pipeline and its text
        categorisers are removed (they would hold the same weights again, 19 MB, and are never
        run when the scorer applies); for a model loaded to classify, not one still to be saved.
        """
        self.nlp = nlp
        self.decision = decision
        self.meta = meta
        self.rules = RuleSet(nlp.vocab, self.make_doc)
        # One text categoriser, or several fitted from different seeds whose log-odds are averaged
        # (the `members` training setting): textcat_multilabel, textcat_multilabel_1...
        names = [name for name in nlp.pipe_names if name == TEXTCAT or name.startswith(TEXTCAT + "_")]
        self.textcats = tuple(nlp.get_pipe(name) for name in names)
        if not self.textcats:
            raise ClassifierError("the classifier model has no text categoriser: rebuild it with 'mailbot classifier train'")
        missing = set(MODEL_LABELS) - set.intersection(*(set(textcat.labels) for textcat in self.textcats))
        if missing:
            raise ClassifierError(
                f"the classifier model lacks the labels {sorted(missing)}: "
                "rebuild it with 'mailbot classifier train'"
            )
        # mailbot.HiddenBOW.v1 with sentences = true also scores each sentence on its own.
        self.reads_sentences = self.textcats[0].model.has_ref("sentence_layer")
        self.bow = BowScorer.stacked(self.textcats, release=lean)
        if self.bow is None and len(self.textcats) > 1:
            # spaCy reports float32 scores, which cannot say how sure a member is beyond log-odds
            # of about 17, so their mean could not be taken from them faithfully.
            raise ClassifierError(
                "a model of several members needs bag-of-words networks of one shape "
                "(mailbot.HiddenBOW.v1 or spacy.TextCatBOW.v3): set members = 1 in [mailbot.training] "
                "for another architecture"
            )
        if lean and self.bow is not None:
            for name in names:
                nlp.remove_pipe(name)
            self.textcats = ()

    def make_doc(self, text: str) -> Doc:
        """A spaCy Doc of text split by :func:`tokens` (what training uses)."""
        return Doc(self.nlp.vocab, words=tokens(text))

    def read(self, joined: str) -> tuple[list[str], dict[str, float]]:
        """(words, the text categoriser's scores) of a normalised mail; the rules match the words."""
        words, feats, sentences = features_by_sentence(joined)
        return words, self.model_scores(feats, sentences if self.reads_sentences else ())

    def model_scores(self, feats: list[str], sentences: Sequence[list[int]] = ()) -> dict[str, float]:
        """The text categoriser's score of each label for a mail's features (and its sentences').

        For the bag-of-words networks (spaCy's linear one and ``mailbot.HiddenBOW.v1``)
        :class:`BowScorer` computes what spaCy's ``textcat_multilabel`` computes (a test checks
        they agree) without building a Doc or walking thinc's layers, which cost more than the
        sums themselves. Other architectures go through spaCy.
        """
        if self.bow is not None:
            return self.bow.scores(feats, sentences)
        doc = self.textcats[0](Doc(self.nlp.vocab, words=model_words(feats, sentences)))
        return {label: float(score) for label, score in doc.cats.items()}

    def classify(self, subject: str, text: str) -> Classification:
        """Classify one mail from its subject and the newest text its sender wrote."""
        joined = normalise(subject, text)
        words, scores = self.read(joined)
        return self._decide(scores, words, joined, is_data_thread_reply(subject))

    def classify_many(self, mails: list[tuple[str, str]], batch_size: int = 64) -> list[Classification]:
        """Classify many (subject, text) pairs (the same as one by one; kept for callers)."""
        return [self.classify(subject, text) for subject, text in mails]

    def _decide(
        self, model_scores: dict[str, float], words: list[str], joined: str, data_thread: bool = False
    ) -> Classification:
        """Turn model scores and rule hits into a classification with language and details.

        words: the lower-cased tokens of joined (what the phrase rules match).
        data_thread: the mail replies in a thread about a data-protection request, so an
        ordinary-looking answer is not dismissed with confidence.
        """
        judged = self.judge(model_scores, self.rule_hits(words, joined), data_thread)
        # Details serve a case or the owner's look; for mail that is neither they would cost
        # about a third of the classification time and be thrown away.
        found = (
            details_mod.extract(joined, rectification="rectification" in judged.labels)
            if judged.is_request or judged.uncertain else Details()
        )
        return Classification(judged.is_request, judged.labels, judged.scores, language.detect_words(words),
                              judged.uncertain, found, judged.rule_hits)

    def rule_hits(self, words: list[str], joined: str) -> tuple[RuleHit, ...]:
        """The phrase rules that fire on a mail (they do not depend on the decision thresholds)."""
        return self.rules.apply(words, joined) if joined else ()

    def judge(
        self, model_scores: dict[str, float], hits: tuple[RuleHit, ...], data_thread: bool = False
    ) -> Classification:
        """Labels, is_request and uncertain from model scores and rule hits, under self.decision.

        Language and details are left empty: threshold tuning calls this hundreds of times per
        validation mail and needs only the labels.
        """
        d = self.decision
        scores = {label: model_scores.get(label, 0.0) for label in MODEL_LABELS}
        any_request = model_scores.get(ANY_REQUEST, 0.0)
        for hit in hits:
            scores[hit.label] = max(scores[hit.label], d.rule_floor)
        follow_up = scores[FOLLOW_UP] >= d.threshold_of(FOLLOW_UP)
        # A reminder about a data request is about data: a right it names needs no gate ("this
        # is my third mail about deleting my account" scored low on "exercises any right").
        ungated = any_request >= d.request_gate or follow_up
        ruled = {hit.label for hit in hits}
        top_right = max(scores[label] for label in RIGHTS)
        scores[NONE] = 1.0 - top_right
        rights = tuple(
            label for label in RIGHTS if scores[label] >= d.threshold_of(label) and (ungated or label in ruled)
        )
        is_request = bool(rights)
        labels = rights + ((FOLLOW_UP,) if follow_up else ())
        if not labels:
            labels = (NONE,)
        # Between "clearly ordinary" and "clearly a request" the owner decides: a missed
        # request is a legal failure, a needless look costs the owner a minute.
        uncertain = (
            (not is_request and (top_right >= d.uncertain_low or any_request >= d.request_low))
            or (is_request and top_right < d.uncertain_high)
            or (follow_up and not is_request)
            or any(d.uncertain_low <= scores[label] < d.threshold_of(label) for label in RIGHTS if is_request)
            or (data_thread and not is_request)
        )
        return Classification(is_request, labels, scores, "", bool(uncertain), Details(), hits)


def model_dir() -> Path:
    """Where the model is read from: $MAILBOT_CLASSIFIER_MODEL or classifiers/model in the project."""
    env = os.environ.get(MODEL_ENV)
    return Path(env) if env else DEFAULT_MODEL_DIR


@lru_cache(maxsize=4)
def load_model(path: Path | None = None) -> Model:
    """The classifier model at path (default: model_dir()), loaded once per process."""
    import spacy  # imported here so that importing mailbot stays fast for commands without it

    where = Path(path) if path else model_dir()
    decision_file = where / DECISION_FILE
    if not decision_file.is_file():
        raise ClassifierError(
            f"no classifier model at {where}: run 'mailbot classifier train' in the project, "
            f"or set {MODEL_ENV} to a model directory"
        )
    try:
        meta = json.loads(decision_file.read_text(encoding="utf-8"))
        nlp = spacy.load(where)
    except (OSError, ValueError, KeyError) as exc:
        raise ClassifierError(
            f"the classifier model at {where} cannot be read ({exc}): rebuild it with 'mailbot classifier train'"
        ) from exc
    model = Model(nlp, Decision(**meta.get("decision", {})), meta, lean=True)
    _release_freed_memory()
    return model


def _release_freed_memory() -> None:
    """Give the memory that loading freed back to the system (glibc's malloc_trim; elsewhere nothing).

    Loading a member reads its weights as one buffer and copies them into arrays, and the
    scorer lays the members' arrays end to end. glibc serves the later buffers from its heap
    (its mmap threshold grew with the first) and keeps what they freed: without this, two
    members kept 27 MB more resident than one, not the 9 MB their weights add.
    """
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return


def classify(subject: str, text: str) -> Classification:
    """Classify one mail with the default model (loaded on first use)."""
    return load_model().classify(subject, text)
