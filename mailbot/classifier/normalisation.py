"""Reduce a mail to the text its sender just wrote: the part the classifier should judge.

The parse stage already hands over ``new_text`` without quotes and signature; this is a
second, cheap line of defence so that a caller passing a whole body (or a training example
with quoted history) cannot let an old request in the quote decide a new, ordinary mail.
Training and classification both go through :func:`normalise`, so the model learns on
exactly what it later sees.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from itertools import chain, pairwise

from mailbot.classifier.concepts import concept_features

MAX_CHARS = 4000  # longer mails say what they want near the top; the rest only costs time
# Characters of a mail the text categoriser reads (the rules read MAX_CHARS): the opening of a
# long letter says which right it exercises, and its boilerplate further down (recipients,
# deadlines, other rights mentioned in passing) only pushed the scores of other rights up.
MODEL_CHARS = 1500
# Each distinct word counts once ("binary" bag of words): the count of a word a long letter
# repeats said nothing but its length, and made long letters score near 0 or 1 on everything.
DISTINCT_FEATURES = True

_SUBJECT_PREFIX = re.compile(r"^\s*((re|aw|fw|fwd|wg|tr|rv|r|i|sv|antw)\s*(\[\d+\])?\s*:\s*)+", re.I)
_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]{0,500}>", re.I | re.S)
_HTML_HINT = re.compile(r"<(html|body|div|p|br|table|span)\b", re.I)
# A line that opens quoted history, in the languages we answer.
_REPLY_HEADER = re.compile(
    r"^\s*("
    r"on\b.{0,200}\bwrote\s*:"
    r"|am\b.{0,200}\bschrieb\b.{0,200}:"
    r"|le\b.{0,200}\ba écrit\s*:"
    r"|el\b.{0,200}\bescribió\s*:"
    r"|il\b.{0,200}\bha scritto\s*:"
    r"|op\b.{0,200}\bschreef\b.{0,200}:"
    r"|-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original"
    r"|messaggio originale|oorspronkelijk bericht|forwarded message|weitergeleitete nachricht"
    r"|message transféré|mensaje reenviado|messaggio inoltrato|doorgestuurd bericht)\s*-{2,}"
    r"|_{10,}"
    r")\s*$",
    re.I,
)
_HEADER_BLOCK_START = re.compile(r"^\s*\*?(from|von|de|da|van|от)\s*:\*?\s+\S", re.I)
_HEADER_BLOCK_NEXT = re.compile(
    r"^\s*\*?(sent|date|to|subject|gesendet|datum|an|betreff|envoyé|à|objet|enviado|para|asunto"
    r"|inviato|a|oggetto|verzonden|aan|onderwerp)\s*:", re.I
)
_SIGNATURE = re.compile(r"^(--|-- |__)\s*$")
# "Sent from my iPhone" in each of our languages: a phone's line, never the sender's words.
_MOBILE = re.compile(
    r"^\s*(sent from my \w+.*|von meinem \w+ gesendet.*|gesendet von meinem \w+.*|envoyé de mon \w+.*"
    r"|enviado desde mi \w+.*|inviato da(?:l mio)? \w+.*|(?:verzonden|verstuurd) (?:vanaf|met|van) (?:mijn )?\w+.*)$",
    re.I,
)
_SPACE = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def strip_html(text: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, breaks kept."""
    text = re.sub(r"<(br|/p|/div|/tr|/li|/h\d)\b[^>]*>", "\n", text, flags=re.I)
    return html.unescape(_TAG.sub(" ", text))


def clean_subject(subject: str) -> str:
    """The subject without reply and forward prefixes ("Re:", "AW:", "Fwd:")."""
    return _SUBJECT_PREFIX.sub("", subject or "").strip()


def newest_text(text: str) -> str:
    """The text before any quoted history or signature, with quoted ('>') lines removed."""
    if _HTML_HINT.search(text):
        text = strip_html(text)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        if _REPLY_HEADER.match(line) or _SIGNATURE.match(line):
            break
        if _HEADER_BLOCK_START.match(line) and any(
            _HEADER_BLOCK_NEXT.match(nxt) for nxt in lines[i + 1:i + 4]
        ):
            break
        if line.lstrip().startswith(">") or _MOBILE.match(line):
            continue
        kept.append(line)
    return "\n".join(kept)


# A reply's subject that shows the thread is about a data-protection request.
_DATA_THREAD = re.compile(
    r"personal data|your data|my data|data request|subject access|\bsar\b|\bdsar\b|gdpr|privacy|your request|"
    r"my request|deletion|erasure|\bdsgvo\b|datenschutz|auskunft|löschung|\brgpd\b|données|\bdatos\b|\bdati\b|"
    r"\bavg\b|gegevens",
    re.I,
)


def is_data_thread_reply(subject: str) -> bool:
    """True if subject is a reply ("Re: ...") in a thread about a data-protection request.

    The text of such a reply ("yes, same address, send whatever you've got") often means
    nothing without the thread, and :func:`normalise` drops the old subject; the classifier
    sends it to the owner rather than calling it ordinary with confidence.
    """
    return bool(subject and _SUBJECT_PREFIX.match(subject) and _DATA_THREAD.search(subject))


def normalise(subject: str, text: str) -> str:
    """Subject and newest text joined as the classifier reads them, whitespace tidied, capped."""
    body = newest_text(text or "")
    subject = subject or ""
    # The subject of a reply is the old thread's ("Re: Subject access request"); when the
    # sender wrote something new, that decides, not the subject they left standing.
    if _SUBJECT_PREFIX.match(subject) and len(body.split()) >= 3:
        subject = ""
    joined = f"{clean_subject(subject)}\n\n{body}".strip()
    joined = _BLANK_LINES.sub("\n\n", _SPACE.sub(" ", joined))
    return joined[:MAX_CHARS]


