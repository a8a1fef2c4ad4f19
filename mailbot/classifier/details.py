"""The facts a case needs, picked out of a mail: numbers, the correction asked for, data named, a name.

Regular expressions over the normalised text, in the six languages we answer. They aim at
precision: a detail that is missed is asked for by the owner; a wrong one misleads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from itertools import chain
from typing import Any

_ORDER_WORDS = (r"\b(?:order|bestellung|bestellnummer|auftrag|commande|pedido|ordine|bestelling|ordernummer|invoice"
                r"|rechnung|facture|factura|fattura|factuur)")
_ORDER = re.compile(
    _ORDER_WORDS +
    r"(?:\s*(?:no\.?|number|nr\.?|nummer|n°|nº|num\.?|numéro|número|numero|ref\.?|reference|id))?"
    r"\s*[:#]?\s*#?\s*(?P<num>[A-Z]{0,4}-?\d{3,12})\b",
    re.I,
)
_HASH_NUMBER = re.compile(r"(?<![\w#])#\s?(?P<num>(?:[A-Z]{1,4}-)?\d{4,12})\b")
_ACCOUNT_WORDS = r"\b(?:account|customer|kunden|kundennummer|kundenkonto|client|cliente|klant|klantnummer|user|member)"
_ACCOUNT = re.compile(
    _ACCOUNT_WORDS +
    r"(?:\s*(?:no\.?|number|nummer|nr\.?|id|n°|numéro|número|numero|code))?"
    r"\s*[:#]?\s*#?\s*(?P<num>(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{3,20})\b",
    re.I,
)

# Where an order or account number may start: the keywords alone, matched case-sensitively on the
# lower-cased text, which re does three times faster than the whole expression with re.I. Without
# the leading word boundary (the whole expression checks it where it is tried), re skips from one
# keyword's first letter to the next in C: four times faster again.
_ORDER_START = re.compile(_ORDER_WORDS.removeprefix(r"\b"))
_ACCOUNT_START = re.compile(_ACCOUNT_WORDS.removeprefix(r"\b"))

# "X instead of Y": the right value stands before the keyword, so re would try the expression at
# every position of a text, up to 60 characters from each; it is tried only within reach of the
# keyword instead (see _within_reach).
_INSTEAD_WORDS = "instead of|statt|anstatt|anstelle von|au lieu de|en lugar de|en vez de|invece di|anziché|in plaats van"
_INSTEAD_REACH = 62  # characters before the spaces that precede the keyword: an opening quote, the value, a closing one
_INSTEAD_KEYWORD = re.compile(_INSTEAD_WORDS)
_END = r"(?=[;,!?\n]|\.(?:\s|$)|\s+(?:and|but|please|thanks|und|bitte|et|merci|y|gracias|e|grazie|en|bedankt)\b|$)"
_INSTEAD_OF = (r"['\"“„]?(?P<right>[^\n.;,:'\"”“]{2,60}?)['\"”“]?\s+(?:" + _INSTEAD_WORDS + r")\s+['\"“„]?"
               r"(?P<wrong>[^\n;,'\"”“]{2,60}?)['\"”“]?" + _END)
_CORRECTIONS: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(pattern, re.I), wrong, right)
    for pattern, wrong, right in (
        # Block form, common in business mail: "You still have our old office:\n\n  Unit 4, ..."
        # and "The correct address is:\n\n  9 Canal Wharf, ...": the value is the next line, commas and all.
        (r"\byou (?:still )?have (?:me|my|our|it)(?: \w+){0,3}?(?: (?:as|at|down as|listed as))?\s*:\s*(?P<wrong>[^\n]{2,100}?)\s*(?=\n|$)", "wrong", ""),
        (r"\b(?:the )?(?:correct|right|new|current|proper) (?:\w+ )?(?:address|name|e-?mail(?: address)?|phone number|number|postcode|details|spelling)"
         r" (?:is|should be|would be|is now)\s*:\s*(?P<right>[^\n]{2,100}?)\s*(?=\n|$)", "", "right"),
        (r"\bfrom\s+['\"“]?(?P<wrong>[^\n;'\"”]{2,60}?)['\"”]?\s+to\s+['\"“]?(?P<right>[^\n;'\"”]{2,80}?)['\"”]?" + _END, "wrong", "right"),
        (r"\bvon\s+['\"„]?(?P<wrong>[^\n.;'\"“]{2,60}?)['\"“]?\s+(?:auf|in|zu)\s+['\"„]?(?P<right>[^\n;'\"“]{2,80}?)['\"“]?\s+(?:ändern|korrigieren|berichtigen)", "wrong", "right"),
        (r"\bnot\s+['\"“]?(?P<wrong>[^\n;,'\"”]{2,60}?)['\"”]?,?\s+but\s+['\"“]?(?P<right>[^\n;'\"”]{2,80}?)['\"”]?" + _END, "wrong", "right"),
        (r"\bnicht\s+['\"„]?(?P<wrong>[^\n;,'\"“]{2,60}?)['\"“]?,?\s+sondern\s+['\"„]?(?P<right>[^\n;'\"“]{2,80}?)['\"“]?" + _END, "wrong", "right"),
        (_INSTEAD_OF, "wrong", "right"),
        (r"\b(?:wrong|incorrect|falsch|inexact|incorrecte?|erróneo|errónea|incorrecto|incorrecta|sbagliato|sbagliata|errato|errata|onjuist|fout)\s*:\s*['\"“„]?(?P<wrong>[^\n;,'\"”“]{2,80}?)['\"”“]?\s*[,;\n]\s*(?:correct|right|richtig|korrekt|correcte?|correcto|correcta|corretto|corretta|juist)\s*:\s*['\"“„]?(?P<right>[^\n;'\"”“]{2,80}?)['\"”“]?" + _END, "wrong", "right"),
        (r"\b(?:should be|should read|should say|is actually|correct (?:one|address|name|spelling) is|the right one is|muss|sollte|lautet richtig|doit être|devrait être|debe ser|debería ser|dovrebbe essere|deve essere|moet zijn|moet)\s+['\"“„]?(?P<right>[^\n;'\"”“]{2,80}?)['\"”“]?(?:\s+(?:lauten|heißen|sein))?" + _END, "", "right"),
        (r"\b(?:you have (?:me|it|my \w+(?: \w+)?) (?:down |listed |recorded |spelled )?as|(?:is|was) (?:listed|spelled|spelt|shown|written|recorded|stored) as|(?:says|shows|reads))\s+['\"“„]?(?P<wrong>[^\n;,'\"”“]{2,60}?)['\"”“]?" + _END, "wrong", ""),
    )
)

# For each pattern of _CORRECTIONS (same order), substrings of which one must occur for it to match.
_CORRECTION_TRIGGERS: tuple[tuple[str, ...], ...] = (
    ("you have", "you still have"),
    ("correct", "right", "new", "current", "proper"),
    ("from",),
    ("von",),
    ("not",),
    ("nicht",),
    ("instead of", "statt", "anstelle", "au lieu", "en lugar", "en vez", "invece", "anziché", "in plaats"),
    ("wrong", "incorrect", "falsch", "inexact", "erróne", "incorrect", "sbagliat", "errat", "onjuist", "fout"),
    ("should", "is actually", "correct", "right one", "muss", "sollte", "lautet", "doit", "devrait", "debe", "debería",
     "dovrebbe", "deve", "moet"),
    ("you have", "listed", "spelled", "spelt", "shown", "written", "recorded", "stored", "says", "shows", "reads"),
)

CATEGORIES: dict[str, tuple[str, ...]] = {
    "marketing": ("marketing", "newsletter", "mailing list", "promotional", "promotions", "advertising", "adverts",
                  "werbung", "werbe", "publicité", "prospection", "publicidad", "pubblicità", "pubblicitari",
                  "promozionali", "reclame", "nieuwsbrief"),
    "contact_details": ("email address", "e-mail address", "phone number", "telephone", "mobile number",
                        "e-mail-adresse", "e-mail adresse", "telefonnummer", "handynummer", "adresse e-mail",
                        "numéro de téléphone", "teléfono", "correo electrónico", "telefono", "telefoonnummer",
                        "e-mailadres"),
    "address": ("address", "adresse", "anschrift", "dirección", "domicilio", "indirizzo", "adres"),
    "payment": ("payment details", "payment information", "card details", "credit card", "debit card", "bank details",
                "iban", "paypal", "zahlungsdaten", "kreditkarte", "bankverbindung", "kontodaten", "carte bancaire",
                "coordonnées bancaires", "tarjeta", "datos bancarios", "carta di credito", "dati di pagamento",
                "betaalgegevens", "bankgegevens"),
    "order_history": ("order history", "purchase history", "my purchases", "past orders", "my orders",
                      "bestellhistorie", "bestellungen", "historique des commandes", "mes commandes",
                      "historial de pedidos", "mis pedidos", "storico ordini", "i miei ordini", "bestelgeschiedenis",
                      "mijn bestellingen"),
    "account": ("my account", "customer account", "login", "password", "profile", "kundenkonto", "mein konto",
                "benutzerkonto", "mon compte", "mi cuenta", "il mio account", "mijn account"),
    "name": ("surname", "last name", "first name", "family name", "spelling of my name", "my name is wrong",
             "my name is misspelled", "my name is spelt", "nachname", "vorname", "nom de famille", "prénom",
             "apellido", "cognome", "achternaam", "voornaam"),
    "date_of_birth": ("date of birth", "birthday", "birth date", "geburtsdatum", "date de naissance",
                      "fecha de nacimiento", "data di nascita", "geboortedatum"),
    "scans_and_photos": ("3d scan", "body scan", "face scan", "head scan", "scan data", "scans", "photos",
                         "photographs", "pictures of me", "3d-scan", "fotos", "bilder", "escaneo", "scansione",
                         "foto's"),
    "tracking": ("cookie", "cookies", "tracking", "ip address", "ip-adresse", "device id", "advertising id",
                 "analytics", "online identifiers", "traceurs", "rastreo", "tracciamento"),
    "communications": ("support tickets", "chat logs", "correspondence", "call recordings", "emails you have"),
}
# "It should be X instead of Y" matches the instead-of pattern from "It"; keep only X.
_SHOULD_PREFIX = re.compile(
    r"^.*\b(?:should be|should read|muss|sollte|lautet richtig|doit être|devrait être|debe ser|debería ser"
    r"|dovrebbe essere|deve essere|moet zijn|is)\s+", re.I
)
# A keyword's runs of word characters must all be among the text's: the keywords are indexed by
# their longest run, and only those whose run the text holds are looked at (a set intersection
# in C; most mail holds a few). A keyword that is one run ("newsletter") then matches between
# word boundaries exactly there; one of several ("mailing list", "e-mail address") is looked for
# as a substring and the rare hit checked for word boundaries ("address" must not match inside
# "addressed"). Either is far cheaper than one big alternation or a test per keyword.
_WORD_RUN = re.compile(r"\w+")


def _category_index() -> dict[str, tuple[tuple[str, str, frozenset[str], re.Pattern[str] | None], ...]]:
    """Longest run -> (keyword, category, its runs, its bounded pattern or None for a single run)."""
    index: dict[str, list[tuple[str, str, frozenset[str], re.Pattern[str] | None]]] = {}
    for name, words in CATEGORIES.items():
        for word in words:
            runs = _WORD_RUN.findall(word)
            pattern = None if _WORD_RUN.fullmatch(word) else re.compile(r"\b" + re.escape(word) + r"\b")
            index.setdefault(max(runs, key=len), []).append((word, name, frozenset(runs), pattern))
    return {key: tuple(entries) for key, entries in index.items()}


_CATEGORY_INDEX = _category_index()
_CATEGORY_KEYS = frozenset(_CATEGORY_INDEX)

# Latin-1 and Latin Extended-A letters, so that "Łukasz Wiśniewski" or "Ayşe" is read whole
# (Extended-A mixes the cases, so its capitals and small letters are picked out one by one).
_EXTENDED = [chr(c) for c in range(0x100, 0x180)]
_UPPER = "A-ZÀ-ÖØ-Þ" + "".join(c for c in _EXTENDED if c.isupper())
_LOWER = "a-zà-öø-ÿ" + "".join(c for c in _EXTENDED if c.islower())
_NAME_WORD = f"[{_UPPER}][{_LOWER}'’-]+"
_NAME_WORDS = rf"(?-i:{_NAME_WORD}(?:[^\S\n]+(?:van|von|de|der|den|da|di|del|la|le)?[^\S\n]*{_NAME_WORD}){{0,3}})"
_NAME_PHRASES = ("my name is", "i am", "i'm", "mein name ist", "ich heiße", "je m'appelle", "mon nom est", "me llamo",
                 "mi nombre es", "mi chiamo", "mijn naam is", "ik heet")
_NAME_FIELD = r"^\s*(?:(?:full )?name|nom|nombre|nome|naam)"  # "Name: ..." at the start of a line
# The word boundary and the line start stand once before their alternatives, not in each: the
# same matches, five times faster (re tried every alternative's anchor at every position).
_STATED_NAME = re.compile(
    r"(?:\b(?:" + "|".join(_NAME_PHRASES) + r")|" + _NAME_FIELD + r")\s*:?\s+(?P<name>" + _NAME_WORDS + r")",
    re.I | re.M,
)
# Where a stated name may start, on the lower-cased text: a phrase, or a line that starts with a
# field name. Neither starts with an anchor, so that re skips from one possible first character
# to the next in C instead of trying the expression at every position.
_NAME_PHRASE_START = re.compile("|".join(_NAME_PHRASES))
_NAME_FIELD_LINE = re.compile(_NAME_FIELD.replace("^", "\n", 1))
_SIGN_OFF = re.compile(
    r"^\s*(?:(?:kind |best |warm |many )?regards|best(?: wishes)?|cheers|thanks(?: again)?|thank you|many thanks|"
    r"yours(?: sincerely| faithfully| truly)?|sincerely|all the best|"
    r"(?:mit )?(?:freundlichen |besten |liebe |viele )?grüßen?|(?:viele |liebe |beste )grüße|lg|mfg|"
    r"cordialement|bien à vous|salutations|bien cordialement|sincères salutations|"
    r"(?:un )?saludo|saludos(?: cordiales)?|atentamente|un cordial saludo|"
    r"cordiali saluti|distinti saluti|saluti|cordialmente|grazie|"
    r"met vriendelijke groet(?:en)?|vriendelijke groet(?:en)?|groeten|groetjes|hartelijke groet)[,.!]?\s*$",
    re.I,
)
_SIGN_OFF_MAX = 40  # characters: the longest sign-off line ("met vriendelijke groeten,") with room to spare
_NAME_LINE = re.compile(r"^\s*(?P<name>" + _NAME_WORDS + r")\s*$")
# Words that look like a name after "I am" but describe a state.
_NOT_NAMES = frozenset(
    "writing still not a the very sure happy unhappy sorry afraid asking requesting contacting interested "
    "looking trying concerned disappointed hereby bitte schreibe noch sehr sicher hiermit kunde kundin "
    "gdpr dsgvo ok okay".split()
)


@dataclass(frozen=True)
class Correction:
    """One change a rectification asks for: the value held now (if given) and the right one."""

    wrong: str | None
    right: str | None


@dataclass(frozen=True)
class Details:
    """Spans a case needs, as found in the mail; empty where the mail does not say."""

    order_numbers: tuple[str, ...] = ()
    account_numbers: tuple[str, ...] = ()
    corrections: tuple[Correction, ...] = ()
    data_categories: tuple[str, ...] = ()
    stated_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (lists instead of tuples)."""
        data = asdict(self)
        data["order_numbers"] = list(self.order_numbers)
        data["account_numbers"] = list(self.account_numbers)
        data["data_categories"] = list(self.data_categories)
        data["corrections"] = [asdict(c) for c in self.corrections]
        return data


