"""Train the classifier from classifiers/data and classifiers/config.cfg, and measure it.

Training is deterministic: a fixed seed, a fixed example order, CPU only. Three disjoint
splits, each by whole source letter:

- held out (``heldout_fraction``): never seen by training; ``evaluate`` reports on it;
- validation (``validation_fraction`` of the rest): not fitted on; the decision thresholds are
  chosen on it (``tune_decision``), so nothing in the shipped model was chosen on the held-out mail;
- fit: everything else, what the text categoriser learns from.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from mailbot.classifier.corpus import (
    Example,
    fingerprint,
    fold_of,
    read_examples,
    split,
    split_validation,
)
from mailbot.classifier.details import Details
from mailbot.classifier.model import (
    ANY_REQUEST,
    DECISION_FILE,
    FOLLOW_UP,
    MODEL_LABELS,
    NONE,
    PROJECT_ROOT,
    RIGHTS,
    TEXTCAT,
    TRAINED_LABELS,
    Classification,
    ClassifierError,
    Decision,
    Model,
)
from mailbot.classifier.normalisation import (
    features_by_sentence,
    is_data_thread_reply,
    model_words,
    newest_text,
    normalise,
)

CLASSIFIERS_DIR = PROJECT_ROOT / "classifiers"
DATA_DIR = CLASSIFIERS_DIR / "data"
CONFIG_PATH = CLASSIFIERS_DIR / "config.cfg"
PIPE = TEXTCAT

# The goals of issue 3, printed by `evaluate`.
GOAL_MACRO_F1 = 0.95
GOAL_REQUEST_RECALL = 0.99
# The share of validation requests the uncertain thresholds must route to a person. Above the
# goal: tuned to exactly 0.99, cross-validation routed only 0.986 of unseen requests; with the
# stem pairs, tuned to 0.995 it routed 0.990 (one fold 0.988), tuned to 0.998, 0.995.
ROUTE_TARGET = 0.998
GOAL_ORDINARY_FP = 0.03
# The share of validation ordinary mail the common threshold may call a request. Below the goal:
# in cross-validation some folds' validation mail was easier than their unseen mail, and a
# threshold that kept 3 % on validation called 11 % of unseen ordinary mail a request. With the
# sixteenth batch, 2 % on validation still let two folds of five take thresholds of 0.5 and 0.7
# that called 4.1 and 4.3 % of their unseen ordinary mail a request (3.3 % pooled; 2.8 % at 1.5 %).
TUNING_FP_TARGET = 0.015


@dataclass(frozen=True)
class TrainingSettings:
    """The [mailbot.training] section of the config."""

    seed: int = 42
    epochs: int = 20
    batch_size: int = 16
    dropout: float = 0.1
    learn_rate: float = 0.002
    heldout_fraction: float = 0.2
    validation_fraction: float = 0.15
    typo_copies: int = 1
    splice_copies: int = 0
    union_copies: int = 0
    tune_thresholds: bool = True
    # Text categorisers fitted from seeds seed, seed + 1...; the model averages their log-odds.
    members: int = 1


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    model_dir: Path
    trained_on: int
    held_out: int
    fingerprint: str
    final_loss: float
    validation: int = 0
    decision: Decision = Decision()


def read_config(path: Path = CONFIG_PATH) -> tuple[Any, TrainingSettings, Decision]:
    """The spaCy config, our training settings and decision thresholds from path."""
    from thinc.api import Config

    try:
        cfg = Config().from_disk(path, interpolate=False)
        ours = cfg.get("mailbot", {})
        settings = TrainingSettings(**ours.get("training", {}))
        decision = Decision(**ours.get("decision", {}))
    except (OSError, ValueError, TypeError) as exc:
        raise ClassifierError(f"{path}: cannot read the training config ({exc})") from exc
    return cfg, settings, decision


def train(
    data_dir: Path = DATA_DIR, config_path: Path = CONFIG_PATH, out_dir: Path | None = None,
    *, log=print,  # type: ignore[no-untyped-def]
) -> TrainResult:
    """Build the model from data and config into out_dir (default classifiers/model), seeded."""
    import spacy

    out_dir = Path(out_dir) if out_dir else CLASSIFIERS_DIR / "model"
    cfg, settings, decision = read_config(config_path)
    examples = read_examples(data_dir)
    train_set, heldout = split(examples, settings.heldout_fraction, settings.seed)
    fit_set, validation = split_validation(train_set, settings.validation_fraction, settings.seed)
    augmented = augment(fit_set, settings)

    try:
        nlp, loss = fit(augmented, cfg, settings, log=log)
    except ClassifierError as exc:
        raise ClassifierError(f"{config_path}: {exc}") from exc
    if settings.tune_thresholds and validation:
        decision = tune_decision(Model(nlp, decision, {}), validation, decision)
        log(f"thresholds tuned on {len(validation)} validation examples: threshold {decision.threshold}, "
            f"per label {decision.thresholds or 'none'}, uncertain_low {decision.uncertain_low}, "
            f"request_low {decision.request_low}")
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    nlp.meta.update({"name": "mailbot_rights", "version": "1.0.0",
                     "description": "mailbot: GDPR rights in customer mail", "license": "MIT"})
    nlp.to_disk(tmp)
    fp = fingerprint(examples)
    meta = {
        "labels": list(MODEL_LABELS),
        "decision": decision.__dict__,
        "training": settings.__dict__,
        "data_fingerprint": fp,
        "config_sha256": hashlib.sha256(Path(config_path).read_bytes()).hexdigest()[:16],
        "trained_on": len(fit_set),
        "trained_on_with_augmentation": len(augmented),
        "validation": len(validation),
        "held_out": len(heldout),
        "spacy_version": spacy.__version__,
    }
    (tmp / DECISION_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return TrainResult(out_dir, len(fit_set), len(heldout), fp, loss, len(validation), decision)


def fit(  # type: ignore[no-untyped-def]
    examples: Sequence[Example], cfg: Any, settings: TrainingSettings, *, log=print, parallel: bool | None = None,
):
    """A blank pipeline with the text categoriser's members fitted to examples (seeded): (nlp, final loss).

    With ``members`` > 1 the pipeline holds that many text categorisers (``textcat_multilabel``,
    ``textcat_multilabel_1``...), each fitted alone to the same examples from its own seed
    (``seed``, ``seed + 1``...); :class:`Model` averages their log-odds. The final loss is the
    first member's. parallel: fit the members side by side in forked processes, as many at a
    time as the cores this process may use (None: where there are two or more and fork exists);
    a member comes out the same to the bit either way.
    """
    import spacy

    first = _blank_member(cfg, settings.seed)
    gold = _gold(examples, by_sentence=first.get_pipe(PIPE).model.has_ref("sentence_layer"))
    members = max(1, settings.members)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if parallel is None:
        parallel = cores > 1 and "fork" in multiprocessing.get_all_start_methods()
    if members > 1 and parallel:
        return _fit_members_side_by_side(first, gold, cfg, settings, max(2, cores), log)
    nlp: spacy.Language | None = None
    first_loss = 0.0
    for k in range(members):
        seed = settings.seed + k
        member = first if k == 0 else _blank_member(cfg, seed)
        if members > 1:
            log(f"member {k + 1}/{members} (seed {seed})")
        loss = _fit_member(member, gold, settings, seed, log)
        if nlp is None:
            nlp, first_loss = member, loss
        else:
            nlp.add_pipe(PIPE, name=member_name(k), source=member)
    assert nlp is not None
    return nlp, first_loss


def _fit_members_side_by_side(first, gold: _Gold, cfg: Any, settings: TrainingSettings, at_once: int, log):  # type: ignore[no-untyped-def]
    """fit's members fitted in forked processes, at_once at a time (the first in this process): (nlp, loss).

    A forked child has the examples' inputs without copying them and fits its member exactly as
    this process would (each member is seeded on its own); it sends the member back as spaCy's
    bytes. Two members on two cores take about the time of one.
    """
    context = multiprocessing.get_context("fork")
    members = settings.members
    # A child inherits what this process has not written yet and would write it again on exit.
    sys.stdout.flush()
    sys.stderr.flush()
    fitted: dict[int, bytes] = {}
    first_loss = 0.0
    for start in range(0, members, at_once):
        children = []
        for k in range(max(start, 1), min(start + at_once, members)):
            seed = settings.seed + k
            log(f"member {k + 1}/{members} (seed {seed}) in a process of its own")
            receive, send = context.Pipe(duplex=False)
            child = context.Process(target=_fit_member_in_child, args=(receive, send, cfg, gold, settings, seed, k, members, log),
                                    daemon=True)
            child.start()
            send.close()
            children.append((k, child, receive))
        if start == 0:
            log(f"member 1/{members} (seed {settings.seed})")
            first_loss = _fit_member(first, gold, settings, settings.seed, log)
        for k, child, receive in children:
            try:
                status, payload = receive.recv()
            except EOFError:
                status, payload = "error", f"the process fitting member {k + 1} ended without a result"
            child.join()
            if status != "ok":
                raise ClassifierError(f"fitting member {k + 1} failed: {payload}")
            fitted[k] = payload
    for k in range(1, members):
        member = _blank_member(cfg, settings.seed + k).from_bytes(fitted[k])
        first.add_pipe(PIPE, name=member_name(k), source=member)
    return first, first_loss


def _fit_member_in_child(receive, send, cfg: Any, gold: _Gold, settings: TrainingSettings, seed: int, k: int,  # type: ignore[no-untyped-def]
                         members: int, log) -> None:
    """In a forked process: fit member k and send ("ok", its bytes) or ("error", why)."""
    # The fork copied the parent's end of the pipe too. Held open here, it would leave a child
    # whose parent was killed blocked for ever on sending its 9 MB; closed, the send fails.
    receive.close()
    try:
        member = _blank_member(cfg, seed)
        _fit_member(member, gold, settings, seed, lambda line: log(f"member {k + 1}/{members}: {line}"))
        send.send(("ok", member.to_bytes()))
    except Exception as exc:  # noqa: BLE001  (reported to the parent, which raises it as a ClassifierError)
        send.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        send.close()


def member_name(k: int) -> str:
    """The pipeline name of the k-th text categoriser (0: ``textcat_multilabel``)."""
    return PIPE if k == 0 else f"{PIPE}_{k}"


def _blank_member(cfg: Any, seed: int):  # type: ignore[no-untyped-def]
    """A blank pipeline with one unfitted text categoriser of cfg's shape, its weights drawn from seed."""
    import spacy
    from spacy.pipeline import MultiLabel_TextCategorizer
    from spacy.util import fix_random_seed

    fix_random_seed(seed)
    nlp = spacy.blank(cfg["nlp"]["lang"])
    # spaCy types add_pipe as returning a bare Callable; the PIPE factory makes this class.
    try:
        textcat = cast(MultiLabel_TextCategorizer, nlp.add_pipe(PIPE, config=dict(cfg["components"][PIPE])))
    except (ValueError, TypeError) as exc:  # confection's ConfigValidationError is a ValueError
        raise ClassifierError(f"the [components.{PIPE}] settings cannot build the text categoriser: {exc}") from exc
    for label in TRAINED_LABELS:
        textcat.add_label(label)
    return nlp


