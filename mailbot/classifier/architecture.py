"""The text categoriser's network: the bag of words of spaCy, with one hidden layer.

spaCy's ``TextCatBOW`` is linear: each word adds a fixed amount to each label's score, whatever
else the mail says. Its figures stopped rising with more data (five-fold cross-validation:
macro-F1 0.870 without and 0.871 with the seventeenth batch's 2,000 mails). The same hashed
features summed into a small hidden layer with a rectifier let words act together ("delete"
beside "order" is not "delete" beside "account"), at about the cost of the linear sum.

``mailbot.HiddenBOW.v1``: features (the token hashes, as in ``TextCatBOW``) >> sparse linear
to ``hidden_width`` units >> rectifier >> dropout >> dense to the labels >> logistic. With
``sentences = true`` each sentence is scored by a linear bag of words of its own as well, and
each label's best sentence score (``sentence_pool``: the max, or a smooth maximum) is added
before the logistic: a request or a complaint in one side sentence of a long mail then counts as
much as in a mail of one sentence.
:class:`mailbot.classifier.bow.BowScorer` computes the same forward pass with numpy.

``mailbot classifier train`` must rebuild the committed model byte for byte on any machine, so
nothing in training may round differently on a different processor. thinc's ``Linear`` multiplies
through BLIS and its ``Logistic`` calls numpy's float32 ``exp``; both pick code for the processor
(BLIS kernels that add in another order, numpy's AVX2 ``exp``), and with them the model trained on
one machine differed in its last bits from the model trained on another, the differences grew
over the epochs, and the tuned thresholds came out 0.8 on one and 0.9 on the other. Here the dense
layer multiplies in a fixed order (:func:`exact_matmul`), the logistic works in float64 (rounding
to float32 hides a last-bit difference of float64 ``exp`` but for about one value in 10^9), and
:class:`ExactAdam` sums the gradient's norm for clipping itself (thinc asks BLAS).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from spacy.attrs import ORTH
from spacy.ml.extract_ngrams import extract_ngrams
from spacy.strings import get_string_id
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Dropout, Model, Optimizer, SparseLinear_v2, add, chain
from thinc.initializers import glorot_uniform_init, zero_init
from thinc.types import Floats1d, Floats2d

from mailbot.classifier.normalisation import SENTENCE_MARK

ARCHITECTURE = "mailbot.HiddenBOW.v1"
# Spread of the first layer's starting weights: small, so the first updates, not the draw,
# decide what each unit learns; not zero, or every unit would learn the same.
INIT_SCALE = 0.01


@registry.architectures(ARCHITECTURE)
def build_hidden_bow(
    hidden_width: int, length: int = 65536, wide: bool = True, nO: int | None = None,
    hidden_length: int | None = None, sentences: bool = False, sentence_pool: str = "max",
) -> Model[Any, Floats2d]:
    """A multi-label text categoriser: hashed words -> hidden_width rectified units -> labels.

    wide: also add spaCy's linear bag of words to the labels' sums (the hidden layer learns
    what the words do together, the linear part what each does alone). hidden_length: the
    hidden layer's hashed rows, if not length (fewer rows keep a wider layer small).
    sentences: also score each sentence with a linear bag of words of its own and add, per
    label, the best sentence's score (the Doc holds the mail's features, then each sentence's
    after a SENTENCE_MARK; see :func:`mailbot.classifier.normalisation.model_words`).
    sentence_pool: how each label's sentence scores become one, "max" (the best sentence) or
    "logsumexp" (a smooth maximum: the best sentence, and a little for every other that scores
    near it; while training, each sentence gets the gradient in proportion to its share).
    """
    if sentence_pool not in SENTENCE_POOLS:
        raise ValueError(f"sentence_pool must be one of {sorted(SENTENCE_POOLS)}, not {sentence_pool!r}")
    length = 2 ** (length - 1).bit_length()  # a power of two, as TextCatBOW rounds it
    rows = length if hidden_length is None else 2 ** (hidden_length - 1).bit_length()
    sparse = SparseLinear_v2(nO=hidden_width, length=rows)
    sparse_init = sparse.init

    def init_spread(model: Model, X: Any = None, Y: Any = None) -> Model:  # type: ignore[type-arg]
        """The sparse layer's own init, then seeded small random weights instead of zeros."""
        sparse_init(model, X, Y)  # type: ignore[misc]
        shape = model.get_param("W").shape
        spread = np.random.normal(0.0, INIT_SCALE, shape).astype("f")  # seeded by fit's fix_random_seed
        model.set_param("W", cast(Floats1d, model.ops.asarray1f(cast(Floats1d, spread))))
        return model

    sparse.init = init_spread
    output = exact_linear(nO=nO, nI=hidden_width)
    deep: Model[Any, Floats2d] = chain(sparse, relu_activation(), Dropout(0.0), output)
    # No with_cpu around the layers as TextCatBOW has: it runs what it wraps in training mode,
    # so the dropout inside would drop units when classifying too. mailbot runs on the CPU.
    model: Model[Any, Floats2d]
    linear = SparseLinear_v2(nO=nO, length=length)
    mail = add(linear, deep) if wide else deep
    if sentences:
        best = SparseLinear_v2(nO=nO, length=length)
        model = chain(extract_blocks(), mail_and_sentences(mail, SENTENCE_POOLS[sentence_pool](best)), exact_logistic())
        model.set_ref("sentence_layer", best)
    else:
        model = chain(extract_ngrams(1, attr=ORTH), mail, exact_logistic())
    model.set_ref("output_layer", output)
    model.set_ref("hidden_layer", sparse)
    if wide:
        model.set_ref("wide_layer", linear)
    model.attrs["multi_label"] = True
    if nO is not None:
        model.set_dim("nO", nO)
    return model


