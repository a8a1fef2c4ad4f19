"""Rule patterns that back the statistical model where wording is unambiguous.

Three kinds: references to a GDPR article in any of our languages ("Art. 15", "Article 17(1)",
"Artikel 21", "l'article 16", "artículo 20"); a list of phrases that name a right outright
("subject access request", "right to be forgotten", "Recht auf Vergessenwerden"); and a few
regular expressions for the plain-English core phrasings of the issue ("what do you have on me",
"my address is wrong on my invoices", "take me off your list"). A rule hit lifts a label's score
to a floor; it never lowers a score.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

# Article number -> the right it grants. Articles that letters cite only in passing
# (4 definitions, 12 deadlines, 19 notifying recipients, 22 profiling) are left out.
ARTICLE_RIGHTS: dict[int, str] = {
    15: "access",
    16: "rectification",
    17: "erasure",
    18: "restriction",
    20: "portability",
    21: "objection",
    77: "complaint",
}

_ARTICLE_BASE = ("art", "arts", "artt", "article", "articles", "artikel", "artikels", "articolo", "articoli",
                 "artículo", "artículos", "articulo", "artigo")
# "Art. 15", "Artikel 21", "l'article 17(1)", "dell'articolo 20": one regular expression over the
# text. (A token Matcher did the same at many times the cost: it walked every token of a letter.)
_ARTICLE = re.compile(
    r"(?<![\w'’])(?:l['’]|dell['’]|all['’])?(?:" + "|".join(sorted(_ARTICLE_BASE, key=len, reverse=True))
    + r")\s*\.?\s*(?P<number>\d{1,2})(?!\d)",
    re.I,
)

# Words that show an article number belongs to data-protection law, not to licence terms.
LAW_WORDS = frozenset(
    "gdpr gdpr. gdpr, ukgdpr dsgvo ds-gvo rgpd avg dpa dpa2018 datenschutz-grundverordnung "
    "datenschutzgrundverordnung".split()
)

_LAW_HINT = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(LAW_WORDS)) + r")(?!\w)", re.I)

# Phrases that name a right outright, by label. Matched on lower-cased tokens.
PHRASES: dict[str, tuple[str, ...]] = {
    "access": (
        "subject access request", "data subject access request", "right of access", "right to access",
        "copy of my personal data", "copy of all personal data", "copy of the personal data",
        "what personal data you hold", "what data you hold", "what personal information you hold",
        "what information you hold on me", "what data do you hold", "what do you have on me",
        "auskunftsersuchen", "auskunftsanfrage", "recht auf auskunft", "auskunft nach art",
        "droit d'accès", "demande d'accès", "derecho de acceso", "diritto di accesso",
        "recht op inzage", "inzageverzoek",
        "you have on me", "you hold on me", "you hold about me", "you have about me", "you keep about me",
        "you've got on me", "stored about me", "you know about me", "copy of my data", "copy of all my data",
        "habt ihr über mich", "haben sie über mich", "sie von mir haben", "kopie meiner daten",
        "vous avez sur moi", "avez-vous sur moi", "copie de mes données",
        "tenéis sobre mí", "tienen sobre mí", "guardáis sobre mí", "copia de mis datos",
        "avete su di me", "copia dei miei dati",
        "jullie over mij", "jullie van mij", "u over mij", "kopie van mijn gegevens",
    ),
    "rectification": (
        "right to rectification", "right of rectification", "recht auf berichtigung",
        "droit de rectification", "derecho de rectificación", "diritto di rettifica",
        "recht op rectificatie", "recht op correctie",
    ),
    "erasure": (
        "right to erasure", "right to be forgotten", "delete all my data", "delete all my personal data",
        "erase all my data", "delete my personal data", "delete the card details", "delete my card details",
        "delete my payment details", "delete the payment details", "remove my card details", "erase my personal data", "delete my data",
        "recht auf löschung", "recht auf vergessenwerden", "löschen sie alle meine daten",
        "droit à l'effacement", "droit à l'oubli", "derecho de supresión", "derecho al olvido",
        "diritto alla cancellazione", "diritto all'oblio", "recht op vergetelheid",
        "recht op verwijdering", "recht op gegevenswissing",
    ),
    "restriction": (
        "restrict the processing", "restriction of processing", "right to restriction",
        "restrict processing", "einschränkung der verarbeitung", "limitation du traitement",
        "limitación del tratamiento", "limitazione del trattamento", "beperking van de verwerking",
    ),
    "objection": (
        "right to object", "object to the processing", "object to processing",
        "stop sending me marketing", "take me off your mailing list", "remove me from your mailing list",
        "unsubscribe me", "widerspruch gegen die verarbeitung", "widerspreche der verarbeitung",
        "droit d'opposition", "derecho de oposición", "diritto di opposizione", "recht van bezwaar",
    ),
    "portability": (
        "data portability", "right to portability", "machine-readable format", "machine readable format",
        "datenübertragbarkeit", "portabilité des données", "portabilidad de los datos",
        "portabilità dei dati", "overdraagbaarheid van gegevens", "maschinenlesbaren format",
    ),
    "withdraw_consent": (
        "withdraw my consent", "withdrawing my consent", "revoke my consent", "i withdraw consent",
        "widerrufe meine einwilligung", "widerruf meiner einwilligung", "retire mon consentement",
        "retiro mi consentimiento", "revoco il mio consenso", "trek mijn toestemming in",
        "withdrawing said consent", "withdraw said consent", "i no longer consent", "consent withdrawn",
        "widerrufe ich diese hiermit", "ziehe meine einwilligung zurück", "je retire ce consentement",
        "revoco dicho", "retirando dicho consentimiento", "revoco tale consenso", "ritiro tale consenso",
        "revoco il consenso", "trek ik deze toestemming", "de toestemming daarvoor in",
    ),
    "complaint": (
        "complaint to the ico", "complain to the ico", "report you to the ico", "reported you to the ico",
        "information commissioner's office", "complaint to the supervisory authority",
        "beschwerde bei der aufsichtsbehörde", "plainte auprès de la cnil", "reclamación ante la aepd",
        "reclamo al garante", "klacht bij de autoriteit persoonsgegevens",
    ),
    "follow_up": (
        "sent you a request", "my earlier request", "my previous request", "my request of",
        "the one-month deadline", "one month has passed", "the period of one month",
        "habe ich ihnen eine anfrage", "meine anfrage vom", "ma demande du", "je vous ai envoyé une demande",
        "mi solicitud del", "os envié una solicitud", "la mia richiesta del", "vi ho mandato una richiesta",
        "mijn verzoek van", "heb ik u een verzoek", "les envié una petición", "hatte ich bei ihnen eine anfrage",
    ),
}


# Phrases that ask for a copy only when no other right governs them: "the data you hold about
# me" is access in "send me the data you hold about me" but erasure in "erase the data you hold
# about me". Such a hit is dropped when one of these words comes shortly before it.
AMBIGUOUS_ACCESS = frozenset(
    "you have on me|you hold on me|you hold about me|you have about me|you keep about me|you've got on me|"
    "stored about me|you know about me|sie von mir haben|vous avez sur moi|tienen sobre mí|avete su di me|"
    "jullie over mij|jullie van mij|u over mij".split("|")
)
OTHER_RIGHT_VERBS = frozenset(
    "delete deleting deleted erase erasing erased remove removing wipe destroy forget purge correct correcting "
    "update fix rectify restrict transfer export move stop löschen löscht entfernen vergessen berichtigen korrigieren "
    "supprimer supprimez effacer effacez oubliez corriger borrar borrad eliminar eliminad suprimir corregir "
    "cancellare cancellate eliminate dimenticatemi correggere verwijderen verwijder wissen wis vergeet corrigeren".split()
)
_LOOKBACK = 12  # tokens before an ambiguous access phrase searched for another right's verb

# Plain-language requests that a bag of words scores too low because each word on its own is
# common in ordinary mail ("my address is wrong on my invoices"). Regular expressions over the
# lower-cased text; each must be specific enough to fire on almost nothing but a request.
_DATA_NOUN = (r"(?:address(?:es)?|name|surname|e-?mail(?: address)?|phone(?: number)?|mobile(?: number)?|postcode|"
              r"date of birth|details|company name|vat number|title|billing address|info(?:rmation)?|data)")
_RECORD = r"(?:invoices?|account|records?|system|profile|file|database|receipts?|customer account)"
PATTERNS: tuple[tuple[str, str], ...] = (
    ("rectification", r"\b" + _DATA_NOUN + r"\b[^.!?\n]{0,40}?\b(?:is|are)\s+(?:wrong|incorrect|inaccurate|out of date|"
     r"outdated|misspel(?:t|led)|not correct|not right)\s+(?:on|in)\s+(?:my|our|your|all (?:my|our)|the)\s+(?:\w+\s+){0,2}" + _RECORD),
    ("rectification", r"\b" + _DATA_NOUN + r"\s+(?:on|in)\s+(?:my|our|your|all (?:my|our))\s+(?:\w+\s+){0,3}" + _RECORD
     + r"\b[^.!?\n]{0,60}?\b(?:is|are)\s+(?:wrong|incorrect|inaccurate|out of date|outdated|not correct|not right)"),
    ("rectification", r"\byou (?:still )?have (?:my|our) (?:old|previous|former|wrong)\b"),
    ("rectification", r"\b(?:correct|update|fix|change) (?:it|this|that|them|my \w+(?: \w+)?|our \w+(?: \w+)?) "
     r"(?:in|on) your (?:records|system|database|files)\b"),
    ("rectification", r"\byour records (?:say|show|have|list)\b"),
    # Policy (README): a lasting change of the details held ("use our new address for future
    # invoices", "I've moved, please update my address") is rectification; a one-off delivery
    # instruction for one order ("send this order to my office") is ordinary mail.
    ("rectification", r"\b(?:use|put|change (?:it|this) to|update (?:it|this) to) (?:my|our) new (?:\w+ )?address "
     r"(?:for|on) (?:all |any )?(?:future|the next|next|upcoming|later) (?:invoices?|orders?|deliveries)"),
    ("rectification", r"\b(?:i|we)(?:'ve| have)? moved\b[^.!?\n]{0,60}?\b(?:update|change|correct)\b"),
    ("access", r"\bwhat (?:\w+ )?(?:do|have) you (?:\w+ )?(?:got|have|hold|keep|know|store)(?: stored)? (?:on|about) me\b"),
    ("access", r"\bwhat (?:info(?:rmation)?|data|details|personal data|personal information) (?:do|have) you (?:\w+ )?"
     r"(?:got|have|hold|keep|store)\b"),
    ("access", r"\bwhere did you get my (?:e-?mail|email address|details|data|number|phone number|address|name)\b"),
    ("access", r"\b(?:who|which (?:companies|third parties|partners)) (?:did|have) you (?:shared?|passed?|given|gave|sold|disclosed?)"
     r" my (?:data|details|information|info|email|personal data|address)\b"),
    ("erasure", r"\b(?:forget me|delete everything(?! (?:in|from) (?:my|the) )|erase (?:all|everything)|wipe (?:all )?my (?:data|details|info))\b"),
    ("erasure", r"\b(?:delete|erase|remove|close) my (?:customer |user )?account and (?:all |any )?(?:my |the )?"
     r"(?:data|details|information|personal|everything|forget)"),
    ("objection", r"\b(?:stop (?:e-?mailing|texting|spamming) me|take me off your (?:\w+ )?list|remove me from your (?:\w+ )?list|"
     r"opt me out|unsubscribe me|stop sending me (?:\w+ )?(?:marketing|newsletters?|promotions?|offers|adverts|e-?mails))\b"),
    ("portability", r"\b(?:so (?:that )?i can (?:move|take|transfer|import|upload) (?:it|them|my data)|in a machine[- ]readable)"),
    ("withdraw_consent", r"\b(?:withdraw (?:any|all|every|my|the) (?:consent|permission)|i (?:no longer|do not|don't) consent)\b"),
    # The other languages: "delete ... my data/account" and "what do you have about me" in the
    # forms customers write, within one sentence. The bag of words knows these languages from
    # a few dozen examples each; these patterns carry the commonest phrasings.
    ("erasure", r"\b(?:löscht|löschen sie|bitte löschen|löschung meine[rs]?|supprimez|effacez|supprimer|effacer|borrad|borréis|"
     r"eliminad|eliminéis|borren|eliminen|cancellate|eliminate|cancelliate|verwijder|verwijderen|wis)\b[^.!?\n]{0,60}?"
     r"\b(?:daten|konto|kundenkonto|account|compte|données|datos|cuenta|dati|gegevens|persoonsgegevens|kaartgegevens|"
     r"informationen|informations|información|informazioni)\b"),
    ("erasure", r"\b(?:meine|mein|mes|mon|ma|mis|mi|i miei|il mio|mijn|al mijn)\s+(?:\w+\s+){0,3}?(?:daten|konto|kundenkonto|"
     r"données|compte|datos|cuenta|dati|account|gegevens|persoonsgegevens)\b[^.!?\n]{0,40}?\b(?:zu löschen|löschen|"
     r"supprimer|effacer|borrar|eliminar|suprimir|cancellare|eliminare|verwijderen|wissen)\b"),
    ("access", r"\b(?:was (?:habt ihr|haben sie|wisst ihr|wissen sie)|welche (?:\w+ )?daten (?:habt ihr|haben sie|speichert)|"
     r"qu['’]est-ce que vous avez|quelles (?:\w+ )?(?:données|informations) (?:avez-vous|vous avez|détenez)|"
     r"qué (?:datos|información|tenéis|tienen|sabéis|saben)|quali (?:dati|informazioni)|cosa (?:avete|sapete)|"
     r"welke (?:\w+ )?(?:gegevens|informatie) (?:hebben|heeft|bewaren)|wat (?:hebben|weten) jullie)\b"),
)
_WRONG = ("wrong", "incorrect", "inaccurate", "out of date", "outdated", "misspel", "not correct", "not right")
_ERASE_STEMS = ("lösch", "supprim", "effac", "borr", "elimin", "cancell", "verwijder", "wis ")
# Substrings one of which must occur for each pattern of PATTERNS (same order) to be tried: a
# substring test costs nanoseconds, a regular expression with gaps tens of microseconds.
_TRIGGERS: tuple[tuple[str, ...], ...] = (
    _WRONG, _WRONG, ("have my ", "have our "), ("in your ", "on your "), ("your records",), ("new address",),
    ("moved",),
    (" on me", "about me"), ("what ",), ("where did you get",), ("did you", "have you"),
    ("forget me", "delete everything", "erase all", "erase everything", "wipe"), (" account and",),
    ("stop ", "take me off", "remove me from", "opt me out", "unsubscribe me"), ("so i can", "so that i can", "machine"),
    ("consent", "permission"), _ERASE_STEMS, _ERASE_STEMS,
    ("was ", "welche", "qu'est", "qu’est", "quelles", "qué ", "quali", "cosa ", "welke", "wat "),
)
assert len(_TRIGGERS) == len(PATTERNS)
_PATTERNS = tuple(
    (label, triggers, re.compile(pattern)) for (label, pattern), triggers in zip(PATTERNS, _TRIGGERS)
)


@dataclass(frozen=True)
class RuleHit:
    """One rule that fired: the label it supports and the text that triggered it."""

    label: str
    rule: str
    text: str


class RuleSet:
    """Article references, set phrases and plain-language patterns over one vocabulary.

    Docs must come from :func:`mailbot.classifier.normalisation.tokens` (digits split from
    brackets and dots: "Art.15(3)" is "Art", ".", "15", "(", "3", ")").
    """

    def __init__(self, vocab: Vocab, make_doc) -> None:  # type: ignore[no-untyped-def]
        """Compile the phrases against vocab; make_doc tokenises them."""
        self.phrases = PhraseMatcher(vocab, attr="LOWER")
        for label, phrases in PHRASES.items():
            self.phrases.add(label, [make_doc(p) for p in phrases])
        self._ambiguous = {label: frozenset(p) for label, p in (("access", AMBIGUOUS_ACCESS),)}

    def apply(self, doc: Doc, text: str | None = None) -> tuple[RuleHit, ...]:
        """Every rule that fires on doc (whose text may be passed to save rebuilding it)."""
        hits: list[RuleHit] = []
        text = doc.text if text is None else text
        # Cheap string check first: most mail cites no law at all.
        if _LAW_HINT.search(text):
            for m in _ARTICLE.finditer(text):
                label = ARTICLE_RIGHTS.get(int(m.group("number")))
                if label:
                    hits.append(RuleHit(label, "article", m.group(0)))
        for match_id, start, end in self.phrases(doc):
            label = doc.vocab.strings[match_id]
            phrase = doc[start:end].text
            if label == "access" and phrase.lower() in AMBIGUOUS_ACCESS and _other_right_before(doc, start):
                continue
            hits.append(RuleHit(label, "phrase", phrase))
        lower = text.lower()
        for label, triggers, pattern in _PATTERNS:
            if not any(t in lower for t in triggers):
                continue
            m = pattern.search(lower)
            if m:
                hits.append(RuleHit(label, "pattern", m.group(0)))
        return tuple(hits)


def _other_right_before(doc: Doc, start: int) -> bool:
    """True if a verb of another right ("erase", "löschen") comes shortly before token start."""
    for token in doc[max(0, start - _LOOKBACK):start]:
        if token.lower_ in OTHER_RIGHT_VERBS:
            return True
        if token.text in ".!?\n":
            # A new sentence began since: "Delete my order. What do you have on me?"
            for later in doc[token.i + 1:start]:
                if later.lower_ in OTHER_RIGHT_VERBS:
                    return True
            return False
    return False


def labels_of(hits: Iterable[RuleHit]) -> frozenset[str]:
    """The labels a set of hits supports."""
    return frozenset(hit.label for hit in hits)