@dataclass(frozen=True)
class _Gold:
    """fit's examples as the network reads them, built once and shared by the members."""

    inputs: list[Any]  # one per example: its FeatureBlocks, or its Doc where the network reads Docs
    cats: list[dict[str, float]]  # one per example: the text categoriser's targets
    sample: list[Any]  # spaCy Examples of the first ten, which initialise the network


def _gold(examples: Sequence[Example], *, by_sentence: bool) -> _Gold:
    """The examples' inputs and targets; by_sentence: the network reads sentences (FeatureBlocks)."""
    import numpy as np
    from spacy.strings import get_string_id
    from spacy.tokens import Doc
    from spacy.training import Example as SpacyExample
    from spacy.vocab import Vocab

    from mailbot.classifier.architecture import FeatureBlocks

    # The Docs get a vocabulary of their own: the bag of words reads a feature's hash, not its
    # text, and the strings of every training feature (stem pairs above all) would otherwise
    # be saved with the model and loaded into every process that classifies.
    scratch = Vocab()
    ids: dict[str, int] = {}
    inputs: list[Any] = []
    cats: list[dict[str, float]] = []
    sample: list[Any] = []
    for e in examples:
        _, feats, sentences = features_by_sentence(normalise(e.subject, e.text))
        cats.append(_cats(e.labels))
        if len(sample) < 10 or not by_sentence:
            doc = Doc(scratch, words=model_words(feats, sentences) if by_sentence else feats)
            doc.cats = cats[-1]
            if len(sample) < 10:
                # One Doc serves as both sides: the categoriser reads the words of one, the cats of the other.
                sample.append(SpacyExample(doc, doc))
            if not by_sentence:
                inputs.append(doc)
        if by_sentence:
            word_ids = np.fromiter((ids.get(w) or ids.setdefault(w, get_string_id(w)) for w in feats),
                                   dtype=np.uint64, count=len(feats))
            inputs.append(FeatureBlocks.of(word_ids, sentences))
    return _Gold(inputs, cats, sample)


