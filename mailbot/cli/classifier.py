"""`mailbot classifier train|evaluate|letters` and `mailbot classify`: the rights classifier."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailbot.classifier.training import Evaluation

# The classifier (and spaCy) is imported inside the commands: other commands should not
# pay half a second of start-up for it.


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `mailbot classifier train|evaluate|letters` and `mailbot classify`."""
    parser = sub.add_parser(
        "classifier", help="train and measure the rights classifier",
        description="Rebuild the classifier model from classifiers/data and classifiers/config.cfg, "
                    "or measure it on the held-out letters.",
    )
    csub = parser.add_subparsers(dest="classifier_command", metavar="ACTION", required=True)
    tr = csub.add_parser(
        "train", help="rebuild classifiers/model from the data and config (seeded, deterministic)",
        description="Train the model; the same data and config give the same model. With the shipped "
                    "config it fits two networks (members = 2), ten passes each over the examples and "
                    "their typo, splice and union copies: about five minutes where two cores let it "
                    "fit them side by side (in forked processes), about eight on one core; progress is "
                    "printed every five passes.",
    )
    _paths(tr)
    tr.add_argument("--out", metavar="DIR", type=Path, help="where to write the model (default: classifiers/model)")
    tr.set_defaults(func=train)
    ev = csub.add_parser(
        "evaluate", help="per-label precision/recall/F1 on the held-out split, and the goals",
        description="Measure the model on the letters training never saw (split by source letter).",
    )
    _paths(ev)
    ev.add_argument("--model", metavar="DIR", type=Path, help="model to measure (default: classifiers/model)")
    ev.add_argument("--errors", action="store_true", help="also list each misclassified example")
    ev.add_argument("--split", choices=("heldout", "validation"), default="heldout",
                    help="which split to measure: heldout (the figures of record) or validation (the split the "
                         "thresholds were tuned on: use it to compare data, rule and config changes without "
                         "choosing anything on the held-out mail)")
    ev.add_argument("--folds", metavar="K", type=int,
                    help="instead of measuring the shipped model, repeat training on K folds of the training "
                         "sources and measure each fold once (about a minute per fold; the held-out split "
                         "and the shipped model are not touched): steadier figures for comparing changes")
    ev.add_argument("--against", metavar="FILE", type=Path, nargs="?", const=True,
                    help="measure a second person's labelling of some of the split's mails (JSON lines of "
                         "\"id\" and \"labels\") against the corpus labels, beside the model on the same mails: "
                         "how far careful readers agree sets what a model can be asked for "
                         "(without FILE: classifiers/second_reader.jsonl, 400 held-out mails labelled blind "
                         "from the labelling policy)")
    ev.set_defaults(func=evaluate)
    le = csub.add_parser(
        "letters", help="fill the datarequests.org templates into classifiers/data (authoring time)",
        description="Read the CC0 letter templates and write their filled variants as training data.",
    )
    le.add_argument("--from", dest="source", metavar="DIR", type=Path, default=Path("../shared/corpus"),
                    help="the shared corpus folder holding datenanfragen/ (default: ../shared/corpus)")
    le.add_argument("--out", metavar="FILE", type=Path, help="default: classifiers/data/datenanfragen.jsonl")
    le.set_defaults(func=letters)

    cl = sub.add_parser(
        "classify", help="say which rights one message exercises",
        description="Classify an .eml file (or '-' for standard input): labels, scores, language, details.",
    )
    cl.add_argument("file", metavar="FILE.eml|-", help="the message, or - to read it from standard input")
    cl.add_argument("--json", action="store_true", help="print the result as JSON (stable shape)")
    cl.add_argument("--model", metavar="DIR", type=Path, help="model directory (default: classifiers/model)")
    cl.set_defaults(func=classify)


def _paths(parser: argparse.ArgumentParser) -> None:
    """The --data and --train-config options both train and evaluate take."""
    parser.add_argument("--data", metavar="DIR", type=Path, help="training data (default: classifiers/data)")
    parser.add_argument("--train-config", metavar="FILE", type=Path,
                        help="training config (default: classifiers/config.cfg)")


def _quiet_spacy() -> None:
    """Keep spaCy's "Created vocabulary" notes out of the progress lines of train and --folds."""
    logging.getLogger("spacy").setLevel(logging.WARNING)


