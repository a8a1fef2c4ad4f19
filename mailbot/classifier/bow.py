"""The forward pass of the bag-of-words text categorisers, without Doc or the layers around the sums.

``spacy.TextCatBOW.v3`` with ``ngram_size = 1`` is a linear model: each distinct token (its
ORTH hash) adds its count times two hashed weight rows (``thinc`` ``SparseLinear.v2``) to a
bias, and a logistic turns the sums into scores. ``mailbot.HiddenBOW.v1``
(:mod:`mailbot.classifier.architecture`) sums rows the same way into hidden units as well,
rectifies them and adds a dense layer's output to the linear sums; with ``sentences = true`` it
also sums each sentence's rows of a third table and adds each label's highest sentence sum (or
their logsumexp, with ``sentence_pool = "logsumexp"``).
Building a spaCy ``Doc`` and walking thinc's layers costs several times the sums themselves on
a short mail, so :class:`BowScorer` asks the trained sparse layers for their sums alone and
does the rest with numpy. It declines any other architecture, which then goes through spaCy;
``tests/test_classifier.py`` checks both give the same scores.

A model of several members (networks fitted from different seeds, see ``training.fit``) is
scored as one: :meth:`BowScorer.stacked` lays their tables side by side and averages their
log-odds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import cast

import numpy as np
from spacy.strings import get_string_id
from thinc.api import Model

from mailbot.classifier.architecture import logsumexp_rows

# The layers of spaCy's TextCatBOW ("with_cpu(extract_ngrams>>resizable(sparse_linear))>>with_cpu(logistic)").
_BOW_PARTS = frozenset({"with_cpu", "extract_ngrams", "resizable", "sparse_linear", "logistic"})
# mailbot.HiddenBOW.v1: the same, then a rectifier, dropout (nothing at run time), a dense layer
# and the logistic (the last two computed in a fixed order, see architecture.py).
_HIDDEN_PARTS = _BOW_PARTS | {"relu_activation", "dropout", "exact_linear", "exact_logistic", "add"}
# With the sentences option: the Doc split into the mail's bag and its sentences', and the best
# sentence's linear score added.
_SENTENCE_PARTS = (_HIDDEN_PARTS - {"extract_ngrams"}) | {"extract_blocks", "mail_and_sentences", "sentence_max",
                                                           "sentence_logsumexp"}
_LAYER_PART = re.compile(r"[\w-]+")


class BowScorer:
    """Scores of a trained unigram bag-of-words ``textcat_multilabel``, from its sparse layers."""

    def __init__(
        self, labels: Sequence[str], layers: Sequence[Model], output: tuple[np.ndarray, np.ndarray] | None = None,
        direct: int = 0, sentence: Model | None = None, smooth: bool = False, members: int = 1,
    ) -> None:
        """layers: the thinc ``SparseLinear.v2`` layers whose sums over the mail's features come side by side.

        output: for ``mailbot.HiddenBOW.v1``, the dense layer (weights (labels, hidden), bias
        (labels,)) that reads the rectified sums after the first ``direct`` columns, which are
        the labels' own sums (the wide part; 0 without one). None for spaCy's bag of words,
        whose sums are all the labels' own. sentence: the linear layer that scores each
        sentence, whose best score per label is added (the network's ``sentences`` option);
        None without one. smooth: the best is a logsumexp over the sentences, not their max.
        members: how many networks' sums the layers hold side by side (see :meth:`stacked`);
        their log-odds are averaged.
        """
        self.labels = tuple(labels)
        self.layers = tuple(layers)
        self.output = output
        self.direct = direct
        self.sentence = sentence
        self.smooth = smooth
        self.members = members

    @classmethod
    def stacked(cls, textcats: Sequence) -> BowScorer | None:  # type: ignore[type-arg]
        """One scorer for several networks of the same shape (an ensemble's members), or None.

        Each sparse layer of the members becomes one layer whose sums are theirs side by side:
        thinc keeps a layer's weights label by label, so the members' weight arrays laid end to
        end are the wider layer's, and the members keep views of it (no second copy). A mail
        then costs one hashing of its features and one call per part, not one per member. The
        dense layer reads all the members' hidden units with its weights divided by their
        number, which averages their outputs; the linear and best-sentence sums are averaged
        after the call.
        """
        scorers = [cls.of(textcat) for textcat in textcats]
        if not scorers or any(scorer is None for scorer in scorers):
            return None
        first = cast(BowScorer, scorers[0])
        if len(scorers) == 1:
            return first
        members = cast(list[BowScorer], scorers)
        shapes = {(tuple((layer.get_dim("nO"), layer.get_dim("length")) for layer in m.layers), m.direct,
                   m.output is None, m.sentence is None, m.smooth) for m in members}
        if len(shapes) != 1:
            return None
        layers = [_stack([m.layers[i] for m in members]) for i in range(len(first.layers))]
        output = None
        if first.output is not None:
            n = len(members)
            output = (np.concatenate([cast(tuple, m.output)[0] / np.float32(n) for m in members], axis=1),
                      (sum(cast(tuple, m.output)[1] for m in members) / np.float32(n)).astype(np.float32))
        sentence = _stack([cast(Model, m.sentence) for m in members]) if first.sentence is not None else None
        return cls(first.labels, layers, output, first.direct * len(members), sentence, first.smooth, len(members))

    @classmethod
    def of(cls, textcat) -> BowScorer | None:  # type: ignore[no-untyped-def]
        """A scorer for textcat's model, or None if it is not a unigram bag of words with a logistic."""
        model = textcat.model
        hidden = model.has_ref("hidden_layer")
        by_sentence = model.has_ref("sentence_layer")
        names = {part for layer in model.walk() for part in _LAYER_PART.findall(layer.name)}
        extract_name = "extract_blocks" if by_sentence else "extract_ngrams"
        if not {extract_name, "sparse_linear", "exact_logistic" if hidden else "logistic"} <= names:
            return None
        # An ensemble holds the same bag of words beside a CNN; its linear part alone scores
        # nonsense, so the whole model must be made of nothing else.
        if not names <= (_SENTENCE_PARTS if by_sentence else _HIDDEN_PARTS if hidden else _BOW_PARTS):
            return None
        extract = next(layer for layer in model.walk() if layer.name == extract_name)
        from spacy.attrs import ORTH

        if not by_sentence and (extract.attrs.get("ngram_size") != 1 or extract.attrs.get("attr") != ORTH):
            return None
        n_labels = len(textcat.labels)
        if not hidden:
            sparse = next(layer for layer in model.walk() if layer.name == "sparse_linear")
            return cls(textcat.labels, [sparse]) if _usable(sparse, n_labels) else None
        dense = model.get_ref("output_layer")
        deep = model.get_ref("hidden_layer")
        wide = model.get_ref("wide_layer") if model.has_ref("wide_layer") else None
        sentence = model.get_ref("sentence_layer") if by_sentence else None
        if (not _usable(deep, dense.get_dim("nI")) or dense.get_dim("nO") != n_labels
                or (wide is not None and not _usable(wide, n_labels))
                or (sentence is not None and not _usable(sentence, n_labels))):
            return None
        output = (np.asarray(dense.get_param("W"), dtype=np.float32), np.asarray(dense.get_param("b"), dtype=np.float32))
        smooth = "sentence_logsumexp" in names
        if wide is None:
            return cls(textcat.labels, [deep], output, sentence=sentence, smooth=smooth)
        return cls(textcat.labels, [wide, deep], output, n_labels, sentence, smooth)

    def scores(self, words: Sequence[str], sentences: Sequence[Sequence[int]] = ()) -> dict[str, float]:
        """Label -> score for a mail given as its features (spaCy scores an empty mail 0 everywhere).

        A word that comes n times counts n times, as spaCy's count-weighted sum does.
        sentences: for a network that reads sentences, each sentence's features as positions
        in words (see :func:`mailbot.classifier.normalisation.features_by_sentence`).
        """
        if not words:
            return dict.fromkeys(self.labels, 0.0)
        return dict(zip(self.labels, _logistic(self.log_odds(_ids(words), sentences)).tolist()))

    def log_odds(self, ids: np.ndarray, sentences: Sequence[Sequence[int]] = ()) -> np.ndarray:
        """Each label's sum before the logistic, for a mail's features given as string ids.

        The sums are thinc's own (``predict`` of each sparse layer: the hashing and the
        adding in C). Looking the rows up here instead, with a cache of the words seen, ran
        slower and held 8 MB more (see classifiers/README.md).
        """
        block = (ids, np.ones(len(ids), dtype=np.float32), np.array([len(ids)], dtype=np.int32))
        sums = [layer.predict(block)[0] for layer in self.layers]
        totals = np.concatenate(sums) if len(sums) > 1 else sums[0]
        n = self.members
        if self.output is not None:
            weights, bias = self.output
            # An elementwise product and numpy's sum, not BLAS's `@`: BLAS adds in an order of
            # the processor's, and training tunes the thresholds on these scores.
            hidden = (weights * np.maximum(totals[self.direct:], 0.0)).sum(axis=1) + bias
            if not self.direct:
                totals = hidden
            elif n == 1:
                totals = hidden + totals[:self.direct]
            else:
                totals = hidden + totals[:self.direct].reshape(n, -1).mean(axis=0)
        elif n > 1:
            totals = totals.reshape(n, -1).mean(axis=0)
        if self.sentence is not None and sentences:
            flat = ids[[i for sentence in sentences for i in sentence]]
            lengths = np.fromiter(map(len, sentences), dtype=np.int32, count=len(sentences))
            by_sentence = self.sentence.predict((flat, np.ones(len(flat), dtype=np.float32), lengths))
            if n > 1:
                # (sentences, members * labels) -> (members, sentences, labels): each member's best.
                by_sentence = by_sentence.reshape(len(sentences), n, -1).transpose(1, 0, 2)
                best = [logsumexp_rows(rows) if self.smooth else rows.max(axis=0) for rows in by_sentence]
                totals = totals + np.mean(best, axis=0)
            else:
                totals = totals + (logsumexp_rows(by_sentence) if self.smooth else by_sentence.max(axis=0))
        return totals


def _stack(layers: Sequence[Model]) -> Model:  # type: ignore[type-arg]
    """One SparseLinear.v2 layer whose sums are those of layers (same width and rows) side by side.

    The layers keep views of its weights, so the stacked layer costs no memory of its own.
    """
    from thinc.api import SparseLinear_v2
    from thinc.types import Floats1d

    width, length = layers[0].get_dim("nO"), layers[0].get_dim("length")
    stacked = SparseLinear_v2(nO=width * len(layers), length=length)
    weights = cast(Floats1d, np.concatenate([layer.get_param("W") for layer in layers]))
    stacked.set_param("W", weights)
    stacked.set_param("b", cast(Floats1d, np.concatenate([layer.get_param("b") for layer in layers])))
    size = width * length
    for k, layer in enumerate(layers):
        layer.set_param("W", weights[k * size:(k + 1) * size])
    return stacked


def _ids(words: Sequence[str]) -> np.ndarray:
    """The string ids of features, as thinc's sparse layers read them."""
    return np.fromiter(map(get_string_id, words), dtype=np.uint64, count=len(words))


def _logistic(totals: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) in float64."""
    return 1.0 / (1.0 + np.exp(-totals.astype(np.float64)))


def _usable(sparse: Model, width: int) -> bool:  # type: ignore[type-arg]
    """Whether sparse is a trained thinc SparseLinear.v2 layer (not v1's indexing) of that width."""
    return bool(not sparse.attrs.get("v1_indexing", True) and sparse.has_param("W")
                and sparse.get_param("W") is not None and sparse.get_dim("nO") == width)