def _fit_member(nlp, gold: _Gold, settings: TrainingSettings, seed: int, log) -> float:  # type: ignore[no-untyped-def]
    """Fit nlp's text categoriser to gold (shuffled and dropped out from seed); its final loss."""
    import numpy as np
    from spacy.util import fix_random_seed, minibatch
    from thinc.api import set_dropout_rate

    from mailbot.classifier.architecture import ExactAdam

    textcat = nlp.get_pipe(PIPE)
    # No running averages of the weights: the model keeps its last weights, so keeping
    # averages only cost time (averaged weights were tried and did no better). ExactAdam clips
    # as thinc's Adam does, with a norm that is the same on every processor.
    optimizer = ExactAdam(settings.learn_rate, use_averages=False)
    # Seeded again, so that a member's weights do not depend on the members fitted before it.
    fix_random_seed(seed)
    nlp.initialize(lambda: gold.sample, sgd=optimizer)
    set_dropout_rate(textcat.model, settings.dropout)
    truths = np.asarray([[cats[label] for label in textcat.labels] for cats in gold.cats], dtype=np.float32)
    rng = random.Random(seed)
    order = list(range(len(gold.inputs)))
    loss = 0.0
    for epoch in range(settings.epochs):
        rng.shuffle(order)
        loss = 0.0
        for batch in minibatch(order, size=settings.batch_size):
            # textcat.update's steps (a squared error's gradient), on inputs built once instead
            # of spaCy Examples: the same weights to the bit, in about half the time.
            inputs = [gold.inputs[i] for i in batch]
            if any(len(x) for x in inputs):
                scores, backprop = textcat.model.begin_update(inputs)
                d_scores = scores - truths[batch]
                loss += float((d_scores ** 2).mean())
                backprop(d_scores)
            textcat.finish_update(optimizer)
        if epoch % 5 == 4 or epoch == settings.epochs - 1:
            log(f"epoch {epoch + 1:>3}/{settings.epochs}  loss {loss:.4f}")
    return loss


