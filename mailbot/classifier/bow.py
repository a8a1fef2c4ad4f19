"""The forward pass of spaCy's bag-of-words text categoriser, without Doc or thinc layers.

``spacy.TextCatBOW.v3`` with ``ngram_size = 1`` is a linear model: each distinct token (its
ORTH hash) adds its count times two hashed weight rows (``thinc`` ``SparseLinear.v2``) to a
bias, and a logistic turns the sums into scores. Building a spaCy ``Doc`` and walking thinc's
layers costs several times the sum itself on a short mail, so :class:`BowScorer` computes the
sum directly from the trained weights. It reads the weights from the loaded pipeline (the model
on disk stays spaCy's) and declines any other architecture, which then goes through spaCy;
``tests/test_classifier.py`` checks both give the same scores.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
from murmurhash.mrmr import hash_bytes
from spacy.strings import get_string_id

_M32 = 0xFFFFFFFF
# The layers of spaCy's TextCatBOW ("with_cpu(extract_ngrams>>resizable(sparse_linear))>>with_cpu(logistic)").
_BOW_PARTS = frozenset({"with_cpu", "extract_ngrams", "resizable", "sparse_linear", "logistic"})
_LAYER_PART = re.compile(r"[\w-]+")
# Words whose weight rows are remembered (a few MB). A full cache keeps what it has: the words
# that come first and often stay cached, the long tail of rare words and stem pairs is hashed
# each time (clearing a full cache made it useless once the pairs came in).
CACHE_WORDS = 50_000


class BowScorer:
    """Scores of a trained unigram bag-of-words ``textcat_multilabel``, computed with numpy."""

    def __init__(self, labels: Sequence[str], weights: np.ndarray, bias: np.ndarray) -> None:
        """weights: (length, labels) rows indexed by hash; bias: (labels,)."""
        self.labels = tuple(labels)
        self.weights = weights
        self.bias = bias
        self.length = weights.shape[0]
        self._rows: dict[str, tuple[int, int]] = {}

    @classmethod
    def of(cls, textcat) -> BowScorer | None:  # type: ignore[no-untyped-def]
        """A scorer for textcat's model, or None if it is not a unigram bag of words with a logistic."""
        model = textcat.model
        names = [layer.name for layer in model.walk()]
        if "extract_ngrams" not in names or "sparse_linear" not in names or "logistic" not in names:
            return None
        # An ensemble holds the same bag of words beside a CNN; its linear part alone scores
        # nonsense, so the whole model must be made of nothing else.
        if not set(_LAYER_PART.findall(model.name)) <= _BOW_PARTS:
            return None
        extract = next(layer for layer in model.walk() if layer.name == "extract_ngrams")
        sparse = next(layer for layer in model.walk() if layer.name == "sparse_linear")
        from spacy.attrs import ORTH

        if extract.attrs.get("ngram_size") != 1 or extract.attrs.get("attr") != ORTH:
            return None
        if sparse.attrs.get("v1_indexing", True) or not sparse.has_param("W") or sparse.get_param("W") is None:
            return None
        n_out, length = sparse.get_dim("nO"), sparse.get_dim("length")
        if n_out != len(textcat.labels):
            return None
        weights = np.ascontiguousarray(np.asarray(sparse.get_param("W"), dtype=np.float32).reshape(n_out, length).T)
        return cls(textcat.labels, weights, np.asarray(sparse.get_param("b"), dtype=np.float32))

    def rows(self, word: str) -> tuple[int, int]:
        """The two weight rows of word (hashes cached per word).

        thinc's SparseLinear hashes a feature's 64-bit id with MurmurHash3_x86_32 (seeds 0 and 1):
        the 32-bit hash of its eight little-endian bytes, which ``murmurhash`` (a spaCy
        dependency) computes in C. Hashing in Python cost a fifth of the classification time
        once the stem pairs, mostly new to the cache, came in.
        """
        found = self._rows.get(word)
        if found is None:
            key = get_string_id(word).to_bytes(8, "little")
            found = ((hash_bytes(key, 0) & _M32) % self.length, (hash_bytes(key, 1) & _M32) % self.length)
            if len(self._rows) < CACHE_WORDS:
                self._rows[word] = found
        return found

    def scores(self, words: Sequence[str]) -> dict[str, float]:
        """Label -> score for a mail given as its tokens (spaCy scores an empty mail 0 everywhere)."""
        if not words:
            return dict.fromkeys(self.labels, 0.0)
        counts = Counter(words)
        cached, rows = self._rows.get, self.rows
        index: list[int] = []
        for word in counts:
            index.extend(cached(word) or rows(word))
        weight = np.fromiter(counts.values(), dtype=np.float32, count=len(counts)).repeat(2)
        totals = self.bias + weight @ self.weights[index]
        probs = 1.0 / (1.0 + np.exp(-totals.astype(np.float64)))
        return dict(zip(self.labels, probs.tolist()))