def extract(text: str, *, rectification: bool = False) -> Details:
    """The details in normalised text; corrections only where rectification is asked for."""
    lower = text.lower()
    orders = _unique(m.group("num").upper() for m in _matches(_ORDER, text, lower, _starts(_ORDER_START, lower)))
    if "#" in text:  # the expression starts with a look-behind, which re tries at every position
        orders = _unique([*orders, *(m.group("num").upper() for m in _HASH_NUMBER.finditer(text))])
    accounts = tuple(
        num for num in _unique(m.group("num").upper() for m in _matches(_ACCOUNT, text, lower, _starts(_ACCOUNT_START, lower)))
        if num not in orders
    )
    runs = set(_WORD_RUN.findall(lower))
    named = {name for key in _CATEGORY_KEYS.intersection(runs) for word, name, need, pattern in _CATEGORY_INDEX[key]
             if runs.issuperset(need) and (pattern is None or (word in lower and pattern.search(lower)))}
    categories = tuple(name for name in CATEGORIES if name in named)
    corrections = find_corrections(text) if rectification else ()
    return Details(orders, accounts, corrections, categories, find_name(text))


def find_corrections(text: str) -> tuple[Correction, ...]:
    """The corrections stated in text ("from X to Y", "X instead of Y", "says X ... should be Y")."""
    found: list[tuple[int, int, str | None, str | None]] = []
    lower = text.lower()
    for (pattern, wrong_group, right_group), triggers in zip(_CORRECTIONS, _CORRECTION_TRIGGERS):
        if not any(t in lower for t in triggers):
            continue  # the expressions are slow on long mail; each needs one of its words
        matches = (
            _matches(pattern, text, lower, _within_reach(lower))
            if pattern.pattern == _INSTEAD_OF else pattern.finditer(text)
        )
        for m in matches:
            if any(start <= m.start() < end for start, end, _, _ in found):
                continue
            wrong = m.group("wrong").strip() if wrong_group else None
            right = _SHOULD_PREFIX.sub("", m.group("right")).strip() if right_group else None
            if (wrong or right) and wrong != right:
                found.append((m.start(), m.end(), wrong or None, right or None))
    found.sort()
    merged: list[Correction] = []
    pending: tuple[int, str | None, str | None] | None = None
    # "It says X. It should be Y." comes as two half-corrections; join neighbours into one.
    for start, end, wrong, right in found:
        if pending and start - pending[0] < 200 and (pending[1] is None) != (wrong is None) \
                and (pending[2] is None) != (right is None):
            merged[-1] = Correction(pending[1] or wrong, pending[2] or right)
            pending = None
            continue
        merged.append(Correction(wrong, right))
        pending = (end, wrong, right) if (wrong is None or right is None) else None
    return tuple(merged[:5])


