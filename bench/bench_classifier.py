"""Benchmark of the rights classifier: messages per second on one core, model load time, RSS.

Run: /work/venv/bin/python bench/bench_classifier.py [--messages N]
Reports against the goals of issue 3 (>= 2,000 messages/s, load <= 1 s, RSS <= 150 MB);
it does not assert, because timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import time


def rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    """Time import, load and classification; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000, help="how many messages to classify")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the goal says

    started = time.perf_counter()
    import spacy  # noqa: F401  (timed separately: every process pays it once)

    imported = time.perf_counter()
    from mailbot.classifier import load_model

    model = load_model()
    loaded = time.perf_counter()

    from mailbot.classifier import corpus, training

    # Typical mail: the hand-written corpus (short and long, formal and informal), not the
    # long template letters only.
    examples = [e for e in corpus.read_examples(training.DATA_DIR)]
    mails = [(e.subject, e.text) for e in examples]
    mails = (mails * (args.messages // len(mails) + 1))[: args.messages]
    chars = sum(len(s) + len(t) for s, t in mails) / len(mails)

    model.classify(*mails[0])  # warm caches
    t0 = time.perf_counter()
    for subject, text in mails:
        model.classify(subject, text)
    one_by_one = len(mails) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    model.classify_many(mails)
    batched = len(mails) / (time.perf_counter() - t0)

    print(f"messages: {len(mails)} (average {chars:.0f} characters, from classifiers/data)")
    print(f"import spacy: {imported - started:.2f} s")
    print(f"model load (load_model, after import): {loaded - imported:.2f} s  (goal <= 1 s)")
    print(f"import + load: {loaded - started:.2f} s")
    print(f"classify one by one: {one_by_one:,.0f} messages/s on one core  (goal >= 2,000)")
    print(f"classify_many (batched): {batched:,.0f} messages/s on one core")
    print(f"peak RSS: {rss_mb():.0f} MB  (goal <= 150 MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
