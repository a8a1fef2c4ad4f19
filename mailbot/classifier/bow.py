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
from collections.abc import Sequence
from typing import cast

import numpy as np
from murmurhash.mrmr import hash_bytes
from spacy.strings import get_string_id

_M32 = 0xFFFFFFFF
# The layers of spaCy's TextCatBOW ("with_cpu(extract_ngrams>>resizable(sparse_linear))>>with_cpu(logistic)").
_BOW_PARTS = frozenset({"with_cpu", "extract_ngrams", "resizable", "sparse_linear", "logistic"})
_LAYER_PART = re.compile(r"[\w-]+")
# Words whose summed weight rows are remembered (2 MB for ten labels). 100,000 words ran no
# faster in bench/bench_classifier.py (5,000 mails bring 109,000 distinct features, most of
# them once) and cost 10 MB more of peak RSS, mostly the dictionary's keys.
CACHE_WORDS = 50_000


class BowScorer:
    """Scores of a trained unigram bag-of-words ``textcat_multilabel``, computed with numpy."""

    def __init__(self, labels: Sequence[str], weights: np.ndarray, bias: np.ndarray) -> None:
        """weights: (length, labels) rows indexed by hash; bias: (labels,)."""
        self.labels = tuple(labels)
        self.weights = weights
        self.bias = bias
        self.length = weights.shape[0]
        # A cached word's two weight rows, summed once into a slot of a table of their own:
        # scoring a mail then gathers one row per word instead of two and hashes nothing.
        self._slots: dict[str, int] = {}
        self._table = np.zeros((CACHE_WORDS, weights.shape[1]), dtype=weights.dtype)

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
            if uncached:
                totals += self.weights[uncached].sum(axis=0)
            slots = [i for i in found if i is not None]
        else:
            slots = cast(list[int], found)
        totals += self._table[slots].sum(axis=0)
        probs = 1.0 / (1.0 + np.exp(-totals.astype(np.float64)))
        return dict(zip(self.labels, probs.tolist()))

    def forget(self) -> None:
        """Forget the remembered words (their slots are overwritten as words come again)."""
        self._slots.clear()

    def _remember(self, word: str, uncached: list[int]) -> int | None:
        """word's slot, made now if the table has room; else None, its two rows added to uncached.

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
        self._table[n] = self.weights[first] + self.weights[second]
        self._slots[word] = n
        return n