def cross_validate(
    data_dir: Path = DATA_DIR, config_path: Path = CONFIG_PATH, folds: int = 5,
    *, log=print,  # type: ignore[no-untyped-def]
) -> Evaluation:
    """The whole of `train` repeated on `folds` folds of the training sources, each fold measured once.

    The held-out split stays out of it. Each fold's model is fitted and its thresholds tuned
    exactly as `train` does on the other folds; the pooled results measure the procedure on
    about four times as many mails as the held-out split holds, so they move less with one
    data change. The shipped model is not touched.
    """
    if folds < 2:
        raise ClassifierError(f"cross-validation needs at least 2 folds, not {folds}")
    cfg, settings, base = read_config(config_path)
    pool, _ = split(read_examples(data_dir), settings.heldout_fraction, settings.seed)
    measured: list[Example] = []
    results: list[Classification] = []
    for k in range(folds):
        started = time.perf_counter()
        test = [e for e in pool if fold_of(e.source, folds, settings.seed) == k]
        rest = [e for e in pool if fold_of(e.source, folds, settings.seed) != k]
        fit_set, validation = split_validation(rest, settings.validation_fraction, settings.seed)
        nlp, _ = fit(augment(fit_set, settings), cfg, settings, log=lambda *_: None)
        decision = base
        if settings.tune_thresholds and validation:
            decision = tune_decision(Model(nlp, base, {}), validation, base)
        model = Model(nlp, decision, {})
        results += [model.classify(e.subject, e.text) for e in test]
        measured += test
        log(f"fold {k + 1}/{folds}: fitted on {len(fit_set)}, thresholds tuned on {len(validation)}, "
            f"measured on {len(test)} ({time.perf_counter() - started:.0f} s)")
    return score(measured, results)

# Candidate decision thresholds tried on the validation split.
# Up to 0.90: the old top, 0.70, was where the tuner kept landing when no candidate kept
# ordinary mail within the target, and the splice copies make the model surer of itself.
THRESHOLDS = tuple(round(0.15 + 0.05 * i, 2) for i in range(16))  # 0.15 .. 0.90
UNCERTAIN_LOWS = tuple(round(0.02 * i, 2) for i in range(1, 16))  # 0.02 .. 0.30
# 0.0 (no gate) .. 0.9, then finer near 1: a model sure of itself scores much ordinary mail in a
# right's own words near 1 on "any right" too, and only a gate up there tells it apart.
REQUEST_GATES = (*(round(0.1 * i, 1) for i in range(10)), 0.95, 0.98, 0.99, 0.995)
REQUEST_LOWS = (*(round(0.05 * i, 2) for i in range(1, 20)), 1.0)  # 0.05 .. 0.95, and 1.0 = unused
# A label gets a threshold of its own only with at least this many validation examples:
# fewer would fit the threshold to a handful of mails.
MIN_LABEL_SUPPORT = 8
# ... and only where it raises that label's validation F1 by at least this much (less is noise).
MIN_LABEL_GAIN = 0.03


