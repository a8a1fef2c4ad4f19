"""Fill the datarequests.org letter templates (CC0) into labelled training examples.

Run at authoring time by ``mailbot classifier letters``: it reads ``../shared/corpus`` and writes
``classifiers/data/datenanfragen.jsonl``, which is committed, so that the project trains and
tests without ``../shared``. Template syntax: ``{name}`` placeholders, ``[flag>text]`` optional
passages, ``<italic>`` markup (see the corpus README).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from mailbot.classifier.corpus import Example
from mailbot.classifier.model import ClassifierError

LANGUAGES = ("en", "de", "fr", "es", "it", "nl")
KINDS = ("access-default", "access-tracking", "erasure-default", "objection-default",
         "rectification-default", "admonition")
VARIANTS = 4
SOURCE = "datarequests.org templates (github.com/datenanfragen/data, templates/, commit 0a29c3d6), CC0 1.0"

_OPTIONAL = re.compile(r"\[(?P<flag>[a-z_]+)>(?P<body>[^\]]*)\]", re.S)
_PLACEHOLDER = re.compile(r"\{(?P<name>[^{}]+)\}")
_ARTICLE_OF = {"15": "access", "16": "rectification", "17": "erasure", "21": "objection"}


@dataclass(frozen=True)
class Person:
    """Identifying details a requester gives, in the conventions of one country."""

    name: str
    email: str
    address: str
    customer: str


PEOPLE: dict[str, tuple[Person, ...]] = {
    "en": (Person("Jane Whitfield", "jane.whitfield@example.org", "14 Mill Lane, Leeds LS6 2QT", "AK-20931"),
           Person("Tom Okafor", "t.okafor@example.net", "3 Harbour Road, Bristol BS1 5TT", "AK-11872")),
    "de": (Person("Julia Schneider", "j.schneider@example.de", "Lindenstraße 12, 50674 Köln", "AK-30417"),
           Person("Markus Weber", "markus.weber@example.com", "Hauptstraße 3, 80331 München", "AK-28810")),
    "fr": (Person("Camille Moreau", "camille.moreau@example.fr", "8 rue des Lilas, 69003 Lyon", "AK-40522"),
           Person("Julien Lefèvre", "j.lefevre@example.com", "21 avenue Foch, 75016 Paris", "AK-41903")),
    "es": (Person("Lucía Fernández", "lucia.fernandez@example.es", "Calle Mayor 7, 28013 Madrid", "AK-50861"),
           Person("Javier Ruiz", "jruiz@example.com", "Avenida del Puerto 22, 46023 Valencia", "AK-52270")),
    "it": (Person("Giulia Romano", "giulia.romano@example.it", "Via Garibaldi 15, 10122 Torino", "AK-60345"),
           Person("Marco Bianchi", "m.bianchi@example.com", "Corso Italia 40, 20122 Milano", "AK-61788")),
    "nl": (Person("Sanne de Vries", "sanne.devries@example.nl", "Keizersgracht 101, 1015 CJ Amsterdam", "AK-70419"),
           Person("Daan Jansen", "d.jansen@example.com", "Oudegracht 55, 3511 AD Utrecht", "AK-71002")),
}
FIELD_NAMES = {
    "en": ("Name", "Email", "Address", "Customer number"),
    "de": ("Name", "E-Mail", "Adresse", "Kundennummer"),
    "fr": ("Nom", "E-mail", "Adresse", "Numéro de client"),
    "es": ("Nombre", "Correo electrónico", "Dirección", "Número de cliente"),
    "it": ("Nome", "E-mail", "Indirizzo", "Numero cliente"),
    "nl": ("Naam", "E-mail", "Adres", "Klantnummer"),
}
RECTIFICATIONS = {
    "en": ("Surname: Whitfield instead of Whitfeld", "Address: from 14 Mill Lane, Leeds to 9 Park Row, York",
           "Email: jane.whitfield@example.org instead of jane.witfield@example.org"),
    "de": ("Nachname: Schneider statt Schnieder", "Adresse: nicht Lindenstraße 12, sondern Ahornweg 4, 50667 Köln",
           "Telefonnummer: 0221 556677 statt 0221 556676"),
    "fr": ("Nom : Moreau au lieu de Moureau", "Adresse : 12 rue Victor Hugo au lieu de 8 rue des Lilas",
           "Date de naissance : 12/03/1988 au lieu de 21/03/1988"),
    "es": ("Apellido: Fernández en lugar de Fernándes", "Dirección: Calle Luna 3 en lugar de Calle Mayor 7",
           "Teléfono: 612 345 678 en lugar de 612 345 687"),
    "it": ("Cognome: Romano invece di Romani", "Indirizzo: Via Roma 8 invece di Via Garibaldi 15",
           "Data di nascita: 04/07/1990 invece di 07/04/1990"),
    "nl": ("Achternaam: de Vries in plaats van de Fries", "Adres: Prinsengracht 20 in plaats van Keizersgracht 101",
           "Telefoonnummer: 06 12345678 in plaats van 06 12345687"),
}
ERASURE_DATA = {
    "en": "my customer account, my order history and my email address",
    "de": "mein Kundenkonto, meine Bestellhistorie und meine E-Mail-Adresse",
    "fr": "mon compte client, mon historique des commandes et mon adresse e-mail",
    "es": "mi cuenta de cliente, mi historial de pedidos y mi correo electrónico",
    "it": "il mio account cliente, il mio storico ordini e il mio indirizzo e-mail",
    "nl": "mijn klantaccount, mijn bestelgeschiedenis en mijn e-mailadres",
}
OBJECTION_REASON = {
    "en": "I never agreed to being profiled for advertising.",
    "de": "Ich habe einer Profilbildung zu Werbezwecken nie zugestimmt.",
    "fr": "Je n'ai jamais accepté d'être profilé à des fins publicitaires.",
    "es": "Nunca acepté ser perfilado con fines publicitarios.",
    "it": "Non ho mai accettato di essere profilato a fini pubblicitari.",
    "nl": "Ik heb nooit ingestemd met profilering voor reclamedoeleinden.",
}
DATES = {"en": "3 May 2024", "de": "03.05.2024", "fr": "3 mai 2024", "es": "3 de mayo de 2024",
         "it": "3 maggio 2024", "nl": "3 mei 2024"}
RUNS = "AK3D Print Service, AK3D Marketplace"
SUBJECTS = {
    "access-default": {"en": "Request for access to personal data", "de": "Auskunftsersuchen nach Art. 15 DSGVO",
                       "fr": "Demande d'accès aux données personnelles", "es": "Solicitud de acceso a datos personales",
                       "it": "Richiesta di accesso ai dati personali", "nl": "Verzoek om inzage persoonsgegevens"},
    "erasure-default": {"en": "Request for erasure", "de": "Antrag auf Löschung", "fr": "Demande d'effacement",
                        "es": "Solicitud de supresión", "it": "Richiesta di cancellazione", "nl": "Verzoek om verwijdering"},
    "objection-default": {"en": "Objection to direct marketing", "de": "Widerspruch gegen Direktwerbung",
                          "fr": "Opposition à la prospection", "es": "Oposición a la mercadotecnia directa",
                          "it": "Opposizione al marketing diretto", "nl": "Bezwaar tegen direct marketing"},
    "rectification-default": {"en": "Request for rectification", "de": "Antrag auf Berichtigung",
                              "fr": "Demande de rectification", "es": "Solicitud de rectificación",
                              "it": "Richiesta di rettifica", "nl": "Verzoek om rectificatie"},
    "admonition": {"en": "Reminder: my GDPR request", "de": "Erinnerung an meine Anfrage",
                   "fr": "Relance : ma demande RGPD", "es": "Recordatorio: mi solicitud RGPD",
                   "it": "Sollecito: la mia richiesta GDPR", "nl": "Herinnering: mijn AVG-verzoek"},
}
SUBJECTS["access-tracking"] = SUBJECTS["access-default"]


def fill(template: str, flags: frozenset[str], values: dict[str, str]) -> str:
    """The template with the passages of flags included, placeholders replaced and markup removed."""
    text = _OPTIONAL.sub(lambda m: m.group("body") if m.group("flag") in flags else "", template)

    def value(m: re.Match[str]) -> str:
        name = m.group("name")
        if name in values:
            return values[name]
        if " " in name and ":" in name:  # "{Description of the problem, e.g.: ...}": use the example given
            return name.split(":", 1)[1].strip()
        raise ClassifierError(f"template placeholder {{{name}}} has no value: add it to letters.py")

    text = _PLACEHOLDER.sub(value, text)
    return re.sub(r"</?italic>", "", text).strip()


def variants(corpus_dir: Path) -> tuple[Example, ...]:
    """Every filled variant of every template, labelled, in a fixed order (seeded choices)."""
    base = Path(corpus_dir) / "datenanfragen"
    if not base.is_dir():
        raise ClassifierError(f"no datarequests.org letters at {base}: pass --from with the shared corpus folder")
    out: list[Example] = []
    for lang in LANGUAGES:
        for kind in KINDS:
            path = base / lang / f"{kind}.txt"
            template = path.read_text(encoding="utf-8")
            source = f"datenanfragen/{lang}/{kind}"
            rng = random.Random(f"letters:{source}")
            for n in range(VARIANTS):
                person = PEOPLE[lang][n % 2]
                flags, labels, article = _choose(kind, n, rng)
                values = _values(lang, person, n, article)
                text = fill(template, flags, values)
                if n % 2 == 0:
                    text = f"{text}\n{person.name}"
                else:
                    text = f"{text}\n\n{person.name}\n{person.email}"
                out.append(Example(f"{source}#{n}", source, lang, SUBJECTS[kind][lang], text, labels))
    return tuple(out)


def _choose(kind: str, n: int, rng: random.Random) -> tuple[frozenset[str], tuple[str, ...], str]:
    """The flags, labels and (for reminders) cited article of variant n of kind."""
    flags = {"has_fields"} if n != 1 else set()
    if rng.random() < 0.4:
        flags.add("runs")
    article = ""
    if kind.startswith("access"):
        labels: tuple[str, ...] = ("access",)
        if n in (1, 2):
            flags.add("data_portability")
            labels = ("access", "portability")
    elif kind == "erasure-default":
        flags.add("erase_all" if n % 2 == 0 else "erase_some")
        labels = ("erasure", "withdraw_consent")
        if n in (2, 3):
            flags.add("include_objection")
            labels = ("erasure", "restriction", "objection", "withdraw_consent")
    elif kind == "objection-default":
        labels = ("objection", "withdraw_consent")
    elif kind == "rectification-default":
        labels = ("rectification",)
    else:
        article = ("15", "17", "16", "21")[n]
        labels = (_ARTICLE_OF[article], "follow_up")
    return frozenset(flags), labels, article


def _values(lang: str, person: Person, n: int, article: str) -> dict[str, str]:
    """Placeholder values for one variant."""
    names = FIELD_NAMES[lang]
    fields = [(names[0], person.name), (names[1], person.email), (names[2], person.address)]
    if n % 2 == 0:
        fields.append((names[3], person.customer))
    return {
        "id_data": "\n".join(f"{k}: {v}" for k, v in fields) + "\n",
        "runs_list": RUNS,
        "rectification_data": RECTIFICATIONS[lang][n % 3] + "\n",
        "erasure_data": ERASURE_DATA[lang],
        "objection_reason": OBJECTION_REASON[lang],
        "request_date": DATES[lang],
        "request_article": article,
    }


def write_jsonl(examples: tuple[Example, ...], path: Path) -> None:
    """Write examples as JSON lines with their attribution (stable key order, UTF-8)."""
    lines = [
        json.dumps({"id": e.id, "source": e.source, "lang": e.lang, "subject": e.subject, "text": e.text,
                    "labels": list(e.labels), "attribution": SOURCE}, ensure_ascii=False)
        for e in examples
    ]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
