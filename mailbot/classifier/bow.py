"""The forward pass of the bag-of-words text categorisers, without Doc or thinc layers.

``spacy.TextCatBOW.v3`` with ``ngram_size = 1`` is a linear model: each distinct token (its
ORTH hash) adds its count times two hashed weight rows (``thinc`` ``SparseLinear.v2``) to a
bias, and a logistic turns the sums into scores. ``mailbot.HiddenBOW.v1``
(:mod:`mailbot.classifier.architecture`) sums rows the same way into hidden units as well,
rectifies them and adds a dense layer's output to the linear sums. Building a spaCy ``Doc``
and walking thinc's layers costs several times the sums themselves on a short mail, so
:class:`BowScorer` computes them directly from the trained weights. It reads the weights from
the loaded pipeline (the model on disk stays spaCy's) and declines any other architecture,
which then goes through spaCy; ``tests/test_classifier.py`` checks both give the same scores.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import cast

import numpy as np
from murmurhash.mrmr import hash_bytes
from spacy.strings import get_string_id

_M32 = 0xFFFFFFFF
# The layers of spaCy's TextCatBOW ("with_cpu(extract_ngrams>>resizable(sparse_linear))>>with_cpu(logistic)").
_BOW_PARTS = frozenset({"with_cpu", "extract_ngrams", "resizable", "sparse_linear", "logistic"})
# mailbot.HiddenBOW.v1: the same, then a rectifier, dropout (nothing at run time), a dense layer
# and the logistic (the last two computed in a fixed order, see architecture.py).
_HIDDEN_PARTS = _BOW_PARTS | {"relu_activation", "dropout", "exact_linear", "exact_logistic", "add"}
_LAYER_PART = re.compile(r"[\w-]+")
# Words whose summed weight rows are remembered (2 MB for ten labels, 8 MB with the hidden
# layer's 32 columns more). 100,000 words ran no faster in bench/bench_classifier.py (5,000
# mails bring 109,000 distinct features, most of them once) and cost 10 MB more of peak RSS,
# mostly the dictionary's keys.
CACHE_WORDS = 50_000


class BowScorer:
    """Scores of a trained unigram bag-of-words ``textcat_multilabel``, computed with numpy."""

    def __init__(
        self, labels: Sequence[str], weights: np.ndarray | tuple[np.ndarray, ...], bias: np.ndarray,
        output: tuple[np.ndarray, np.ndarray] | None = None, direct: int = 0,
    ) -> None:
        """weights: (length, width) rows indexed by hash, or several such side by side; bias: (width,).

        output: for ``mailbot.HiddenBOW.v1``, the dense layer (weights (labels, hidden), bias
        (labels,)) that reads the rectified sums after the first ``direct`` columns, which are
        the labels' own sums (the wide part; 0 without one). None for spaCy's bag of words,
        whose sums are all the labels' own.
        """
        self.labels = tuple(labels)
        self.parts = weights if isinstance(weights, tuple) else (weights,)
        self.bias = bias
        self.length = max(len(part) for part in self.parts)  # the others: powers of two below it
        self.output = output
        self.direct = direct
        # A cached word's two weight rows, summed once into a slot of a table of their own:
        # scoring a mail then gathers one row per word instead of two and hashes nothing.
        self._slots: dict[str, int] = {}
        self._table = np.zeros((CACHE_WORDS, len(bias)), dtype=np.float32)
        # (slot, first row, second row) of the words remembered while scoring the current mail.
        self._pending: list[tuple[int, int, int]] = []

    @classmethod
    def of(cls, textcat) -> BowScorer | None:  # type: ignore[no-untyped-def]
        """A scorer for textcat's model, or None if it is not a unigram bag of words with a logistic."""
        model = textcat.model
        hidden = model.has_ref("hidden_layer")
        names = {part for layer in model.walk() for part in _LAYER_PART.findall(layer.name)}
        if not {"extract_ngrams", "sparse_linear", "exact_logistic" if hidden else "logistic"} <= names:
            return None
        # An ensemble holds the same bag of words beside a CNN; its linear part alone scores
        # nonsense, so the whole model must be made of nothing else.
        if not names <= (_HIDDEN_PARTS if hidden else _BOW_PARTS):
            return None
        extract = next(layer for layer in model.walk() if layer.name == "extract_ngrams")
        from spacy.attrs import ORTH

        if extract.attrs.get("ngram_size") != 1 or extract.attrs.get("attr") != ORTH:
            return None
        if not hidden:
            sparse = next(layer for layer in model.walk() if layer.name == "sparse_linear")
            found = _sparse_weights(sparse, len(textcat.labels))
            return cls(textcat.labels, *found) if found else None
        dense = model.get_ref("output_layer")
        deep = _sparse_weights(model.get_ref("hidden_layer"), dense.get_dim("nI"))
        wide = _sparse_weights(model.get_ref("wide_layer"), len(textcat.labels)) if model.has_ref("wide_layer") else None
        if deep is None or dense.get_dim("nO") != len(textcat.labels) or (model.has_ref("wide_layer") and wide is None):
            return None
        output = (np.asarray(dense.get_param("W"), dtype=np.float32), np.asarray(dense.get_param("b"), dtype=np.float32))
        if wide is None:
            return cls(textcat.labels, deep[0], deep[1], output)
        return cls(textcat.labels, (wide[0], deep[0]), np.concatenate([wide[1], deep[1]]), output, len(wide[1]))

    def rows(self, word: str) -> tuple[int, int]:
        """The two weight rows of word.

        thinc's SparseLinear hashes a feature's 64-bit id with MurmurHash3_x86_32 (seeds 0 and 1):
        the 32-bit hash of its eight little-endian bytes, which ``murmurhash`` (a spaCy
        dependency) computes in C. Hashing in Python cost a fifth of the classification time
        once the stem pairs, mostly new to the cache, came in.
        """
        key = get_string_id(word).to_bytes(8, "little")
        return (hash_bytes(key, 0) & _M32) % self.length, (hash_bytes(key, 1) & _M32) % self.length

    def scores(self, words: Sequence[str]) -> dict[str, float]:
        """Label -> score for a mail given as its tokens (spaCy scores an empty mail 0 everywhere).

        A word that comes n times adds its rows n times, as spaCy's count-weighted sum does.
        """
        if not words:
            return dict.fromkeys(self.labels, 0.0)
        found: list[int | None] = list(map(self._slots.get, words))
        totals = self.bias.copy()
        if None in found:
            uncached: list[int] = []
            for i, word in enumerate(words):
                if found[i] is None:
                    found[i] = self._remember(word, uncached)
            if self._pending:
                self._fill()
            if uncached:
                totals += self._sum_rows(uncached)
            slots = [i for i in found if i is not None]
        else:
            slots = cast(list[int], found)
        totals += self._table[slots].sum(axis=0)
        if self.output is not None:
            weights, bias = self.output
            # An elementwise product and numpy's sum, not BLAS's `@`: BLAS adds in an order of
            # the processor's, and training tunes the thresholds on these scores.
            hidden = (weights * np.maximum(totals[self.direct:], 0.0)).sum(axis=1) + bias
            totals = hidden + totals[:self.direct] if self.direct else hidden
        probs = 1.0 / (1.0 + np.exp(-totals.astype(np.float64)))
        return dict(zip(self.labels, probs.tolist()))

    def _sum_rows(self, rows: list[int]) -> np.ndarray:
        """The sum of the given weight rows, across all parts side by side."""
        if len(self.parts) == 1:
            return self.parts[0][rows].sum(axis=0)
        index = np.asarray(rows, dtype=np.intp)  # converted once, not once per part
        return np.concatenate([part[self._within(part, index)].sum(axis=0) for part in self.parts])

    def _within(self, part: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """rows as indices of part: a part with fewer hashed rows (a power of two) takes them modulo its length."""
        return rows if len(part) == self.length else rows % len(part)

    def _fill(self) -> None:
        """Write the summed rows of the words remembered for this mail into their slots, at once."""
        slots, firsts, seconds = np.array(self._pending, dtype=np.intp).T
        self._pending.clear()
        start = 0
        for part in self.parts:
            end = start + part.shape[1]
            self._table[slots, start:end] = part[self._within(part, firsts)] + part[self._within(part, seconds)]
            start = end

    def fresh(self) -> BowScorer:
        """A scorer with the same weights and an empty cache."""
        return BowScorer(self.labels, self.parts if len(self.parts) > 1 else self.parts[0], self.bias,
                         self.output, self.direct)

    def forget(self) -> None:
        """Forget the remembered words (their slots are overwritten as words come again)."""
        self._slots.clear()
        self._pending.clear()

    def _remember(self, word: str, uncached: list[int]) -> int | None:
        """word's slot, made now if the table has room; else None, its two rows added to uncached.

        The slot's rows are summed by :meth:`_fill` with the other new words of the mail: a
        handful of numpy calls per mail rather than per new word, which matters because most
        words of a mail are new to a process that has just started.

        A full table keeps what it has: the words that come first and often stay, the long tail
        of rare words and stem pairs is hashed each time (clearing it made it useless).
        """
        found = self._slots.get(word)
        if found is not None:
            return found  # a word seen twice in one mail
        first, second = self.rows(word)
        n = len(self._slots)
        if n >= min(CACHE_WORDS, len(self._table)):
            uncached += (first, second)
            return None
        self._pending.append((n, first, second))
        self._slots[word] = n
        return n


def _sparse_weights(sparse, width: int) -> tuple[np.ndarray, np.ndarray] | None:  # type: ignore[no-untyped-def]
    """(rows (length, width), bias) of a thinc SparseLinear.v2 layer of that width, or None.

    The rows are a view of the layer's weights, not a copy: with a hidden layer they are
    several MB, and rows are only read the first time a word comes.
    """
    if sparse.attrs.get("v1_indexing", True) or not sparse.has_param("W") or sparse.get_param("W") is None:
        return None
    n_out, length = sparse.get_dim("nO"), sparse.get_dim("length")
    if n_out != width:
        return None
    weights = np.asarray(sparse.get_param("W"), dtype=np.float32).reshape(n_out, length).T
    return weights, np.asarray(sparse.get_param("b"), dtype=np.float32)