def train(args: argparse.Namespace) -> int:
    """Train the model and report where it went."""
    from mailbot.classifier import training

    _quiet_spacy()
    started = time.perf_counter()
    result = training.train(
        args.data or training.DATA_DIR, args.train_config or training.CONFIG_PATH, args.out,
    )
    print(
        f"model written to {result.model_dir} in {time.perf_counter() - started:.1f} s: "
        f"{result.trained_on} examples trained on, {result.validation} for tuning the thresholds "
        f"(threshold {result.decision.threshold}, uncertain_low {result.decision.uncertain_low}), "
        f"{result.held_out} held out (data {result.fingerprint})"
    )
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """Print per-label figures, the confusion table and the goals; exit 1 if a goal is missed."""
    from mailbot.classifier import load_model, training

    data, config = args.data or training.DATA_DIR, args.train_config or training.CONFIG_PATH
    if args.folds is not None:
        _quiet_spacy()
        print(f"cross-validation: training {args.folds} times, each about as long as 'mailbot classifier train'",
              flush=True)
        ev = training.cross_validate(data, config, args.folds, log=lambda line: print(line, flush=True))
        print(f"\n{args.folds}-fold cross-validation over the training sources: {ev.n} messages ({ev.requests} "
              f"requests, {ev.ordinary} ordinary), each measured by a model that never saw its source; the "
              "held-out split is not used\n")
    elif args.against is not None:
        split = (training.validation_examples if args.split == "validation" else training.heldout_examples)(data, config)
        against = training.SECOND_READER if args.against is True else args.against
        labelled, reading = training.read_labelling(against, split)
        ev = training.score(labelled, reading)
        model_ev = training.evaluate(load_model(args.model), labelled)
        print(f"a second labelling ({against}) of {ev.n} mails of the {args.split} split "
              f"({ev.requests} requests, {ev.ordinary} ordinary by the corpus labels), measured against "
              "the corpus labels as the model is; the model's figures on the same mails follow it\n")
        _print_figures(ev, args.errors)
        print(f"\nthe model on the same {model_ev.n} mails")
        _print_figures(model_ev, args.errors)
        print(f"\nmacro-F1 on these mails: second reader {ev.macro_f1:.3f}, model {model_ev.macro_f1:.3f}")
        return 0
    elif args.split == "validation":
        ev = training.evaluate(load_model(args.model), training.validation_examples(data, config))
        print(f"validation split: {ev.n} messages ({ev.requests} requests, {ev.ordinary} ordinary), not fitted on "
              "but the decision thresholds were chosen on it, so these figures flatter the model; the "
              "figures of record are those of the held-out split\n")
    else:
        ev = training.evaluate(load_model(args.model), training.heldout_examples(data, config))
        print(f"held-out split: {ev.n} messages ({ev.requests} requests, {ev.ordinary} ordinary), "
              "never seen in training (split by source letter); the decision thresholds were chosen "
              "on a separate validation split of the training sources\n")
    return 0 if _print_figures(ev, args.errors) else 1


def _print_figures(ev: Evaluation, errors: bool) -> bool:
    """Print per-label figures, the confusion table, the goals and (errors) each miss; True if all goals are met."""
    print(f"{'label':<18} {'precision':>9} {'recall':>7} {'F1':>6} {'support':>8}")
    for s in ev.per_label:
        print(f"{s.label:<18} {s.precision:>9.3f} {s.recall:>7.3f} {s.f1:>6.3f} {s.support:>8}")
    labels = [s.label for s in ev.per_label]
    short = {label: label[:6] for label in labels}
    print("\nconfusion (rows: true label, columns: predicted labels of the same messages)")
    print(" " * 18 + "".join(f"{short[p]:>8}" for p in labels))
    for gold in labels:
        print(f"{gold:<18}" + "".join(f"{ev.confusion[gold][p]:>8}" for p in labels))
    print("\nis_request recall: share of real requests that reach a person.")
    print(f"  routed (is_request, or uncertain and so sent to the owner): {ev.routed_recall:.3f} "
          f"({ev.requests_routed}/{ev.requests})  <- the goal")
    print(f"  strict (is_request alone):                                 {ev.request_recall:.3f} "
          f"({ev.requests_found}/{ev.requests})")
    print(f"ordinary mail called a request (is_request true): {ev.ordinary_fp_rate:.3f} "
          f"({ev.ordinary_flagged}/{ev.ordinary})  <- the goal")
    print(f"ordinary mail only marked uncertain (owner glances at it, not a goal): {ev.ordinary_uncertain_rate:.3f} "
          f"({ev.ordinary_uncertain}/{ev.ordinary})")
    print("\ngoals")
    met_all = True
    for name, value, target, met in ev.goals():
        met_all &= met
        print(f"  {name:<30} {value:.3f}  (goal {target})  {'met' if met else 'NOT MET'}")
    if errors and ev.errors:
        print("\nmisclassified")
        for eid, gold_labels, pred in ev.errors:
            print(f"  {eid}: true {', '.join(gold_labels)}; predicted {', '.join(pred)}")
    return met_all


def letters(args: argparse.Namespace) -> int:
    """Write the filled template variants to the data folder."""
    from mailbot.classifier import letters as letters_mod
    from mailbot.classifier import training

    out = args.out or training.DATA_DIR / "datenanfragen.jsonl"
    examples = letters_mod.variants(args.source)
    letters_mod.write_jsonl(examples, out)
    print(f"{len(examples)} letter variants written to {out}")
    return 0


def classify(args: argparse.Namespace) -> int:
    """Classify one message and print the result."""
    from mailbot.classifier import load_model

    raw = sys.stdin.buffer.read() if args.file == "-" else _read(Path(args.file))
    subject, text = _message_text(raw)
    result = load_model(args.model).classify(subject, text)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return 0
    kind = "request" if result.is_request else "ordinary mail"
    print(f"{kind}{' (uncertain: for the owner to check)' if result.uncertain else ''}")
    print(f"labels:   {', '.join(result.labels)}")
    print(f"language: {result.language}")
    shown = sorted(result.scores.items(), key=lambda kv: -kv[1])
    print("scores:   " + ", ".join(f"{label} {score:.2f}" for label, score in shown))
    for key, value in result.details.to_json().items():
        if value:
            print(f"{key}: {value}")
    return 0


def _read(path: Path) -> bytes:
    """The bytes of path, or a domain error saying what is wrong."""
    from mailbot.classifier import ClassifierError

    try:
        return path.read_bytes()
    except OSError as exc:
        raise ClassifierError(f"cannot read {path}: {exc.strerror}") from exc


def _message_text(raw: bytes) -> tuple[str, str]:
    """Subject and newest text of a raw message, via the parse stage."""
    from mailbot.parser import parse

    message = parse(raw)
    return message.subject, message.new_text or message.body_text
