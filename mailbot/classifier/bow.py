"""The forward pass of the bag-of-words text categorisers, without Doc or the layers around the sums.

``spacy.TextCatBOW.v3`` with ``ngram_size = 1`` is a linear model: each distinct token (its
ORTH hash) adds its count times two hashed weight rows (``thinc`` ``SparseLinear.v2``) to a
bias, and a logistic turns the sums into scores. ``mailbot.HiddenBOW.v1``
(:mod:`mailbot.classifier.architecture`) sums rows the same way into hidden units as well,
rectifies them and adds a dense layer's output to the linear sums; with ``sentences = true`` it
also sums each sentence's rows of a third table and adds each label's highest sentence sum (or
their logsumexp, with ``sentence_pool = "logsumexp"``).
Building a spaCy ``Doc`` and walking thinc's layers costs several times the sums themselves on
a short mail, so :class:`BowScorer` computes the sums from the trained sparse layers' weights
and does the rest with numpy. It declines any other architecture, which then goes through
spaCy; ``tests/test_classifier.py`` checks both give the same scores.

thinc keeps a sparse layer's weights label by label: a feature's weights for 64 outputs lie
64 rows apart, and summing them read one cache line per output, most of them from main memory
(the tables are 3 to 8 MB). :class:`HashedTable` keeps them feature by feature, so a feature's
row is a few neighbouring cache lines, and hashes every feature of a mail at once
(:func:`feature_hashes`); the sums are added in thinc's order, so they are the same to the bit.

A model of several members (networks fitted from different seeds, see ``training.fit``) is
scored as one: :meth:`BowScorer.stacked` lays their tables side by side and averages their
log-odds.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, chain
from typing import cast

import numpy as np
from spacy.strings import get_string_id
from thinc.api import Model
from thinc.types import Floats1d

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


@dataclass(frozen=True)
class HashedTable:
    """The weights of thinc ``SparseLinear.v2`` layers of one length, one row per hashed slot.

    ``rows[slot]`` holds what a feature hashed to that slot adds to each output (the layers'
    outputs side by side); the last row holds the biases, so that a sum starts from it as
    thinc's does.
    """

    rows: np.ndarray  # (length + 1, width), float32

    @classmethod
    def of(cls, layers: Sequence[Model], release: bool = False) -> HashedTable:  # type: ignore[type-arg]
        """The weights of layers (same length), their outputs side by side.

        release: take the weights out of the layers, which then cannot run (loading a model
        would otherwise hold every weight twice).
        """
        length = layers[0].get_dim("length")
        widths = [layer.get_dim("nO") for layer in layers]
        rows = np.empty((length + 1, sum(widths)), dtype=np.float32)
        column = 0
        for layer, width in zip(layers, widths):
            rows[:length, column:column + width] = np.asarray(layer.get_param("W")).reshape(width, length).T
            rows[length, column:column + width] = layer.get_param("b")
            column += width
            if release:
                layer.set_param("W", cast(Floats1d, np.zeros(0, dtype=np.float32)))
        return cls(rows)

    @property
    def length(self) -> int:
        """How many hashed slots the table has."""
        return self.rows.shape[0] - 1

    def mail_rows(self, hashes: np.ndarray) -> np.ndarray:
        """The rows a mail's sum adds, in thinc's order: the bias row, then each feature's two slots.

        hashes: (2, n), each feature's two hashes (:func:`feature_hashes`).
        """
        out = np.empty(2 * hashes.shape[1] + 1, dtype=np.intp)
        out[0] = self.length
        out[1:].reshape(-1, 2)[:] = (hashes % np.uint32(self.length)).T
        return out

    def sums(self, rows: np.ndarray) -> np.ndarray:
        """The sum of rows (from :meth:`mail_rows`), added one by one as thinc adds them: the same to the bit."""
        return mail_sum(self.rows[rows])

    def sentence_sums(self, rows: np.ndarray, sentences: Sequence[Sequence[int]]) -> np.ndarray:
        """(sentences, width): each sentence's bias plus its features' rows.

        rows: the mail's (:meth:`mail_rows`); sentences: each sentence's features as positions
        in the mail's (none empty). numpy adds each sentence's rows in its own order here, not
        one by one: the sums agree with thinc's to float32 rounding, not to the bit.
        """
        return sentence_sums(self.rows[rows], sentences)


def mail_sum(gathered: np.ndarray) -> np.ndarray:
    """The sum of a mail's rows, already looked up: numpy adds them one by one down each column,
    in thinc's order, whatever the width (so the sentence columns beside them change nothing)."""
    return gathered.sum(axis=0)