_LONG_WORD = re.compile(r"[^\W\d_]{6,}")
# The first STEM letters of each long word come as a feature of their own: a bag of words sees
# each inflected form as a new word, and with a few hundred examples per language it would never
# learn "löscht" from "löschen"; the shared stem is a cheap stand-in for a stemmer in six languages.
STEM = 5  # characters kept of a long word: "löschen"/"löscht", "delete"/"deleting" share one


_TOKEN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")


# Words that turn the next few words around, in our six languages. A bag of words reads
# "I do not want my account deleted" as a deletion request; the scoped features ("neg_delet...")
# let the model learn the difference (5-fold CV on the twelfth batch's data: macro-F1 0.802 ->
# 0.810, ordinary mail called a request 5.8 % -> 5.4 %, routed recall unchanged).
NEGATORS = frozenset(
    "not never don't dont doesn't didn't won't can't cannot isn't no"
    " nicht kein keine keinen nie niemals pas jamais nunca non mai niet geen nooit".split()
)
NEGATION_SCOPE = 3  # words after a negator that it turns; a punctuation mark ends the scope early
NEGATED = "neg_"


def negated(head_tokens: list[str]) -> list[str]:
    """The "neg_"-prefixed words in the scope of each negator among head_tokens."""
    if NEGATORS.isdisjoint(head_tokens):
        return []  # most sentences: one test in C instead of a loop over the words
    out: list[str] = []
    n = len(head_tokens)
    for i, token in enumerate(head_tokens):
        if token not in NEGATORS:
            continue
        for following in head_tokens[i + 1 : min(n, i + 1 + NEGATION_SCOPE)]:
            if not (following[0].isalnum() or following[0] == "_"):
                break
            out.append(NEGATED + following)
    return out


# Neighbouring words come once more as a pair of their stems ("delet|my", "my|accou"): "delete
# my account" and "delete the duplicate order from my account" share every word, not their pairs.
PAIR = "|"


def pairs(head_tokens: list[str]) -> list[str]:
    """The stem pairs of neighbouring words among head_tokens (a punctuation mark breaks a pair)."""
    stems = [token[:STEM] if token[0].isalnum() or token[0] == "_" else "" for token in head_tokens]
    return [a + PAIR + b for a, b in pairwise(stems) if a and b]


def features(normalised: str) -> tuple[list[str], list[str]]:
    """(words, features) of a normalised mail: its lower-cased tokens, and what the model reads.

    The features are the tokens of the first MODEL_CHARS characters, the stems of their long
    words (see STEM), the words in the scope of a negator (:func:`negated`), the stem pairs of
    neighbouring words (:func:`pairs`) and the ideas the words stand for, alone and in pairs
    (:func:`mailbot.classifier.concepts.concept_features`), each sentence's in turn (a scope, a
    pair or a pair of ideas ends with its sentence). The rules match the words.
    """
    words, feats, _ = features_by_sentence(normalised)
    return words, feats


# What marks off the mail's features from each sentence's, in the words the text categoriser
# reads (see :func:`model_words`): a token the tokeniser never makes.
SENTENCE_MARK = "\n"
MAX_SENTENCES = 40  # a long letter's later sentences are its boilerplate
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")


def features_by_sentence(normalised: str) -> tuple[list[str], list[str], list[list[int]]]:
    """(words, features, each sentence's features as positions in features) of a normalised mail.

    The features are those of :func:`features`; the sentences are those of the first
    MODEL_CHARS characters (at most MAX_SENTENCES), each with its own distinct features. Positions
    rather than the features again, so that a scorer looks each feature's weights up once.
    """
    lower = normalised.lower()
    whole = len(lower) <= MODEL_CHARS
    # A token never holds white space, where the sentences are split: for a mail read whole,
    # its words are its sentences' tokens, without tokenising it twice.
    words: list[str] = [] if whole else _TOKEN.findall(lower)
    by_sentence: list[dict[str, None]] = []  # each sentence's distinct features, in order
    for sentence in _SENTENCE_BREAK.split(lower[:MODEL_CHARS]):
        toks = _TOKEN.findall(sentence)
        if toks:
            if whole:
                words += toks
            found = (toks + [w[:STEM] for w in _LONG_WORD.findall(sentence)] + negated(toks) + pairs(toks)
                     + concept_features(toks))
            by_sentence.append(dict.fromkeys(found))
    # The mail's features in the order they first come; each sentence's as positions among them.
    feats = list(dict.fromkeys(chain.from_iterable(by_sentence)))
    position = dict(zip(feats, range(len(feats))))
    return words, feats, [list(map(position.__getitem__, found)) for found in by_sentence[:MAX_SENTENCES]]


def model_words(feats: list[str], sentences: Sequence[list[int]] = ()) -> list[str]:
    """The words of the Doc the text categoriser reads: the mail's features, then each sentence's after a mark."""
    out = list(feats)
    for sentence in sentences:
        out.append(SENTENCE_MARK)
        out += [feats[i] for i in sentence]
    return out


def tokens(text: str) -> list[str]:
    """Words and punctuation marks of text, split by one regular expression.

    Used instead of spaCy's rule-based tokeniser, which costs more than the whole model
    here; training and classification both use it, so the model sees the same tokens.
    """
    return _TOKEN.findall(text)
