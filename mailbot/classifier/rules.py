"""Rule patterns that back the statistical model where wording is unambiguous.

Two kinds: references to a GDPR article in any of our languages ("Art. 15", "Article 17(1)",
"Artikel 21", "l'article 16", "artículo 20") and a short list of phrases that name a right
outright ("subject access request", "right to be forgotten", "Recht auf Vergessenwerden").
A rule hit lifts a label's score to a floor; it never lowers a score.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from spacy.matcher import Matcher, PhraseMatcher
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
# Token sets, not regular expressions: set look-ups keep the Matcher cheap on long letters.
ARTICLE_WORDS = frozenset(
    f"{prefix}{word}" for word in _ARTICLE_BASE for prefix in ("", "l'", "l’", "dell'", "dell’", "all'", "all’")
)

# Words that show an article number belongs to data-protection law, not to licence terms.
LAW_WORDS = frozenset(
    "gdpr gdpr. gdpr, ukgdpr dsgvo ds-gvo rgpd avg dpa dpa2018 datenschutz-grundverordnung "
    "datenschutzgrundverordnung".split()
)

_ARTICLE_HINT = re.compile(r"\bart[a-zíì]*\s*\.?\s*\d", re.I)
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
        "erase all my data", "delete my personal data", "erase my personal data", "delete my data",
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


@dataclass(frozen=True)
class RuleHit:
    """One rule that fired: the label it supports and the text that triggered it."""

    label: str
    rule: str
    text: str


class RuleSet:
    """Matcher and PhraseMatcher patterns over one vocabulary, applied to a tokenised mail.

    Docs must come from :func:`mailbot.classifier.normalisation.tokens` (digits split from
    brackets and dots: "Art.15(3)" is "Art", ".", "15", "(", "3", ")").
    """

    def __init__(self, vocab: Vocab, make_doc) -> None:  # type: ignore[no-untyped-def]
        """Compile the patterns against vocab; make_doc tokenises the phrases."""
        self.articles = Matcher(vocab)
        self.articles.add(
            "ARTICLE",
            [[{"LOWER": {"IN": sorted(ARTICLE_WORDS)}}, {"ORTH": ".", "OP": "?"},
              {"IS_DIGIT": True, "LENGTH": {"<=": 2}}]],
        )
        self.phrases = PhraseMatcher(vocab, attr="LOWER")
        for label, phrases in PHRASES.items():
            self.phrases.add(label, [make_doc(p) for p in phrases])

    def apply(self, doc: Doc, text: str | None = None) -> tuple[RuleHit, ...]:
        """Every rule that fires on doc (whose text may be passed to save rebuilding it)."""
        hits: list[RuleHit] = []
        text = doc.text if text is None else text
        # Cheap string checks first: the token Matcher with regular expressions is the
        # slowest step of classification, and most mail cites no article at all.
        if _ARTICLE_HINT.search(text) and _LAW_HINT.search(text):
            for _, start, end in self.articles(doc):
                span = doc[start:end]
                number = int(span[-1].text)
                if number in ARTICLE_RIGHTS:
                    hits.append(RuleHit(ARTICLE_RIGHTS[number], "article", span.text))
        for match_id, start, end in self.phrases(doc):
            hits.append(RuleHit(doc.vocab.strings[match_id], "phrase", doc[start:end].text))
        return tuple(hits)


def labels_of(hits: Iterable[RuleHit]) -> frozenset[str]:
    """The labels a set of hits supports."""
    return frozenset(hit.label for hit in hits)