def sentence_sums(gathered: np.ndarray, sentences: Sequence[Sequence[int]]) -> np.ndarray:
    """(sentences, width): each sentence's sum, from the rows a mail's sum adds, already looked up.

    gathered: a table's rows at the mail's :meth:`HashedTable.mail_rows` (the bias row first),
    or some of their columns. Picking from these few rows rather than from the table again
    reads memory the mail's sum has just brought into the cache.
    """
    # Feature k's two rows are gathered[2k + 1] and gathered[2k + 2]: as pairs, a sentence's
    # features pick theirs in one step, in the order thinc would add them.
    ends = list(accumulate(map(len, sentences)))
    flat = np.fromiter(chain.from_iterable(sentences), dtype=np.intp, count=ends[-1])
    width = gathered.shape[1]
    picked = gathered[1:].reshape(-1, 2, width)[flat].reshape(-1, width)
    starts = np.array([0, *ends[:-1]], dtype=np.intp)
    starts *= 2
    return np.add.reduceat(picked, starts, axis=0) + gathered[0]


class BowScorer:
    """Scores of a trained unigram bag-of-words ``textcat_multilabel``, from its sparse layers' weights."""

    def __init__(
        self, labels: Sequence[str], tables: Sequence[HashedTable], output: tuple[np.ndarray, np.ndarray] | None = None,
        direct: int = 0, sentence: HashedTable | None = None, smooth: bool = False, members: int = 1,
        sentence_in: tuple[int, int] | None = None,
    ) -> None:
        """tables: the weights of the sparse layers whose sums over the mail's features come side by side.

        output: for ``mailbot.HiddenBOW.v1``, the dense layer (weights (labels, hidden), bias
        (labels,)) that reads the rectified sums after the first ``direct`` columns, which are
        the labels' own sums (the wide part; 0 without one). None for spaCy's bag of words,
        whose sums are all the labels' own. sentence: the linear layer that scores each
        sentence, whose best score per label is added (the network's ``sentences`` option);
        None without one. smooth: the best is a logsumexp over the sentences, not their max.
        members: how many networks' sums the tables hold side by side (see :meth:`stacked`);
        their log-odds are averaged. sentence_in: (part, column) where the sentence layer's
        weights sit in tables[part] from that column on, beside that part's own (see
        :meth:`stacked`), instead of in a table of their own.
        """
        self.labels = tuple(labels)
        self.tables = tuple(tables)
        self.output = output
        self.direct = direct
        self.sentence = sentence
        self.smooth = smooth
        self.members = members
        self.sentence_in = sentence_in

    @classmethod
    def stacked(cls, textcats: Sequence, release: bool = False) -> BowScorer | None:  # type: ignore[type-arg]
        """One scorer for one network or several of the same shape (an ensemble's members), or None.

        Each part's tables of the members become one table whose rows hold their outputs side
        by side, so a mail costs one hashing of its features and one look-up per part, not one
        per member. The dense layer reads all the members' hidden units with its weights divided
        by their number, which averages their outputs; the linear and best-sentence sums are
        averaged after the look-up. release: take the weights out of the members' layers (see
        :meth:`HashedTable.of`).
        """
        members = [_Network.of(textcat) for textcat in textcats]
        if not members or any(member is None for member in members):
            return None
        networks = cast(list[_Network], members)
        first = networks[0]
        if len({network.shape for network in networks}) != 1:
            return None
        n = len(networks)
        parts = [[network.layers[i] for network in networks] for i in range(len(first.layers))]
        sentence_layers = [cast(Model, m.sentence) for m in networks] if first.sentence is not None else []
        # The sentence layer's weights go beside those of a part of the same length, so that a
        # feature's slot brings both in one look-up (one cache miss, not two).
        beside = next((i for i, part in enumerate(parts) if sentence_layers
                       and part[0].get_dim("length") == sentence_layers[0].get_dim("length")), None)
        sentence_in = None
        if beside is not None:
            sentence_in = (beside, sum(layer.get_dim("nO") for layer in parts[beside]))
            parts[beside] = parts[beside] + sentence_layers
        tables = [HashedTable.of(part, release) for part in parts]
        output = None
        if first.output is not None:
            output = (np.concatenate([cast(tuple, m.output)[0] / np.float32(n) for m in networks], axis=1),
                      (sum(cast(tuple, m.output)[1] for m in networks) / np.float32(n)).astype(np.float32))
        sentence = HashedTable.of(sentence_layers, release) if sentence_layers and beside is None else None
        return cls(first.labels, tables, output, first.direct * n, sentence, first.smooth, n, sentence_in)

    @classmethod
    def of(cls, textcat) -> BowScorer | None:  # type: ignore[no-untyped-def]
        """A scorer for textcat's model, or None if it is not a unigram bag of words with a logistic."""
        return cls.stacked([textcat])

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
        """Each label's sum before the logistic, for a mail's features given as string ids."""
        hashes = feature_hashes(ids)
        rows: dict[int, np.ndarray] = {}  # the mail's rows in tables of each length (wide and sentence share one)
        sums = []
        by_sentence = None
        for part, table in enumerate(self.tables):
            if table.length not in rows:
                rows[table.length] = table.mail_rows(hashes)
            gathered = table.rows[rows[table.length]]
            if self.sentence_in is not None and self.sentence_in[0] == part:
                column = self.sentence_in[1]
                if sentences:
                    by_sentence = sentence_sums(gathered[:, column:], sentences)
                sums.append(mail_sum(gathered)[:column])
            else:
                sums.append(mail_sum(gathered))
        n = self.members
        if self.output is not None and len(sums) == 2 and self.direct:
            # The wide part and the hidden units, each of its own table: no joining and slicing.
            direct, units = sums
        else:
            totals = np.concatenate(sums) if len(sums) > 1 else sums[0]
            direct, units = totals[:self.direct], totals[self.direct:]
        if self.output is not None:
            weights, bias = self.output
            # An elementwise product and numpy's sum, not BLAS's `@`: BLAS adds in an order of
            # the processor's, and training tunes the thresholds on these scores.
            hidden = (weights * np.maximum(units, 0.0)).sum(axis=1) + bias
            if not self.direct:
                totals = hidden
            elif n == 1:
                totals = hidden + direct
            else:
                totals = hidden + _mean(direct, n)
        elif n > 1:
            totals = _mean(totals, n)
        if self.sentence is not None and sentences:
            table = self.sentence
            if table.length not in rows:
                rows[table.length] = table.mail_rows(hashes)
            by_sentence = table.sentence_sums(rows[table.length], sentences)
        if by_sentence is not None:
            # Column by column: the members' labels side by side are pooled as each member's alone.
            best = logsumexp_rows(by_sentence) if self.smooth else by_sentence.max(axis=0)
            totals = totals + (_mean(best, n) if n > 1 else best)
        return totals