def tune_decision(model: Model, validation: Sequence[Example], base: Decision) -> Decision:
    """The thresholds that do best on the validation split (never on the held-out one).

    ``threshold``: the candidate with the best macro-F1 (averaged with its neighbours') among
    those that keep ordinary mail called a request within TUNING_FP_TARGET (ties: nearest the
    configured value); where none does, the one that comes nearest it (then the best macro-F1).
    ``request_gate``: chosen with it from REQUEST_GATES, each gate with its own best threshold:
    the pair that keeps the target (or comes nearest), then the best macro-F1, then the lower gate.
    ``thresholds``: for each label with at least MIN_LABEL_SUPPORT validation examples, chosen the
    same way by that label's F1, kept where it beats the common threshold by MIN_LABEL_GAIN; where
    the common threshold misses TUNING_FP_TARGET, a right's own may not be lower than it.
    ``uncertain_low`` and ``request_low``: of the pairs that still route at least ROUTE_TARGET of
    validation requests to a person (as a request or uncertain), the one that marks the fewest
    ordinary mails uncertain; the lowest if none does.
    ``uncertain_high`` and ``rule_floor`` stay as configured.
    """
    from dataclasses import replace

    # Scores and rule hits do not depend on the thresholds: computed once, each candidate
    # decision then only relabels (language and details play no part in the figures).
    prepared = []
    for e in validation:
        joined = normalise(e.subject, e.text)
        words, scores = model.read(joined)
        prepared.append((scores, model.rule_hits(words, joined), is_data_thread_reply(e.subject)))

    def measure(decision: Decision) -> Evaluation:
        model.decision = decision
        return score(validation, [model.judge(*p) for p in prepared])

    def fp_ok(ev: Evaluation) -> bool:
        return ev.ordinary_fp_rate <= TUNING_FP_TARGET

    def pick(evaluate_at, f1_of, centre: float) -> tuple[float, tuple[bool, float]]:
        """The candidate threshold with the best F1 averaged with its neighbours' (one candidate's
        F1 on a small split is noise), among those where it and its lower neighbour keep the goal
        for ordinary mail (not on the edge of a cliff); ties: nearest centre. Also its (ok, F1)."""
        evs = [evaluate_at(t) for t in THRESHOLDS]
        oks = [fp_ok(ev) for ev in evs]
        f1s = [f1_of(ev) for ev in evs]
        keys = []
        for i, t in enumerate(THRESHOLDS):
            near = f1s[max(0, i - 1):i + 2]
            keys.append(((oks[i] and oks[max(0, i - 1)]), round(sum(near) / len(near), 3), -abs(t - centre)))
        if not any(oks):
            # No candidate keeps the goal: come as near to it as the candidates allow (each
            # ordinary mail called a request costs its sender an identity challenge they never
            # asked for), then the best F1.
            nearest = [(-round(ev.ordinary_fp_rate, 3), key[1], key[2]) for ev, key in zip(evs, keys)]
            i = max(range(len(THRESHOLDS)), key=nearest.__getitem__)
            return THRESHOLDS[i], (False, nearest[i][1])
        i = max(range(len(THRESHOLDS)), key=keys.__getitem__)
        return THRESHOLDS[i], keys[i][:2]

    # The common threshold together with the request gate: the gate that lets the best threshold
    # keep ordinary mail within the target (or come nearest it), then the best macro-F1.
    choices = []
    for gate in REQUEST_GATES:
        t, _ = pick(lambda t, gate=gate: measure(replace(base, threshold=t, request_gate=gate)),
                    lambda ev: ev.macro_f1, base.threshold)
        ev = measure(replace(base, threshold=t, request_gate=gate))
        choices.append((fp_ok(ev), -round(max(0.0, ev.ordinary_fp_rate - TUNING_FP_TARGET), 3),
                        round(ev.macro_f1, 3), -gate, t))
    _, _, _, neg_gate, best = max(choices)
    tuned = replace(base, threshold=best, request_gate=-neg_gate, thresholds={})
    keep_fp = fp_ok(measure(tuned))
    support = {label: sum(label in e.labels for e in validation) for label in MODEL_LABELS}
    own: dict[str, float] = {}
    for label in MODEL_LABELS:
        if support[label] < MIN_LABEL_SUPPORT:
            continue

        def label_f1(ev: Evaluation, label: str = label) -> float:
            return next(s.f1 for s in ev.per_label if s.label == label)

        chosen, (ok, f1) = pick(lambda t, label=label: measure(replace(tuned, thresholds={label: t})), label_f1, best)
        i = THRESHOLDS.index(best)
        common = [label_f1(measure(replace(tuned, thresholds={label: t}))) for t in THRESHOLDS[max(0, i - 1):i + 2]]
        if not keep_fp and label in RIGHTS and chosen < best:
            # The common threshold already calls too much ordinary mail a request: a right's own
            # lower threshold would add false alarms on unseen mail that validation did not show
            # (in cross-validation, lower thresholds for complaint and rectification lifted one
            # fold's unseen ordinary mail called a request from 6.9 % to 9.2 %).
            continue
        if (ok or not keep_fp) and f1 >= round(sum(common) / len(common), 3) + MIN_LABEL_GAIN:
            own[label] = chosen
    if keep_fp and not fp_ok(measure(replace(tuned, thresholds=own))):
        own = {}  # each kept the goal alone, not all together: the common threshold it is
    tuned = replace(tuned, thresholds=dict(sorted(own.items())))
    lowest = min([best, *own.values()])
    lows = [low for low in UNCERTAIN_LOWS if low < lowest]
    # uncertain_low and request_low together: of the pairs that route the goal share of
    # validation requests to a person, the one that bothers the owner with the fewest ordinary
    # mails (ties: the higher uncertain_low, then the higher request_low).
    candidates = []
    for low in lows:
        for request_low in REQUEST_LOWS:
            ev = measure(replace(tuned, uncertain_low=low, request_low=request_low))
            if ev.routed_recall >= ROUTE_TARGET:
                candidates.append((-ev.ordinary_uncertain_rate, low, request_low))
    if candidates:
        _, low, request_low = max(candidates)
    else:
        low, request_low = min(lows), min(REQUEST_LOWS)
    tuned = replace(tuned, uncertain_low=low, request_low=request_low)
    model.decision = tuned
    return tuned


