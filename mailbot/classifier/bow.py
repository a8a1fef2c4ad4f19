"""The forward pass of the bag-of-words text categorisers, without Doc or thinc layers.

``spacy.TextCatBOW.v3`` with ``ngram_size = 1`` is a linear model: each distinct token (its
ORTH hash) adds its count times two hashed weight rows (``thinc`` ``SparseLinear.v2``) to a
bias, and a logistic turns the sums into scores. ``mailbot.HiddenBOW.v1``
(:mod:`mailbot.classifier.architecture`) sums rows the same way into hidden units as well,
rectifies them and adds a dense layer's output to the linear sums; with ``sentences = true`` it
also sums each sentence's rows of a third table and adds each label's highest sentence sum.
Building a spaCy ``Doc``
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
# With the sentences option: the Doc split into the mail's bag and its sentences', and the best
# sentence's linear score added.
_SENTENCE_PARTS = (_HIDDEN_PARTS - {"extract_ngrams"}) | {"extract_blocks", "mail_and_sentences", "sentence_max"}
_LAYER_PART = re.compile(r"[\w-]+")
# Words whose summed weight rows are remembered (1.6 MB for ten labels, 8.3 MB with the hidden
# layer's 32 columns and the sentence part's 10 more). 100,000 words ran no faster in
# bench/bench_classifier.py (5,000 mails bring 109,000 distinct features, most of them once) and
# cost 10 MB more of peak RSS, mostly the dictionary's keys; 40,000 ran as fast as 50,000 with the
# sentence part and kept 5 MB of peak RSS off the 150 MB goal.
CACHE_WORDS = 40_000


class BowScorer:
    """Scores of a trained unigram bag-of-words ``textcat_multilabel``, computed with numpy."""

    def __init__(
        self, labels: Sequence[str], weights: np.ndarray | tuple[np.ndarray, ...], bias: np.ndarray,
        output: tuple[np.ndarray, np.ndarray] | None = None, direct: int = 0,
        sentence: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """weights: (length, width) rows indexed by hash, or several such side by side; bias: (width,).

        output: for ``mailbot.HiddenBOW.v1``, the dense layer (weights (labels, hidden), bias
        (labels,)) that reads the rectified sums after the first ``direct`` columns, which are
        the labels' own sums (the wide part; 0 without one). None for spaCy's bag of words,
        whose sums are all the labels' own. sentence: the rows (length, labels) and bias of the
        linear layer that scores each sentence, whose best score per label is added (the
        network's ``sentences`` option); None without one.
        """
        self.labels = tuple(labels)
        self.parts = weights if isinstance(weights, tuple) else (weights,)
        self.bias = bias
        self.width = len(bias)  # the columns of the mail's sums; a sentence part's follow them
        self.sentence = sentence
        if sentence is not None:
            self.parts = (*self.parts, sentence[0])
        self.length = max(len(part) for part in self.parts)  # the others: powers of two below it
        self.output = output
        self.direct = direct
        # A cached word's two weight rows, summed once into a slot of a table of their own:
        # scoring a mail then gathers one row per word instead of two and hashes nothing.
        self._slots: dict[str, int] = {}
        self._table = np.zeros((CACHE_WORDS, sum(part.shape[1] for part in self.parts)), dtype=np.float32)
        # (slot, first row, second row) of the words remembered while scoring the current mail.
        self._pending: list[tuple[int, int, int]] = []

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
        if not hidden:
            sparse = next(layer for layer in model.walk() if layer.name == "sparse_linear")
            found = _sparse_weights(sparse, len(textcat.labels))
            return cls(textcat.labels, *found) if found else None
        dense = model.get_ref("output_layer")
        deep = _sparse_weights(model.get_ref("hidden_layer"), dense.get_dim("nI"))
        wide = _sparse_weights(model.get_ref("wide_layer"), len(textcat.labels)) if model.has_ref("wide_layer") else None
        if deep is None or dense.get_dim("nO") != len(textcat.labels) or (model.has_ref("wide_layer") and wide is None):
            return None
        sentence = _sparse_weights(model.get_ref("sentence_layer"), len(textcat.labels)) if by_sentence else None
        if by_sentence and sentence is None:
            return None
        output = (np.asarray(dense.get_param("W"), dtype=np.float32), np.asarray(dense.get_param("b"), dtype=np.float32))
        if wide is None:
            return cls(textcat.labels, deep[0], deep[1], output, sentence=sentence)
        return cls(textcat.labels, (wide[0], deep[0]), np.concatenate([wide[1], deep[1]]), output, len(wide[1]),
                   sentence)

    def rows(self, word: str) -> tuple[int, int]:
        """The two weight rows of word.

        thinc's SparseLinear hashes a feature's 64-bit id with MurmurHash3_x86_32 (seeds 0 and 1):
        the 32-bit hash of its eight little-endian bytes, which ``murmurhash`` (a spaCy
        dependency) computes in C. Hashing in Python cost a fifth of the classification time
        once the stem pairs, mostly new to the cache, came in.
        """
        key = get_string_id(word).to_bytes(8, "little")
        return (hash_bytes(key, 0) & _M32) % self.length, (hash_bytes(key, 1) & _M32) % self.length

    def scores(self, words: Sequence[str], sentences: Sequence[Sequence[int]] = ()) -> dict[str, float]:
        """Label -> score for a mail given as its features (spaCy scores an empty mail 0 everywhere).

        A word that comes n times adds its rows n times, as spaCy's count-weighted sum does.
        sentences: for a network that reads sentences, each sentence's features as positions
        in words (see :func:`mailbot.classifier.normalisation.features_by_sentence`).
        """
        if not words:
            return dict.fromkeys(self.labels, 0.0)
        rows = self._rows(words)
        totals = self.bias + rows.sum(axis=0)[:self.width]
        if self.output is not None:
            weights, bias = self.output
            # An elementwise product and numpy's sum, not BLAS's `@`: BLAS adds in an order of
            # the processor's, and training tunes the thresholds on these scores.
            hidden = (weights * np.maximum(totals[self.direct:], 0.0)).sum(axis=1) + bias
            totals = hidden + totals[:self.direct] if self.direct else hidden
        if self.sentence is not None and sentences:
            flat = [i for sentence in sentences for i in sentence]
            starts = np.cumsum([0, *map(len, sentences[:-1])])
            by_sentence = np.add.reduceat(rows[flat, self.width:], starts, axis=0)
            totals = totals + by_sentence.max(axis=0) + self.sentence[1]
        probs = 1.0 / (1.0 + np.exp(-totals.astype(np.float64)))
        return dict(zip(self.labels, probs.tolist()))

    def _rows(self, words: Sequence[str]) -> np.ndarray:
        """The summed weight rows of each word, all parts side by side: (len(words), columns)."""
        found: list[int | None] = list(map(self._slots.get, words))
        if None not in found:
            return self._table[cast(list[int], found)]
        missing: list[tuple[int, int, int]] = []  # (position, first row, second row) the full cache cannot take
        for i, word in enumerate(words):
            if found[i] is None:
                found[i] = self._remember(word, i, missing)
        if self._pending:
            self._fill()
        if not missing:
            return self._table[cast(list[int], found)]
        rows = self._table[[0 if slot is None else slot for slot in found]]
        positions, firsts, seconds = np.array(missing, dtype=np.intp).T
        rows[positions] = np.concatenate(
            [part[self._within(part, firsts)] + part[self._within(part, seconds)] for part in self.parts], axis=1
        )
        return rows

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
        parts = self.parts[:-1] if self.sentence is not None else self.parts
        return BowScorer(self.labels, parts if len(parts) > 1 else parts[0], self.bias, self.output, self.direct,
                         self.sentence)

    def forget(self) -> None:
        """Forget the remembered words (their slots are overwritten as words come again)."""
        self._slots.clear()
        self._pending.clear()

    def _remember(self, word: str, position: int, missing: list[tuple[int, int, int]]) -> int | None:
        """word's slot, made now if the table has room; else None, (position, its two rows) added to missing.

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
            missing.append((position, first, second))
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