SENTENCE_MARK_ID = get_string_id(SENTENCE_MARK)


def extract_blocks() -> Model[list[Doc], Any]:
    """Docs (or their :class:`FeatureBlocks`) -> (the mail's features as ``extract_ngrams(1, ORTH)`` gives them, its sentences').

    The sentences come as one (keys, counts, lengths) triple with a row per sentence, and the
    number of sentences of each Doc.
    """
    return Model("extract_blocks", _extract_blocks_forward)


def _unique_counts(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ids, sorted, and how often each comes (what ``extract_ngrams`` makes of a Doc)."""
    keys, counts = np.unique(ids, return_counts=True)
    return keys.astype(np.uint64), counts.astype(np.float32)


@dataclass(frozen=True)
class FeatureBlocks:
    """What :func:`extract_blocks` reads of one mail's Doc, worked out once.

    Training reads every mail once per pass and member; building a Doc (and spaCy's Example,
    which lists the Doc's words twice) for each cost as much as two passes, and splitting it at
    its sentence marks again each pass a third of a pass.
    """

    mail_keys: np.ndarray  # the mail's distinct feature ids, sorted (uint64)
    mail_counts: np.ndarray  # how often each comes (float32)
    sentence_keys: np.ndarray  # each sentence's distinct ids, sorted, one sentence after the other
    sentence_counts: np.ndarray
    sentence_lengths: np.ndarray  # distinct ids per sentence (int32); sentences without features left out
    words: int  # the length of the Doc these stand for

    @classmethod
    def of(cls, ids: np.ndarray, sentences: Sequence[Sequence[int]] = ()) -> FeatureBlocks:
        """The blocks of a mail whose features have the string ids ids (uint64); sentences: their positions."""
        words = len(ids) + sum(1 + len(s) for s in sentences)  # model_words: each sentence after a mark
        return cls._of(ids, [ids[np.asarray(s, dtype=np.intp)] for s in sentences if len(s)], words)

    @classmethod
    def of_doc(cls, doc: Doc) -> FeatureBlocks:
        """The blocks of a Doc of :func:`mailbot.classifier.normalisation.model_words`."""
        ids = doc.to_array(ORTH).astype(np.uint64)
        blocks = np.split(ids, np.flatnonzero(ids == SENTENCE_MARK_ID))
        # each later block is the mark, then the sentence's features
        return cls._of(blocks[0], [block[1:] for block in blocks[1:] if len(block) > 1], len(doc))

    @classmethod
    def _of(cls, mail: np.ndarray, sentences: list[np.ndarray], words: int) -> FeatureBlocks:
        keys, counts = _unique_counts(mail)
        parts = [_unique_counts(sentence) for sentence in sentences]
        return cls(keys, counts, _join([k for k, _ in parts], np.uint64), _join([c for _, c in parts], np.float32),
                   np.asarray([len(k) for k, _ in parts], dtype=np.int32), words)

    def __len__(self) -> int:
        """The Doc's length (spaCy skips a batch whose Docs are all empty)."""
        return self.words


def _join(parts: Sequence[np.ndarray], dtype: Any) -> np.ndarray:
    """parts end to end as dtype (empty where there are none)."""
    return np.concatenate(parts).astype(dtype) if len(parts) else np.zeros(0, dtype=dtype)


def _extract_blocks_forward(model: Model[list[Doc], Any], docs: list[Any], is_train: bool) -> tuple[Any, Any]:
    """Each Doc split at its sentence marks (or its FeatureBlocks as given), the blocks of all joined."""
    blocks = [doc if isinstance(doc, FeatureBlocks) else FeatureBlocks.of_doc(doc) for doc in docs]
    mail = (_join([b.mail_keys for b in blocks], np.uint64), _join([b.mail_counts for b in blocks], np.float32),
            np.asarray([len(b.mail_keys) for b in blocks], dtype=np.int32))
    sents = (_join([b.sentence_keys for b in blocks], np.uint64), _join([b.sentence_counts for b in blocks], np.float32),
             _join([b.sentence_lengths for b in blocks], np.int32))
    per_doc = np.asarray([len(b.sentence_lengths) for b in blocks], dtype=np.intp)
    return (mail, sents, per_doc), lambda _: []


def mail_and_sentences(mail: Model[Any, Floats2d], sentences: Model[Any, Floats2d]) -> Model[Any, Floats2d]:
    """The sum of mail (on the mail's bag) and sentences (on the sentences and their counts per Doc)."""
    return Model("mail_and_sentences", _mail_and_sentences_forward, init=_mail_and_sentences_init,
                 layers=[mail, sentences], dims={"nO": None})


def _mail_and_sentences_init(model: Model[Any, Floats2d], X: Any = None, Y: Any = None) -> None:
    """Initialise both parts on their own share of sample input; the labels' width from Y."""
    mail, sentences = model.layers
    mail.initialize(X=None if X is None else X[0], Y=Y)
    sentences.initialize(X=None if X is None else (X[1], X[2]), Y=Y)
    model.set_dim("nO", mail.get_dim("nO"))


def _mail_and_sentences_forward(model: Model[Any, Floats2d], X: Any, is_train: bool) -> tuple[Any, Any]:
    """Y = mail(X[0]) + sentences((X[1], X[2])); the gradient goes to both."""
    mail, sentences = model.layers
    Y, mail_back = mail(X[0], is_train)
    Z, sent_back = sentences((X[1], X[2]), is_train)

    def backprop(dY: Any) -> Any:
        mail_back(dY)
        sent_back(dY)
        return []

    return Y + Z, backprop


def sentence_max(linear: Model[Any, Floats2d]) -> Model[Any, Floats2d]:
    """Per Doc and label, the highest score linear gives any of the Doc's sentences (0 without any)."""
    return Model("sentence_max", _sentence_max_forward, init=_sentence_max_init, layers=[linear], dims={"nO": None})


def _sentence_max_init(model: Model[Any, Floats2d], X: Any = None, Y: Any = None) -> None:
    """Initialise the sentences' linear layer on sample sentences; the labels' width from Y."""
    linear = model.layers[0]
    linear.initialize(X=None if X is None or not len(X[0][2]) else X[0], Y=Y)
    model.set_dim("nO", linear.get_dim("nO"))


def _sentence_max_forward(model: Model[Any, Floats2d], X: Any, is_train: bool) -> tuple[Any, Any]:
    """The best sentence per label; the gradient flows to that sentence alone (the first on a tie)."""
    (keys, vals, lengths), per_doc = X
    linear = model.layers[0]
    n_out = linear.get_dim("nO")
    Y = np.zeros((len(per_doc), n_out), dtype=np.float32)
    if not len(lengths):
        return Y, lambda dY: []
    S, linear_back = linear((keys, vals, lengths), is_train)
    has = np.flatnonzero(per_doc)
    starts = np.concatenate([[0], np.cumsum(per_doc)[:-1]])[has]
    Y[has] = np.maximum.reduceat(S, starts, axis=0)
    best = np.empty((len(has), n_out), dtype=np.intp)
    for row, (start, n) in enumerate(zip(starts, per_doc[has])):
        best[row] = start + S[start:start + n].argmax(axis=0)

    def backprop(dY: Any) -> Any:
        dS = np.zeros_like(S)
        dS[best, np.arange(n_out)] = dY[has]
        linear_back(dS)
        return []

    return Y, backprop


def sentence_logsumexp(linear: Model[Any, Floats2d]) -> Model[Any, Floats2d]:
    """Per Doc and label, log(sum(exp(score))) over the Doc's sentences' linear scores (0 without any)."""
    return Model("sentence_logsumexp", _sentence_logsumexp_forward, init=_sentence_max_init, layers=[linear],
                 dims={"nO": None})


def _sentence_logsumexp_forward(model: Model[Any, Floats2d], X: Any, is_train: bool) -> tuple[Any, Any]:
    """The smooth maximum per label; each sentence's gradient is its softmax share.

    In float64, rounded to float32 at the end, as the logistic is: float64 ``exp`` may differ in
    its last bit from one processor to another, and the rounding hides that.
    """
    (keys, vals, lengths), per_doc = X
    linear = model.layers[0]
    Y = np.zeros((len(per_doc), linear.get_dim("nO")), dtype=np.float32)
    if not len(lengths):
        return Y, lambda dY: []
    S, linear_back = linear((keys, vals, lengths), is_train)
    has = np.flatnonzero(per_doc)
    starts = np.concatenate([[0], np.cumsum(per_doc)[:-1]])[has]
    doc_of = np.repeat(np.arange(len(has)), per_doc[has])  # each sentence's row among the Docs that have any
    scores = np.asarray(S, dtype=np.float64)
    top = np.maximum.reduceat(scores, starts, axis=0)
    shifted = np.exp(scores - top[doc_of])
    total = np.add.reduceat(shifted, starts, axis=0)
    Y[has] = (top + np.log(total)).astype(np.float32)
    share = (shifted / total[doc_of]).astype(np.float32)

    def backprop(dY: Any) -> Any:
        linear_back(share * dY[has][doc_of])
        return []

    return Y, backprop


def logsumexp_rows(scores: np.ndarray) -> np.ndarray:
    """log(sum(exp(x))) down each column of scores, as :func:`sentence_logsumexp` computes it (float32)."""
    values = np.asarray(scores, dtype=np.float64)
    top = values.max(axis=0)
    return (top + np.log(np.exp(values - top).sum(axis=0))).astype(np.float32)


SENTENCE_POOLS = {"max": sentence_max, "logsumexp": sentence_logsumexp}


def relu_activation() -> Model[Floats2d, Floats2d]:
    """max(0, x), elementwise, without weights (thinc's Relu layer brings a dense layer too)."""
    return Model("relu_activation", _relu_forward)


def _relu_forward(model: Model[Floats2d, Floats2d], X: Floats2d, is_train: bool) -> tuple[Floats2d, Any]:
    """Rectify X; the gradient passes where the output is positive."""
    Y = model.ops.relu(X)

    def backprop(dY: Floats2d) -> Floats2d:
        return model.ops.backprop_relu(dY, Y)

    return Y, backprop


def exact_linear(nO: int | None = None, nI: int | None = None) -> Model[Floats2d, Floats2d]:
    """thinc's ``Linear`` (X @ W.T + b, the same initialisation), multiplied in a fixed order."""
    return Model(
        "exact_linear", _linear_forward, init=_linear_init,
        dims={"nO": nO, "nI": nI}, params={"W": None, "b": None},
    )


def _linear_init(model: Model[Floats2d, Floats2d], X: Floats2d | None = None, Y: Floats2d | None = None) -> None:
    """Take the widths from sample data where they are unset; Glorot-uniform weights, zero bias."""
    if X is not None and not model.has_dim("nI"):
        model.set_dim("nI", X.shape[1])
    if Y is not None and not model.has_dim("nO"):
        model.set_dim("nO", Y.shape[1])
    shape = (model.get_dim("nO"), model.get_dim("nI"))
    model.set_param("W", glorot_uniform_init(model.ops, shape))
    model.set_param("b", zero_init(model.ops, (shape[0],)))


def _linear_forward(model: Model[Floats2d, Floats2d], X: Any, is_train: bool) -> tuple[Any, Any]:
    """X @ W.T + b; the gradients of W, b and X in the same fixed order."""
    W: Any = model.get_param("W")
    Y = exact_matmul(X, W.T)
    Y += model.get_param("b")

    def backprop(dY: Any) -> Any:
        model.inc_grad("b", cast(Any, exact_matmul(np.ones((1, len(dY)), dtype=dY.dtype), dY)[0]))
        model.inc_grad("W", cast(Any, exact_matmul(dY.T, X)))
        return exact_matmul(dY, W)

    return Y, backprop


def exact_matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """A (n, k) @ B (k, m) as k products added one after another: the same bits on any processor.

    Each product and each sum is one rounded numpy operation (never fused, never reordered);
    the layer is small (32 hidden units, ten labels), so the loop costs little.
    """
    out = A[:, :1] * B[:1]
    for i in range(1, A.shape[1]):
        out += A[:, i:i + 1] * B[i:i + 1]
    return np.ascontiguousarray(out, dtype=np.float32)


def exact_logistic() -> Model[Floats2d, Floats2d]:
    """The logistic 1 / (1 + exp(-x)) of thinc's ``Logistic``, computed in float64."""
    return Model("exact_logistic", _logistic_forward)


def _logistic_forward(model: Model[Floats2d, Floats2d], X: Any, is_train: bool) -> tuple[Any, Any]:
    """Y = logistic(X), x clipped to [-20, 20] as thinc does; the gradient dY * Y * (1 - Y)."""
    Y = logistic(X)

    def backprop(dY: Any) -> Any:
        return dY * (Y * (1.0 - Y))

    return Y, backprop


def logistic(X: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) in float64, rounded to float32 (x clipped to [-20, 20])."""
    x = np.clip(np.asarray(X, dtype=np.float64), -20.0, 20.0)
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


class ExactAdam(Optimizer):
    """thinc's Adam with its gradient clipping, the gradient's norm summed by numpy in float64.

    thinc takes the norm with ``numpy.linalg.norm``, a BLAS dot product whose order of adding
    depends on the processor; the clipped gradient, and so every later weight, did too.
    """

    def __init__(self, learn_rate: float, *, grad_clip: float = 1.0, use_averages: bool = False) -> None:
        """Adam with thinc's defaults; grad_clip: the largest norm a gradient keeps."""
        super().__init__(learn_rate, grad_clip=0.0, use_averages=use_averages, use_radam=False)
        self.clip_norm = grad_clip

    def __call__(  # type: ignore[override]
        self, key: tuple[int, str], weights: np.ndarray, gradient: np.ndarray, *, lr_scale: float = 1.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Clip gradient to the norm grad_clip, then take thinc's Adam step."""
        if self.clip_norm and len(gradient):
            norm = math.sqrt(float(np.square(gradient, dtype=np.float64).sum()))
            if norm >= self.clip_norm:
                gradient *= np.float32(self.clip_norm / norm)
        stepped = super().__call__(key, cast(Any, weights), cast(Any, gradient), lr_scale=lr_scale)
        if self.nr_update[key] % FLUSH_EVERY == 0:
            for moments in (self.mom1, self.mom2):
                flush_subnormal(cast(np.ndarray, moments[key]))
        return cast(tuple[np.ndarray, np.ndarray], stepped)


# A weight whose feature no batch brings for a while has its moments shrink by beta1 (0.9) and
# beta2 (0.999) each step until they fall below float32's smallest normal number; the processor
# then computes with them in microcode, many times slower. Flushing such moments to zero
# every so many steps keeps Adam's step fast; what they would add to a weight (about 1e-30 of
# the learning rate) is far below a float32 weight's last bit.
FLUSH_EVERY = 32
_SMALLEST_NORMAL = np.finfo(np.float32).tiny


def flush_subnormal(values: np.ndarray) -> None:
    """Set values too small for a normal float32 (subnormal numbers) to zero, in place."""
    values[np.abs(values) < _SMALLEST_NORMAL] = 0.0