def _cats(labels: Sequence[str]) -> dict[str, float]:
    """The textcat target of a label list (none = every label 0; ANY_REQUEST = any right)."""
    cats = {label: 1.0 if label in labels else 0.0 for label in MODEL_LABELS}
    cats[ANY_REQUEST] = 1.0 if any(label in RIGHTS for label in labels) else 0.0
    return cats


_TYPO_SKIP = frozenset(["gdpr", "dsgvo", "rgpd", "avg", "art", "article"])


def augment(examples: Sequence[Example], settings: TrainingSettings) -> list[Example]:
    """The examples plus their seeded typo, splice and union copies (:func:`typo_copies`,
    :func:`splice_copies`, :func:`union_copies`)."""
    return [
        *examples,
        *typo_copies(examples, settings.typo_copies, settings.seed),
        *splice_copies(examples, settings.splice_copies, settings.seed),
        *union_copies(examples, settings.union_copies, settings.seed),
    ]


def typo_copies(examples: Sequence[Example], copies: int, seed: int) -> list[Example]:
    """Copies of the hand-written examples with seeded typos (swapped, dropped letters)."""
    rng = random.Random(seed)
    out = []
    for e in examples:
        if e.source.startswith("datenanfragen/"):
            continue  # generated letters are typed by a tool: no typos there
        for n in range(copies):
            out.append(Example(f"{e.id}~typo{n}", e.source, e.lang, e.subject, _typos(e.text, rng), e.labels))
    return out


def splice_copies(examples: Sequence[Example], copies: int, seed: int) -> list[Example]:
    """Copies of the hand-written examples with the inner paragraphs of an ordinary mail spliced in.

    Real inbox mail asks for a right in one paragraph of a mail about an order, a licence or a
    move, and a bag of words learns from whole mails that order talk means "ordinary". A request
    with an ordinary mail's paragraphs around it keeps its labels (ordinary paragraphs exercise
    no right); an ordinary mail with another's stays ordinary. Cross-validation: see
    classifiers/README.md. Paragraphs come from the newest text only, so that no quoted request
    moves into a copy, and the copy keeps its example's source (the same split).
    """
    rng = random.Random(seed + 1)
    fillers = [
        paragraphs for e in examples
        if e.labels == (NONE,) and not e.source.startswith("datenanfragen/")
        and (paragraphs := _paragraphs(e.text))
    ]
    out: list[Example] = []
    if not fillers:
        return out
    for e in examples:
        if e.source.startswith("datenanfragen/"):
            continue  # the template letters are long already
        body = _paragraphs(e.text)
        for n in range(copies):
            filler = rng.choice(fillers)
            inner = filler[1:-1] or filler  # without its greeting and sign-off, where it has them
            # Where the filler goes: before the mail (a fifth; half of one-paragraph mail, the
            # other half after it), after the mail's first paragraph, or before its last.
            where = rng.random()
            if len(body) < 2 or where < 0.2:
                spliced = inner + body if where < 0.5 else body + inner
            elif where < 0.6:
                spliced = body[:1] + inner + body[1:]
            else:
                spliced = body[:-1] + inner + body[-1:]
            out.append(Example(f"{e.id}~splice{n}", e.source, e.lang, e.subject, "\n\n".join(spliced), e.labels))
    return out