# MurmurHash3_x86_32's constants, as numpy scalars so that the arithmetic stays in 32 bits.
_C1, _C2, _M, _N = (np.uint32(x) for x in (0xCC9E2D51, 0x1B873593, 5, 0xE6546B64))
_F1, _F2, _KEY_BYTES = np.uint32(0x85EBCA6B), np.uint32(0xC2B2AE35), np.uint32(8)
_SHIFT = {bits: np.uint32(bits) for bits in (13, 15, 16, 17, 19)}
_SEEDS = np.array([[0], [1]], dtype=np.uint32)
_LITTLE_ENDIAN = sys.byteorder == "little"


def feature_hashes(ids: np.ndarray) -> np.ndarray:
    """(2, n): thinc's two hashes of each of n string ids (``MurmurHash3_x86_32`` of the 64-bit
    id with seeds 0 and 1), for all of them at once; in place where it can, since on a mail's
    hundred features each numpy call costs more than its arithmetic."""
    s = _SHIFT
    halves = np.ascontiguousarray(ids, dtype=np.uint64).view(np.uint32).reshape(len(ids), 2).T
    k = (halves if _LITTLE_ENDIAN else halves[::-1]) * _C1  # each id's low 32 bits, then its high 32
    t = k >> s[17]
    k <<= s[15]
    k |= t
    k *= _C2
    h = k[0] ^ _SEEDS
    for block in (k[1], None):
        t = h >> s[19]
        h <<= s[13]
        h |= t
        h *= _M
        h += _N
        if block is not None:
            h ^= block
    h ^= _KEY_BYTES
    h ^= h >> s[16]
    h *= _F1
    h ^= h >> s[13]
    h *= _F2
    h ^= h >> s[16]
    return h


