"""Language detection by counting stopwords: no model, no download, microseconds per mail."""

from __future__ import annotations

import re
from collections import Counter
from itertools import chain

# The commonest function words of each language. Words shared between languages
# (e.g. "de", "in", "die"/"die") are kept only where they are strongly typical, because
# each hit is one vote and a shared word would blur the count on short mails.
STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the and you your my me is are was have has please would could this that with for "
        "not it of to on at from be been do does did can will what which about any all "
        "thanks thank hi hello dear regards i'm i've don't can't there their they".split()
    ),
    "de": frozenset(
        "der die das und ich ist nicht sie mit mich mir meine meiner meinen meinem bitte "
        "ein eine einen dem den des auf für fuer von zu wir ihr ihre ihnen sehr bei nach "
        "auch oder wie wurde werden habe haben hiermit gemäß gruß grüße grüßen danke "
        "hallo guten tag sind kein keine noch schon aus wird wann".split()
    ),
    "fr": frozenset(
        "le la les et je vous votre vos mon ma mes pas est une des du au aux que qui pour "
        "avec dans sur ce cette ces merci bonjour madame monsieur cordialement suis "
        "ai avez être mais ou donc car ne plus nous leur".split()
    ),
    "es": frozenset(
        "el la los las y yo usted ustedes mi mis su sus es que por para con del al una "
        "uno como pero gracias hola estimado estimados saludos atentamente favor "
        "mí me han he tengo está están esta este sobre datos".split()
    ),
    "it": frozenset(
        "il lo la gli le e io voi vostro vostra mio mia miei mie è che per con del della "
        "dei delle non una uno come ma grazie buongiorno salve cordiali saluti "
        "sono ho avete essere questo questa dati vi ci di su più ciao tutti tutte voglio potete favore".split()
    ),
    "nl": frozenset(
        "de het een en ik u uw mijn mij niet is van op voor met dat die zijn wij jullie "
        "graag alstublieft bedankt dank groet groeten vriendelijke geachte beste heb "
        "hebben wordt worden ook maar naar bij gegevens".split()
    ),
}

SUPPORTED: tuple[str, ...] = tuple(STOPWORDS)
DEFAULT = "en"  # a UK shop: when a mail gives no evidence, the reply language is English

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
_SCAN_LIMIT = 3000  # characters; the opening of a mail decides its language


# Word -> the languages it votes for: one dictionary look-up per word instead of six set tests.
_VOTES: dict[str, tuple[str, ...]] = {}
for _lang, _words in STOPWORDS.items():
    for _word in _words:
        _VOTES[_word] = (*_VOTES.get(_word, ()), _lang)


def detect(text: str) -> str:
    """The ISO 639-1 code of the language text is mostly written in ("en" if unclear)."""
    counts = dict.fromkeys(SUPPORTED, 0)
    votes = _VOTES.get
    for word in _WORD.findall(text[:_SCAN_LIMIT].lower()):
        for lang in votes(word, ()):
            counts[lang] += 1
    best = max(SUPPORTED, key=lambda lang: (counts[lang], lang == DEFAULT))
    return best if counts[best] >= 2 else DEFAULT


def detect_words(words: "list[str]", limit: int = 600) -> str:
    """:func:`detect` for a mail already split into lower-cased tokens (its first ``limit`` count)."""
    # Counted without a loop in Python: most words are no stopword of any language.
    counts = Counter(chain.from_iterable(filter(None, map(_VOTES.get, words[:limit]))))
    best = max(SUPPORTED, key=lambda lang: (counts[lang], lang == DEFAULT))
    return best if counts[best] >= 2 else DEFAULT
