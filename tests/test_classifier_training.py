"""The committed model, data and CLI: reproducible from the repository alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailbot.classifier import corpus, letters, training
from mailbot.classifier.model import DEFAULT_MODEL_DIR, MODEL_LABELS
from mailbot.cli import main

SHARED_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def test_committed_model_matches_what_train_produces(rebuilt_model: Path) -> None:
    """`mailbot classifier train` rebuilds the committed model byte for byte (seeded; minutes,
    run in the background from the start of the suite, see conftest.py)."""
    out = rebuilt_model
    members = sorted(path.name for path in DEFAULT_MODEL_DIR.glob("textcat_multilabel*"))
    assert sorted(path.name for path in out.glob("textcat_multilabel*")) == members
    for name in (*(f"{member}/model" for member in members), "mailbot.json", "config.cfg"):
        assert (out / name).read_bytes() == (DEFAULT_MODEL_DIR / name).read_bytes(), (
            f"classifiers/model/{name} is stale: run 'mailbot classifier train' and commit the result"
        )


# Trains a small model and prints a digest of its weights, and of numpy's float32 exp on fixed
# numbers (which shows whether switching the processor's features off changed any code path).
_SMALL_TRAINING = """
import dataclasses, hashlib, numpy
from mailbot.classifier import corpus, training
cfg, settings, _ = training.read_config()
settings = dataclasses.replace(settings, epochs=2, members=1)
nlp, _ = training.fit(corpus.read_examples(training.DATA_DIR)[:300], cfg, settings, log=lambda *_: None)
x = numpy.linspace(-20, 20, 4001, dtype=numpy.float32)
print(hashlib.sha256(nlp.get_pipe("textcat_multilabel").model.to_bytes()).hexdigest())
print(hashlib.sha256(numpy.exp(x).tobytes()).hexdigest())
"""


def test_training_rounds_alike_whatever_the_processor_offers() -> None:
    """The same weights with numpy's AVX2 code and OpenBLAS's own kernels switched off.

    Another machine's processor picks other code in numpy and BLAS, whose sums and exp round
    differently; the committed model must still be what train produces there.
    """
    def train_with(env: dict[str, str]) -> tuple[str, str]:
        run = subprocess.run(
            [sys.executable, "-W", "ignore", "-c", _SMALL_TRAINING], env={**os.environ, **env},
            capture_output=True, text=True, timeout=300, check=True,
        )
        weights, exp = run.stdout.split()
        return weights, exp

    native = train_with({})
    # numpy 2.x names its dispatch targets X86_V3 (AVX2, FMA3) and X86_V4 (AVX-512).
    plain = train_with({"NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4", "OPENBLAS_CORETYPE": "Nehalem"})
    if native[1] == plain[1]:
        pytest.skip("this processor or numpy offers no other exp to switch to")
    assert native[0] == plain[0]


def test_adam_flushes_moments_too_small_for_a_normal_float_to_zero() -> None:
    """Moments of weights no batch touches shrink into subnormal numbers; ExactAdam zeroes them."""
    import numpy

    from mailbot.classifier.architecture import FLUSH_EVERY, ExactAdam, flush_subnormal

    values = numpy.array([1e-40, -1e-40, 1e-30, 0.0, -2e-38, 1.0], dtype=numpy.float32)
    flush_subnormal(values)
    assert values.tolist() == pytest.approx([0.0, 0.0, 1e-30, 0.0, -2e-38, 1.0], rel=1e-6)

    adam = ExactAdam(0.001)
    weights = numpy.zeros(4, dtype=numpy.float32)
    gradient = numpy.array([1e-19, 0.5, 0.0, 0.0], dtype=numpy.float32)
    # (1e-19)^2 * (1 - beta2) lies below float32's smallest normal number in the second moment.
    for step in range(1, 2 * FLUSH_EVERY + 1):
        weights, gradient = adam((0, "W"), weights, gradient)
        m2 = adam.mom2[(0, "W")]
        if step == 1:
            assert 0 < m2[0] < numpy.finfo(numpy.float32).tiny  # subnormal until the next flush
        assert (step % FLUSH_EVERY != 0) or not numpy.any((m2 != 0) & (numpy.abs(m2) < numpy.finfo(numpy.float32).tiny))
    assert adam.mom2[(0, "W")][1] > 0 and adam.mom1[(0, "W")][1] > 0  # normal moments stay


def test_committed_model_records_its_data() -> None:
    """The model names the data it was built from; edited data without retraining is caught."""
    meta = json.loads((DEFAULT_MODEL_DIR / "mailbot.json").read_text())
    assert meta["data_fingerprint"] == corpus.fingerprint(corpus.read_examples(training.DATA_DIR))
    assert meta["labels"] == list(MODEL_LABELS)


def test_model_is_small() -> None:
    """The committed model stays well under 20 MB."""
    size = sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.rglob("*") if p.is_file())
    assert size < 20 * 1024 * 1024


def test_split_keeps_every_source_on_one_side() -> None:
    """Variants of one template are never both trained on and evaluated on."""
    _, settings, _ = training.read_config()
    train, heldout = corpus.split(corpus.read_examples(training.DATA_DIR), settings.heldout_fraction, settings.seed)
    assert heldout and train
    assert not {e.source for e in train} & {e.source for e in heldout}


def test_training_data_is_varied() -> None:
    """Several hundred examples, every label and language represented."""
    examples = corpus.read_examples(training.DATA_DIR)
    assert len(examples) >= 500
    labels = {label for e in examples for label in e.labels}
    assert set(MODEL_LABELS) | {"none"} <= labels
    assert {"en", "de", "fr", "es", "it", "nl"} <= {e.lang for e in examples}


def test_letter_variants_match_the_shared_corpus(tmp_path: Path) -> None:
    """classifiers/data/datenanfragen.jsonl is what the generator makes of ../shared/corpus."""
    if not (SHARED_CORPUS / "datenanfragen").is_dir():
        pytest.skip(f"the shared corpus is not at {SHARED_CORPUS} (only developers and CI have ../shared)")
    out = tmp_path / "letters.jsonl"
    letters.write_jsonl(letters.variants(SHARED_CORPUS), out)
    assert out.read_text(encoding="utf-8") == (training.DATA_DIR / "datenanfragen.jsonl").read_text(encoding="utf-8")


def test_template_fill_handles_flags_and_placeholders() -> None:
    """Optional passages appear only when ticked; placeholders and markup are replaced."""
    template = "Hello.[extra> More {thing}.] <italic>All</italic> done. {Note, e.g.: It is late.}"
    assert letters.fill(template, frozenset(), {"thing": "x"}) == "Hello. All done. It is late."
    assert letters.fill(template, frozenset({"extra"}), {"thing": "x"}) == "Hello. More x. All done. It is late."


EML = (
    b"From: Jane <jane@example.org>\r\nTo: hello@ak3d.example\r\nSubject: my data\r\n"
    b"Message-ID: <1@example.org>\r\nDate: Tue, 4 Jun 2024 10:00:00 +0000\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Please delete my account and all my personal data.\r\n\r\nThanks,\r\nJane Whitfield\r\n"
)


def test_classify_command_prints_stable_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`mailbot classify FILE.eml --json` prints the documented shape."""
    path = tmp_path / "m.eml"
    path.write_bytes(EML)
    assert main(["classify", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == ["is_request", "labels", "scores", "language", "uncertain", "details"]
    assert data["is_request"] is True and "erasure" in data["labels"]


def test_classify_command_reads_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """'-' reads the message from standard input; the plain output names the labels."""
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(EML)))
    assert main(["classify", "-"]) == 0
    assert "erasure" in capsys.readouterr().out