@dataclass(frozen=True)
class _Network:
    """The parts of one trained bag-of-words network that the scorer reads."""

    labels: tuple[str, ...]
    layers: tuple[Model, ...]  # type: ignore[type-arg]  # sparse layers summed over the mail, side by side
    output: tuple[np.ndarray, np.ndarray] | None
    direct: int
    sentence: Model | None  # type: ignore[type-arg]
    smooth: bool

    @property
    def shape(self) -> tuple[object, ...]:
        """What must agree for networks to be stacked."""
        return (tuple((layer.get_dim("nO"), layer.get_dim("length")) for layer in self.layers), self.direct,
                self.output is None, self.sentence is None, self.smooth, self.labels)

    @classmethod
    def of(cls, textcat) -> _Network | None:  # type: ignore[no-untyped-def]
        """textcat's network, or None if it is not a unigram bag of words with a logistic."""
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
        labels = tuple(textcat.labels)
        n_labels = len(labels)
        if not hidden:
            sparse = next(layer for layer in model.walk() if layer.name == "sparse_linear")
            return cls(labels, (sparse,), None, 0, None, False) if _usable(sparse, n_labels) else None
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
            return cls(labels, (deep,), output, 0, sentence, smooth)
        return cls(labels, (wide, deep), output, n_labels, sentence, smooth)


def _ids(words: Sequence[str]) -> np.ndarray:
    """The string ids of features, as thinc's sparse layers read them."""
    return np.fromiter(map(get_string_id, words), dtype=np.uint64, count=len(words))


def _mean(values: np.ndarray, n: int) -> np.ndarray:
    """The mean of n equal parts of values, laid end to end (what ndarray.mean computes, without its overhead)."""
    return values.reshape(n, -1).sum(axis=0) / np.float32(n)


def _logistic(totals: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) in float64."""
    return 1.0 / (1.0 + np.exp(-totals.astype(np.float64)))


def _usable(sparse: Model, width: int) -> bool:  # type: ignore[type-arg]
    """Whether sparse is a trained thinc SparseLinear.v2 layer (not v1's indexing) of that width."""
    return bool(not sparse.attrs.get("v1_indexing", True) and sparse.has_param("W")
                and sparse.get_param("W") is not None and sparse.get_dim("nO") == width)