def union_copies(examples: Sequence[Example], copies: int, seed: int) -> list[Example]:
    """Copies of the hand-written examples with the paragraphs of another mail's request spliced in, labels joined.

    A mail that asks for a second right, or complains, in one side paragraph ("...and while
    you're at it, tell me what else you hold") was most often given a subset of its labels:
    the hand-written mail seldom carries two rights, and a bag of words learns that a mail about
    one right is about that right alone. The donor is a request of the same language, from
    another source, that is not a reminder (a reminder spliced into a new mail would not be
    one) and brings a label the mail lacks; its inner paragraphs (without greeting and sign-off,
    where it has three or more) go before, inside or after the mail, and the copy carries the
    mail's labels and the donor's (an ordinary mail's copy the donor's alone). The copy keeps
    its example's source, so it stays in its split.
    """
    rng = random.Random(seed + 2)
    donors: dict[str, list[tuple[Example, list[str]]]] = {}
    for e in examples:
        if e.source.startswith("datenanfragen/") or NONE in e.labels or FOLLOW_UP in e.labels:
            continue
        body = _paragraphs(e.text)
        inner = body[1:-1] if len(body) >= 3 else body
        if sum(map(len, inner)) >= 60:  # a paragraph short enough to be "Hi," alone carries no right
            donors.setdefault(e.lang, []).append((e, inner))
    order = {label: i for i, label in enumerate((*RIGHTS, FOLLOW_UP, NONE))}
    out: list[Example] = []
    for e in examples:
        pool = donors.get(e.lang)
        if e.source.startswith("datenanfragen/") or not pool:
            continue
        for n in range(copies):
            drawn = [rng.choice(pool) for _ in range(5)]
            fitting = [(d, inner) for d, inner in drawn if d.source != e.source and not set(d.labels) <= set(e.labels)]
            if not fitting:
                continue
            donor, inner = fitting[0]
            body = _paragraphs(e.text)
            # Where the donor's paragraphs go: after the mail (15 %; 85 % for a mail of one
            # paragraph), before it (15 %), after its first paragraph or before its last (35 % each).
            where = rng.random()
            if where < 0.15 or (len(body) < 2 and where >= 0.3):
                spliced = body + inner
            elif where < 0.3:
                spliced = inner + body
            elif where < 0.65:
                spliced = body[:1] + inner + body[1:]
            else:
                spliced = body[:-1] + inner + body[-1:]
            own = () if NONE in e.labels else e.labels
            labels = tuple(sorted(set(own) | set(donor.labels), key=order.__getitem__))
            out.append(Example(f"{e.id}~union{n}", e.source, e.lang, e.subject, "\n\n".join(spliced), labels))
    return out


def _paragraphs(text: str) -> list[str]:
    """The non-empty paragraphs of the newest text of a mail (quoted history and signature dropped)."""
    return [p.strip() for p in newest_text(text).split("\n\n") if p.strip()]


def _typos(text: str, rng: random.Random) -> str:
    """Text with about one word in twelve misspelt."""
    words = text.split(" ")
    for i, word in enumerate(words):
        if len(word) > 4 and word.lower() not in _TYPO_SKIP and rng.random() < 1 / 12:
            j = rng.randrange(1, len(word) - 2)
            if rng.random() < 0.5:
                words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2:]
            else:
                words[i] = word[:j] + word[j + 1:]
    return " ".join(words)


@dataclass(frozen=True)
class LabelScore:
    """Precision, recall and F1 of one label, with its counts."""

    label: str
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 1.0 when nothing was predicted."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """TP / (TP + FN); 1.0 when the label never occurs."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def support(self) -> int:
        """How many examples carry the label."""
        return self.tp + self.fn


@dataclass(frozen=True)
class Evaluation:
    """The figures `mailbot classifier evaluate` prints."""

    n: int
    per_label: tuple[LabelScore, ...]
    confusion: dict[str, dict[str, int]] = field(hash=False)
    requests: int
    requests_found: int
    requests_routed: int
    ordinary: int
    ordinary_flagged: int
    ordinary_uncertain: int
    errors: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]

    @property
    def macro_f1(self) -> float:
        """Mean F1 over the rights and none (labels absent from the data are left out)."""
        scores = [s.f1 for s in self.per_label if s.label != FOLLOW_UP and s.support]
        return sum(scores) / len(scores) if scores else 0.0

    @property
    def request_recall(self) -> float:
        """Share of requests the classifier called requests."""
        return self.requests_found / self.requests if self.requests else 1.0

    @property
    def routed_recall(self) -> float:
        """Share of requests called requests or marked uncertain (both reach a person)."""
        return self.requests_routed / self.requests if self.requests else 1.0

    @property
    def ordinary_uncertain_rate(self) -> float:
        """Share of ordinary mail not called a request but marked uncertain (the owner looks at it)."""
        return self.ordinary_uncertain / self.ordinary if self.ordinary else 0.0

    @property
    def ordinary_fp_rate(self) -> float:
        """Share of ordinary mail wrongly called a request."""
        return self.ordinary_flagged / self.ordinary if self.ordinary else 0.0

    def goals(self) -> list[tuple[str, float, str, bool]]:
        """(name, value, target, met) for each goal of the issue."""
        return [
            ("macro-F1", self.macro_f1, f">= {GOAL_MACRO_F1}", self.macro_f1 >= GOAL_MACRO_F1),
            # The issue's definition: "a missed request is a legal failure -- when unsure, say
            # uncertain and route to the owner". A request counts as found when it reaches a
            # person: called a request, or marked uncertain. The strict figure is printed too.
            ("is_request recall (routed)", self.routed_recall, f">= {GOAL_REQUEST_RECALL}",
             self.routed_recall >= GOAL_REQUEST_RECALL),
            ("ordinary mail called request", self.ordinary_fp_rate, f"<= {GOAL_ORDINARY_FP}",
             self.ordinary_fp_rate <= GOAL_ORDINARY_FP),
        ]