def _within_reach(lower: str) -> Iterator[int]:
    """Where "X instead of Y" may start: up to _INSTEAD_REACH characters before the spaces before a keyword."""
    for keyword in _starts(_INSTEAD_KEYWORD, lower):
        spaces = keyword
        while spaces > 0 and lower[spaces - 1].isspace():  # \s is what str.isspace() calls a space
            spaces -= 1
        if spaces < keyword:  # the expression wants at least one space before the keyword
            yield from range(max(0, spaces - _INSTEAD_REACH), keyword)


def find_name(text: str) -> str | None:
    """A name the sender gives: "my name is ...", a "Name:" field, or the line after a sign-off."""
    for m in _stated_names(text, text.lower()):
        name = m.group("name").strip()
        if name.split()[0].lower() not in _NOT_NAMES:
            return name
    lines = text.split("\n")
    for i, line in enumerate(lines):
        # A sign-off is a short line; the expression is costly on each line of a long letter.
        if len(line) <= _SIGN_OFF_MAX and _SIGN_OFF.match(line):
            for nxt in lines[i + 1:i + 3]:
                if nxt.strip():
                    line_match = _NAME_LINE.match(nxt)
                    if line_match and line_match.group("name").split()[0].lower() not in _NOT_NAMES:
                        return line_match.group("name")
                    break
    return None