def test_classify_command_missing_file_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    """A missing file is a domain error with the file named, not a traceback."""
    assert main(["classify", "/nonexistent/x.eml"]) == 2
    assert "/nonexistent/x.eml" in capsys.readouterr().err


def test_evaluate_command_prints_table_and_goals(capsys: pytest.CaptureFixture[str]) -> None:
    """`mailbot classifier evaluate` prints per-label figures, the confusion table and the goals."""
    code = main(["classifier", "evaluate"])
    out = capsys.readouterr().out
    assert code in (0, 1)  # 1 = a goal is not met; the figures are a benchmark, not a test
    for text in ("precision", "confusion", "is_request recall", "macro-F1", "goals"):
        assert text in out


def test_evaluate_against_scores_a_second_labelling_as_it_scores_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`evaluate --against FILE` measures a person's labels against the corpus, beside the model."""
    heldout = training.heldout_examples()
    request = next(e for e in heldout if e.is_request)
    ordinary = next(e for e in heldout if e.labels == ("none",))
    agreeing = tmp_path / "agreeing.jsonl"
    agreeing.write_text("".join(json.dumps({"id": e.id, "labels": list(e.labels)}) + "\n" for e in (request, ordinary)))
    assert main(["classifier", "evaluate", "--against", str(agreeing)]) == 0
    out = capsys.readouterr().out
    assert "of 2 mails of the heldout split (1 requests, 1 ordinary" in out
    assert "second reader 1.000" in out and "the model on the same 2 mails" in out

    # A reader who calls the request ordinary misses it, exactly as the model would be scored.
    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({"id": request.id, "labels": ["none"]}) + "\n")
    assert main(["classifier", "evaluate", "--against", str(missing)]) == 0
    out = capsys.readouterr().out
    assert "strict (is_request alone):                                 0.000 (0/1)" in out.split("the model on")[0]