def evaluate(model: Model, examples: Sequence[Example]) -> Evaluation:
    """Score model on examples: per label, a confusion table, request recall, false alarms."""
    return score(examples, model.classify_many([(e.subject, e.text) for e in examples]))


def score(examples: Sequence[Example], results: Sequence[Classification]) -> Evaluation:
    """The figures of results against the labels of examples (same order)."""
    labels = (*RIGHTS, FOLLOW_UP, NONE)
    counts = {label: [0, 0, 0] for label in labels}
    confusion = {gold: {pred: 0 for pred in labels} for gold in labels}
    requests = found = routed = ordinary = flagged = unsure = 0
    errors = []
    for e, result in zip(examples, results):
        gold, pred = set(e.labels) or {NONE}, set(result.labels)
        for label in labels:
            if label in gold and label in pred:
                counts[label][0] += 1
            elif label in pred:
                counts[label][1] += 1
            elif label in gold:
                counts[label][2] += 1
        for g in gold:
            for p in pred:
                confusion[g][p] += 1
        if gold != pred:
            errors.append((e.id, tuple(sorted(gold)), tuple(sorted(pred))))
        if e.is_request:
            requests += 1
            found += result.is_request
            routed += result.is_request or result.uncertain
        elif NONE in gold:
            ordinary += 1
            flagged += result.is_request
            unsure += result.uncertain and not result.is_request
    per_label = tuple(LabelScore(label, *counts[label]) for label in labels)
    return Evaluation(len(examples), per_label, confusion, requests, found, routed, ordinary, flagged,
                      unsure, tuple(errors))


SECOND_READER = CLASSIFIERS_DIR / "second_reader.jsonl"


def read_labelling(path: Path, examples: Sequence[Example]) -> tuple[tuple[Example, ...], list[Classification]]:
    """A second labelling of some of examples (JSON lines of "id" and "labels"), as results to score.

    Returns the labelled examples and, in the same order, the labelling as classifications
    (a request where a right is named; nothing uncertain), so that :func:`score` measures a
    person's reading of the mail exactly as it measures the model's.
    """
    by_id = {e.id: e for e in examples}
    chosen: list[Example] = []
    results: list[Classification] = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ClassifierError(f"cannot read the labelling {path}: {exc.strerror}") from exc
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            eid, labels = str(row["id"]), tuple(row["labels"]) or (NONE,)
        except (ValueError, KeyError, TypeError) as exc:
            raise ClassifierError(f"{path}:{lineno}: expected {{\"id\": ..., \"labels\": [...]}} ({exc})") from exc
        if eid not in by_id:
            raise ClassifierError(f"{path}:{lineno}: {eid!r} is not a mail of the split measured")
        unknown = set(labels) - set(MODEL_LABELS) - {NONE}
        if unknown:
            raise ClassifierError(f"{path}:{lineno}: unknown labels {sorted(unknown)}; known: {MODEL_LABELS}")
        rights = tuple(label for label in labels if label in RIGHTS)
        chosen.append(by_id[eid])
        results.append(Classification(bool(rights), labels, {}, "", False, Details()))
    if not chosen:
        raise ClassifierError(f"{path}: no labelled mail in it")
    return tuple(chosen), results


def heldout_examples(data_dir: Path = DATA_DIR, config_path: Path = CONFIG_PATH) -> tuple[Example, ...]:
    """The examples training never sees, as split by the config's seed and fraction."""
    _, settings, _ = read_config(config_path)
    return split(read_examples(data_dir), settings.heldout_fraction, settings.seed)[1]


def validation_examples(data_dir: Path = DATA_DIR, config_path: Path = CONFIG_PATH) -> tuple[Example, ...]:
    """The examples the thresholds are tuned on (neither fitted on nor held out)."""
    _, settings, _ = read_config(config_path)
    train_set, _ = split(read_examples(data_dir), settings.heldout_fraction, settings.seed)
    return split_validation(train_set, settings.validation_fraction, settings.seed)[1]