def _stated_names(text: str, lower: str) -> Iterator[re.Match[str]]:
    """_STATED_NAME.finditer(text), tried only where a phrase or a line with a field name starts."""
    # In "\n" + lower, a line's "\n" stands at the position in lower where the line starts.
    fields = (found.start() for found in _NAME_FIELD_LINE.finditer("\n" + lower))
    return _matches(_STATED_NAME, text, lower, chain(_starts(_NAME_PHRASE_START, lower), fields))


def _matches(pattern: re.Pattern[str], text: str, lower: str, candidates: Iterable[int]) -> Iterator[re.Match[str]]:
    """pattern.finditer(text), tried only at candidates: positions in lower (text lower-cased).

    Every position where pattern matches must be among the candidates: the caller's promise.
    """
    if len(lower) != len(text):  # lower-casing changed the length (rare letters): no shared positions
        yield from pattern.finditer(text)
        return
    pos = 0
    for candidate in sorted(set(candidates)):
        if candidate >= pos and (found := pattern.match(text, candidate)) is not None:
            yield found
            pos = found.end()


def _starts(pattern: re.Pattern[str], text: str) -> Iterator[int]:
    """Every position where pattern matches in text, overlapping ones included."""
    pos = 0
    while (found := pattern.search(text, pos)) is not None:
        yield found.start()
        pos = found.start() + 1


def _unique(items) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    """Items in first-seen order without repeats."""
    return tuple(dict.fromkeys(items))