def test_evaluate_against_names_a_mail_that_is_not_in_the_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An id outside the measured split is a clear error naming the file, line and id."""
    fitted = next(e for e in corpus.read_examples(training.DATA_DIR) if e not in set(training.heldout_examples()))
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text("\n" + json.dumps({"id": fitted.id, "labels": ["none"]}) + "\n")
    assert main(["classifier", "evaluate", "--against", str(wrong)]) == 2
    err = capsys.readouterr().err
    assert f"{wrong}:2" in err and fitted.id in err and "not a mail of the split" in err


def test_committed_second_reading_covers_400_held_out_mails(capsys: pytest.CaptureFixture[str]) -> None:
    """classifiers/second_reader.jsonl (the README's agreement figures) names held-out mails only,
    and `evaluate --against` without a file measures it."""
    labelled, reading = training.read_labelling(training.SECOND_READER, training.heldout_examples())
    assert len(labelled) == len({e.id for e in labelled}) == len(reading) == 400
    assert main(["classifier", "evaluate", "--against"]) == 0
    out = capsys.readouterr().out
    assert f"({training.SECOND_READER}) of 400 mails of the heldout split" in out and "second reader 0." in out


def test_validation_split_is_carved_from_training_sources_only() -> None:
    """Thresholds are tuned on sources that are neither fitted on nor held out."""
    _, settings, _ = training.read_config()
    train, heldout = corpus.split(corpus.read_examples(training.DATA_DIR), settings.heldout_fraction, settings.seed)
    fit, validation = corpus.split_validation(train, settings.validation_fraction, settings.seed)
    assert fit and validation
    fit_sources, val_sources = {e.source for e in fit}, {e.source for e in validation}
    assert not fit_sources & val_sources
    assert not val_sources & {e.source for e in heldout}
    meta = json.loads((DEFAULT_MODEL_DIR / "mailbot.json").read_text())
    assert meta["validation"] == len(validation) and meta["held_out"] == len(heldout)


def test_evaluate_command_measures_the_validation_split(capsys: pytest.CaptureFixture[str]) -> None:
    """`evaluate --split validation` measures the tuning split and says that its figures flatter."""
    code = main(["classifier", "evaluate", "--split", "validation"])
    out = capsys.readouterr().out
    assert code in (0, 1)
    assert out.startswith("validation split:") and "flatter" in out
    _, settings, _ = training.read_config()
    assert f"{len(training.validation_examples())} messages" in out


def test_model_learns_the_internal_any_request_label_but_does_not_report_it() -> None:
    """The pooled "any right" label is trained and stored, never part of the reported labels."""
    from mailbot.classifier import load_model
    from mailbot.classifier.model import ANY_REQUEST

    model = load_model()
    assert model.bow is not None and ANY_REQUEST in model.bow.labels
    assert ANY_REQUEST not in MODEL_LABELS
    result = model.classify("data", "Please send me a copy of my personal data.")
    assert ANY_REQUEST not in result.scores and ANY_REQUEST not in result.labels


def test_members_are_fitted_alone_and_the_model_averages_their_log_odds() -> None:
    """With members = 2 the pipeline holds two text categorisers: the first is what a one-member
    fit from the same seed gives, the second differs, and the scores are the logistic of the
    mean of their log-odds (the fast path and spaCy's alike)."""
    import dataclasses
    import math

    import numpy as np
    from spacy.tokens import Doc

    from mailbot.classifier.model import Decision, Model
    from mailbot.classifier.normalisation import (
        features_by_sentence,
        model_words,
        normalise,
    )

    cfg, settings, _ = training.read_config()
    cfg["components"]["textcat_multilabel"]["model"]["length"] = 4096
    cfg["components"]["textcat_multilabel"]["model"]["hidden_length"] = 2048
    examples = corpus.read_examples(training.DATA_DIR)
    one, _ = training.fit(examples[:150], cfg, dataclasses.replace(settings, epochs=2, members=1),
                          log=lambda *_: None)
    two, _ = training.fit(examples[:150], cfg, dataclasses.replace(settings, epochs=2, members=2),
                          log=lambda *_: None, parallel=True)
    assert two.pipe_names == ["textcat_multilabel", "textcat_multilabel_1"]
    # Fitted side by side in forked processes or one after the other: the same to the bit.
    one_by_one, _ = training.fit(examples[:150], cfg, dataclasses.replace(settings, epochs=2, members=2),
                                 log=lambda *_: None, parallel=False)
    for name in two.pipe_names:
        assert two.get_pipe(name).model.to_bytes() == one_by_one.get_pipe(name).model.to_bytes(), name
    assert two.get_pipe("textcat_multilabel").model.to_bytes() == one.get_pipe("textcat_multilabel").model.to_bytes()
    wide = [two.get_pipe(name).model.get_ref("wide_layer").get_param("W") for name in two.pipe_names]
    assert not np.allclose(wide[0], wide[1])

    model = Model(two, Decision(), {})
    assert model.bow is not None and model.bow.members == 2
    compared = 0
    for e in examples[150:200]:
        _, feats, sentences = features_by_sentence(normalise(e.subject, e.text))
        cats = [textcat(Doc(two.vocab, words=model_words(feats, sentences))).cats for textcat in model.textcats]
        fast = model.model_scores(feats, sentences)
        for label in fast:
            # Far from 0 and 1, where spaCy's float32 scores still tell the log-odds.
            if all(1e-4 < c[label] < 1 - 1e-4 for c in cats):
                odds = sum(math.log(c[label] / (1 - c[label])) for c in cats) / 2
                assert fast[label] == pytest.approx(1 / (1 + math.exp(-odds)), abs=1e-5), (e.id, label)
                compared += 1
    assert compared > 100


def test_a_model_of_several_members_needs_the_bag_of_words_networks() -> None:
    """Members of another architecture are refused with a message that says what to change."""
    import spacy

    from mailbot.classifier.model import ClassifierError, Decision, Model

    nlp = spacy.blank("xx")
    for name in ("textcat_multilabel", "textcat_multilabel_1"):
        textcat = nlp.add_pipe("textcat_multilabel", name=name, config={"model": {
            "@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": False, "ngram_size": 2,
            "no_output_layer": False, "length": 1024}})
        for label in (*MODEL_LABELS, "_request"):
            textcat.add_label(label)
    nlp.initialize()
    with pytest.raises(ClassifierError, match="members = 1"):
        Model(nlp, Decision(), {})


def test_cross_validation_measures_each_training_source_once_and_leaves_heldout_and_model_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """`evaluate --folds K` retrains K times on a small data set; each non-held-out mail is measured once."""
    data = tmp_path / "data"
    data.mkdir()
    examples = corpus.read_examples(training.DATA_DIR)
    small = [e for e in examples if e.source.startswith("ak3d/v3_en/")][:80]
    (data / "small.jsonl").write_text("".join(
        json.dumps({"id": e.id, "source": e.source, "lang": e.lang, "subject": e.subject, "text": e.text,
                    "labels": list(e.labels)}) + "\n" for e in small
    ))
    config = tmp_path / "config.cfg"
    config.write_text(training.CONFIG_PATH.read_text().replace("epochs = 50", "epochs = 2"))
    _, settings, _ = training.read_config(config)
    pool, heldout = corpus.split(small, settings.heldout_fraction, settings.seed)
    assert heldout, "the sample needs held-out sources to show they stay out"
    shipped = (DEFAULT_MODEL_DIR / "mailbot.json").read_bytes()

    assert main(["classifier", "evaluate", "--folds", "3", "--data", str(data), "--train-config", str(config)]) in (0, 1)
    out = capsys.readouterr().out
    assert "fold 3/3" in out and f"3-fold cross-validation over the training sources: {len(pool)} messages" in out
    assert "macro-F1" in out
    assert (DEFAULT_MODEL_DIR / "mailbot.json").read_bytes() == shipped
    folds = {corpus.fold_of(e.source, 3, settings.seed) for e in pool}
    assert folds == {0, 1, 2}
    with pytest.raises(training.ClassifierError, match="at least 2 folds"):
        training.cross_validate(data, config, 1)


def _example(n: int, text: str, labels: tuple[str, ...], source: str = "") -> corpus.Example:
    return corpus.Example(f"t/{n}", source or f"t/{n}", "en", f"subject {n}", text, labels)


def test_splice_copies_put_ordinary_paragraphs_around_a_request_and_keep_its_labels() -> None:
    """Each hand-written example gets seeded copies with an ordinary mail's inner paragraphs spliced in."""
    request = _example(1, "Hi,\n\nPlease delete my account and all my data.\n\nThanks,\nAnn", ("erasure",))
    ordinary = _example(2, "Hello,\n\nOrder 1042 arrived cracked.\n\nCan you reprint it?\n\nBest,\nBo", ("none",))
    letter = _example(3, "Dear Sir or Madam, under Article 15 ...", ("access",), source="datenanfragen/x")

    copies = training.splice_copies([request, ordinary, letter], 2, seed=7)

    assert copies == training.splice_copies([request, ordinary, letter], 2, seed=7)  # seeded
    assert [c.id for c in copies] == ["t/1~splice0", "t/1~splice1", "t/2~splice0", "t/2~splice1"]
    spliced = copies[0]
    assert spliced.labels == ("erasure",) and spliced.source == request.source and spliced.subject == request.subject
    assert "Please delete my account and all my data." in spliced.text
    assert "Order 1042 arrived cracked." in spliced.text and "Can you reprint it?" in spliced.text
    assert "Best,\nBo" not in spliced.text  # the filler's sign-off stays behind
    assert all(c.labels == ("none",) for c in copies[2:])


def test_splice_copies_never_move_quoted_history_into_a_copy() -> None:
    """An ordinary reply above a quoted request lends only its own words: a quoted request must not become a label's evidence."""
    request = _example(1, "Take me off your mailing list please.", ("objection",))
    reply = _example(
        2, "Thanks, that's sorted.\n\nSee you at the workshop.\n\nOn 3 May, Ann wrote:\n> Please send me all my data.",
        ("none",),
    )
    for copy in training.splice_copies([request, reply], 3, seed=1):
        assert "send me all my data" not in copy.text


def test_union_copies_splice_another_request_in_and_join_the_labels() -> None:
    """A copy carries a request of another source and language-mate spliced in, with both mails' labels."""
    erasure = _example(1, "Hi,\n\nPlease delete my account and all my data, I no longer use it.\n\nThanks,\nAnn",
                       ("erasure",))
    access = _example(2, "Hello,\n\nPlease send me a copy of all the personal data you hold about me.\n\n"
                         "And tell me who you shared it with.\n\nBest,\nBo", ("access",))
    reminder = _example(3, "I asked for my data on 3 May and have heard nothing since. Please reply now.",
                        ("access", "follow_up"))
    ordinary = _example(4, "Hello,\n\nOrder 1042 arrived cracked, can you reprint it please?\n\nBest,\nCy", ("none",))
    german = corpus.Example("t/5", "t/5", "de", "Daten", "Bitte löschen Sie mein Konto und alle meine Daten sofort.", ("erasure",))
    examples = [erasure, access, reminder, ordinary, german]

    copies = training.union_copies(examples, 1, seed=3)

    assert copies == training.union_copies(examples, 1, seed=3)  # seeded
    by_id = {c.id.split("~")[0]: c for c in copies}
    assert by_id["t/1"].labels == ("access", "erasure")  # in the labels' order
    assert "send me a copy of all the personal data" in by_id["t/1"].text
    assert "Best,\nBo" not in by_id["t/1"].text  # the donor's sign-off stays behind
    assert "Please delete my account" in by_id["t/1"].text and by_id["t/1"].source == erasure.source
    assert by_id["t/4"].labels in {("access",), ("erasure",)}  # an ordinary mail takes the donor's labels
    assert "Order 1042 arrived cracked" in by_id["t/4"].text
    assert by_id["t/3"].labels == ("access", "erasure", "follow_up")  # a reminder takes a donor...
    for copy in copies:
        assert copy.id.startswith("t/3~") or "heard nothing since" not in copy.text  # ...but is never one
        assert "Bitte löschen" not in copy.text or copy.lang == "de"  # donors share the language
    assert "t/5" not in by_id  # no other German request to take from


def test_augment_adds_typo_and_splice_copies_as_configured() -> None:
    """augment() returns the examples first, then the copies the settings ask for."""
    examples = [_example(1, "Please delete my data, all of it, and close my account for good.\n\nThanks", ("erasure",)),
                _example(2, "Where is my order?", ("none",))]
    settings = training.TrainingSettings(typo_copies=1, splice_copies=2, union_copies=1)
    augmented = training.augment(examples, settings)
    assert augmented[:2] == examples
    assert sum("~typo" in e.id for e in augmented) == 2 and sum("~splice" in e.id for e in augmented) == 4
    # The only request cannot take from itself; the ordinary mail takes it.
    assert [e.id for e in augmented if "~union" in e.id] == ["t/2~union0"]
    assert training.augment(examples, training.TrainingSettings(typo_copies=0, splice_copies=0)) == examples


class _FixedScores:
    """A stand-in model for tune_decision: each mail's scores are fixed by its one word."""

    def __init__(self, scores: dict[str, dict[str, float]]) -> None:
        self.scores = scores
        self.decision = training.Decision()

    def read(self, joined: str) -> tuple[list[str], dict[str, float]]:
        words = joined.split()
        return words, self.scores[words[-1]]

    def rule_hits(self, words: list[str], joined: str) -> tuple[()]:
        return ()

    def judge(self, scores: dict[str, float], hits: tuple[()], data_thread: bool = False):  # type: ignore[no-untyped-def]
        from types import SimpleNamespace

        rights = tuple(label for label, score in scores.items() if score >= self.decision.threshold_of(label))
        return SimpleNamespace(labels=rights or ("none",), is_request=bool(rights), uncertain=False)


def test_where_the_target_is_missed_a_right_gets_no_lower_threshold_of_its_own() -> None:
    """A lower threshold for one right, where even the common one calls too much ordinary mail a request, is not taken."""
    scores = {f"c{i}": {"complaint": 0.6} for i in range(20)}  # complaints the common threshold misses
    scores |= {f"x{i}": {"complaint": 0.95} for i in range(30)}  # ordinary mail no threshold saves
    scores |= {f"a{i}": {"access": 0.95} for i in range(20)}  # access requests found at any threshold
    scores |= {f"o{i}": {"access": 0.6} for i in range(30)}  # ordinary mail a lower common threshold would flag
    labels = {"c": ("complaint",), "x": ("none",), "a": ("access",), "o": ("none",)}
    validation = [corpus.Example(f"t/{w}", f"t/{w}", "en", "", w, labels[w[0]]) for w in scores]

    decision = training.tune_decision(_FixedScores(scores), validation, training.Decision())  # type: ignore[arg-type]

    assert decision.threshold > 0.6
    assert "complaint" not in decision.thresholds  # 0.6 would lift its F1 from 0 to 0.57
