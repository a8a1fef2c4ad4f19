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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import compress

from mailbot.classifier.normalisation import tokens
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

# Searched in the lower-cased text without re.I: twice as fast, and the words are lower-case.
_LAW_HINT = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(LAW_WORDS)) + r")(?!\w)")

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
        "request rectification", "request the rectification", "requesting rectification", "rectification of",
        "rectify my", "rectify the", "correct my personal data", "correct the personal data",
        "berichtigung meiner", "berichtigung der", "rectification de mes", "rectification des données",
        "rectificación de mis", "rectificación de los datos", "rettifica dei miei", "rettifica dei dati",
        "rectificatie van mijn", "correctie van mijn gegevens",
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
        "formato estructurado", "legible por máquina", "lectura mecánica", "format structuré", "lisible par machine",
        "lisible par une machine", "maschinenlesbar", "maschinenlesbaren", "formato strutturato",
        "leggibile da dispositivo automatico", "gestructureerd", "gestructureerde", "machineleesbaar",
        "machineleesbare", "structured format", "structured, commonly used",
        "data portability", "right to portability", "machine-readable format", "machine readable format",
        "datenübertragbarkeit", "portabilité des données", "portabilidad de los datos",
        "portabilità dei dati", "overdraagbaarheid van gegevens", "maschinenlesbaren format",
    ),
    "withdraw_consent": (
        "withdraw my consent", "withdrawing my consent", "revoke my consent", "i withdraw consent",
        "withdrawn my consent", "withdrawn my permission",  # the ICO's erasure template: "I have withdrawn my consent"
        "widerrufe meine einwilligung", "widerruf meiner einwilligung", "retire mon consentement",
        "retiro mi consentimiento", "revoco il mio consenso", "trek mijn toestemming in",
        "withdrawing said consent", "withdraw said consent", "i no longer consent", "consent withdrawn",
        "widerrufe ich diese hiermit", "ziehe meine einwilligung zurück", "je retire ce consentement",
        "revoco dicho", "retirando dicho consentimiento", "revoco tale consenso", "ritiro tale consenso",
        "revoco il consenso", "trek ik deze toestemming", "de toestemming daarvoor in",
    ),
    "complaint": (
        "complaint to the ico", "complain to the ico", "report you to the ico", "reported you to the ico",
        "reporting you to the ico", "report this to the ico", "reporting this to the ico", "complaint with the ico",
        "complain to the information commissioner",
        # Not the office's bare name: the ICO's own subject access request template tells the
        # business that "the Information Commissioner's Office can assist you".
        "complain to the information commissioner's office", "complaint to the information commissioner's office",
        "report you to the information commissioner's office", "complaint with the information commissioner's office",
        "complaint to the supervisory authority",
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
_AMBIGUOUS_ACCESS = frozenset(" ".join(tokens(p)) for p in AMBIGUOUS_ACCESS)
# "What data do you need from me?", "¿Qué datos necesitan de mí?", "welke gegevens hebben jullie
# van ons nodig?": the words of an access request, asking what the customer must give. An access
# hit followed by one of these (regular expressions) within 30 characters, before a break (.!?,; or a
# new line), is dropped.
NEED_STEMS = ("need", "nodig", "brauch", "benötig", "besoin", "necesit", "servono", r"serve\b", "bisogno", "occorr")
_NEED_AFTER = re.compile(r"[^.!?\n,;]{0,30}?(?<!\w)(?:" + "|".join(NEED_STEMS) + ")")
_SENTENCE_END = frozenset(".!?")
# Stems of erase/correct/contest verbs in any inflection ("eliminaste", "löscht", "deleting").
OTHER_RIGHT_PREFIXES = ("delet", "eras", "lösch", "supprim", "effac", "borr", "elimin", "cancell", "verwijder",
                        "rectif", "berichtig", "korrigier", "corrig", "rettific", "contest", "bestreit", "betwist",
                        "dispute", "restrict", "einschränk")
WRONG_WORDS = frozenset("incorrect incorrectly wrong inaccurate outdated falsch unrichtig fausses fausse erronées "
                        "erróneos incorrectos sbagliati errati onjuist onjuiste".split())
NEGATIONS = frozenset("don't dont do not never nicht kein keine ne pas no non niet nooit".split()) - {"do"}
_NEGATION = re.compile(r"\b(?:don't|do not|not|never|nicht|kein|keine|ne|pas|no|non|niet|nooit)\b")
_LOOKAHEAD = 8  # tokens after an ambiguous access phrase searched for a word saying the data is wrong
_LOOKBACK = 12  # tokens before an ambiguous access phrase searched for another right's verb

# Plain-language requests that a bag of words scores too low because each word on its own is
# common in ordinary mail ("my address is wrong on my invoices"). Regular expressions over the
# lower-cased text; each must be specific enough to fire on almost nothing but a request.
_DATA_NOUN = (r"(?:address(?:es)?|name|surname|e-?mail(?: address)?|phone(?: number)?|mobile(?: number)?|postcode|"
              r"date of birth|details|company name|vat number|title|billing address|info(?:rmation)?|data)")
_RECORD = r"(?:invoices?|account|records?|system|profile|file|database|receipts?|customer account)"
# Up to 60 characters of one sentence that do not name an order or a cart: "löscht die doppelte
# Bestellung aus meinem Konto" deletes an order from the account, not the account.
_NO_ORDER_GAP = (r"(?:(?!\b(?:bestellung|commande|pedido|ordine|bestelling|order|warenkorb|panier|carrito|carrello|"
                 r"winkelwagen)\b)[^.!?\n]){0,60}?")
# A pattern given as several must find each of them somewhere in the mail (its hit is the first's).
PATTERNS: tuple[tuple[str, str | tuple[str, ...]], ...] = (
    ("rectification", r"\b" + _DATA_NOUN + r"\b[^.!?\n]{0,40}?\b(?:is|are)\s+(?:wrong|incorrect|inaccurate|out of date|"
     r"outdated|misspel(?:t|led)|not correct|not right)\s+(?:on|in)\s+(?:my|our|your|all (?:my|our)|the)\s+(?:\w+\s+){0,2}" + _RECORD),
    # "my address on your invoices", "the address on my invoices": the sender's details, not
    # "the phone number on your invoice footer" (the studio's own).
    ("rectification", r"\b(?:(?:my|our) (?:\w+ )?" + _DATA_NOUN + r"\s+(?:on|in)\s+(?:my|our|your|all (?:my|our))|"
     + _DATA_NOUN + r"\s+(?:on|in)\s+(?:my|our|all (?:my|our)))\s+(?:\w+\s+){0,3}" + _RECORD
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
     r"opt me out(?! of (?:the |this |that )?(?:\w+ )?(?:shipping|delivery|insurance|warranty|gift|protection|wrapping)\b)|unsubscribe me|stop sending me (?:\w+ )?(?:marketing|newsletters?|promotions?|offers|adverts|e-?mails))\b"),
    # "so I can move it to another provider", "my order history as a CSV so I can import it", not
    # "export the lantern as an OBJ so I can import it into Blender" or "take them to a print shop".
    ("portability", r"\b(?:so (?:that )?i can (?:move|take|transfer|import|upload) (?:my data|(?:it|them|everything|all of it) "
     r"(?:over |across )?(?:to|into|on|onto) (?:another|a new|a different|my new|the new|a competitor)\b)|"
     r"(?:csv|json|xml|spreadsheet|data|my stuff|everything|history|wishlist)\b[^.!?\n]{0,100}?\bso (?:that )?i can "
     r"(?:move|take|transfer|import|upload) (?:it|them)\b|in a machine[- ]readable)"),
    ("withdraw_consent", r"\b(?:withdraw (?:any|all|every|my|the) (?:consent|permission)|i (?:no longer|do not|don't) consent)\b"),
    # The other languages: "delete ... my data/account" and "what do you have about me" in the
    # forms customers write, within one sentence. The bag of words knows these languages from
    # a few dozen examples each; these patterns carry the commonest phrasings.
    ("erasure", r"\b(?:löscht|löschen sie|bitte löschen|löschung meine[rs]?|supprimez|effacez|supprimer|effacer|borrad|borréis|"
     r"eliminad|eliminéis|borren|eliminen|cancellate|eliminate|cancelliate|verwijder|verwijderen|wis)\b" + _NO_ORDER_GAP +
     r"\b(?:daten|konto|kundenkonto|account|compte|données|datos|cuenta|dati|gegevens|persoonsgegevens|kaartgegevens|"
     r"informationen|informations|información|informazioni)\b"),
    ("erasure", r"\b(?:meine|mein|mes|mon|ma|mis|mi|i miei|il mio|mijn|al mijn)\s+(?:\w+\s+){0,3}?(?:daten|konto|kundenkonto|"
     r"données|compte|datos|cuenta|dati|account|gegevens|persoonsgegevens)\b[^.!?\n]{0,40}?\b(?:zu löschen|löschen|"
     r"supprimer|effacer|borrar|eliminar|suprimir|cancellare|eliminare|verwijderen|wissen)\b"),
    ("access", r"\b(?:welche (?:\w+ )?daten (?:habt ihr|haben sie|speichert)|"
     r"quelles (?:\w+ )?(?:données|informations) (?:avez-vous|vous avez|détenez)|"
     r"qué (?:datos|información)|quali (?:dati|informazioni)|"
     r"welke (?:\w+ )?(?:gegevens|informatie) (?:hebben|heeft|bewaren))\b"),
    # The bare "what do you have" only about the sender or what is stored: "Was habt ihr noch an
    # Drachen auf Lager?" and "¿Qué tenéis en resina?" ask about stock.
    ("access", r"\b(?:was (?:habt ihr|haben sie|wisst ihr|wissen sie)|qu['’]est-ce que vous (?:avez|savez)|"
     r"qué (?:tenéis|tienen|sabéis|saben)|cosa (?:avete|sapete)|wat (?:hebben|weten) jullie)\b[^.!?\n]{0,50}?"
     r"(?:über mich|von mir|sur moi|de moi|sobre mí|sobre mi|de mí|su di me|di me|su me|over mij|van mij|"
     r"gespeichert|gesammelt|stocké|enregistré|conservé|guardado|almacenado|salvato|memorizzato|conservato|"
     r"opgeslagen|bewaard)"),
    # More plain phrasings: the other languages' forms of "where did you get my email", passive erasure
    # ("I'd like my account deleted"), restriction ("keep it but don't use it"), export, consent taken back.
    ("access", r"\b(?:how did you get (?:hold of )?|where did you (?:get|find) )my (?:e-?mail|email address|details|data|"
     r"number|phone number|address|name)\b"),
    ("access", r"\b(?:woher (?:habt ihr|haben sie)|où avez-vous (?:eu|trouvé|obtenu)|de dónde (?:habéis|han) (?:sacado|obtenido)|"
     r"dove avete preso|da dove avete preso|hoe komen jullie aan|hoe komt u aan)\s+(?:\w+\s+){0,2}?"
     r"(?:mein\w*|mon|ma|mes|mis?|il mio|la mia|i miei|le mie|mijn|daten|données|datos|dati|gegevens)\b"),
    ("erasure", r"\b(?:want|like|need|please have|get)\b[^.!?\n]{0,12}?\bmy (?:\w+ ){0,3}?(?:account|data|details|"
     r"info(?:rmation)?|scans?|photos|records|profile)\b[^.!?\n]{0,50}?\b(?:deleted|erased|wiped|destroyed)\b"),
    ("restriction", r"\b(?:restrict|limit|freeze|block|suspend|pause|put on hold)\b[^.!?\n]{0,30}?\b(?:use|using|processing|"
     r"process) (?:of )?my (?:personal )?(?:data|details|information|info)\b"),
    ("restriction", r"\b(?:restrict|limit|freeze|block|suspend|pause)\b (?:my|all my) (?:personal )?(?:data|details|information)\b"),
    ("restriction", r"\b(?:don't|do not|not) (?:delete|erase) (?:it|them|my (?:\w+ )?(?:data|details|information))\b[^.!?\n]{0,60}?"
     r"\b(?:but|just|only)\b[^.!?\n]{0,30}?\b(?:stop|don't|do not|not) (?:use|using|process)"),
    ("restriction", r"\b(?:daten|gegevens|persoonsgegevens|données|datos|dati)\b[^.!?\n]{0,40}?\b(?:sperren|einschränken|"
     r"blokkeren|bloquer|geler|limiter|bloqueen|bloquear|limitar|bloccate|bloccare|limitare)\b"),
    ("restriction", r"\b(?:sperren sie|schränken sie|bloquez|limitez|bloquead|limitad|bloccate|limitate|blokkeer|beperk)\b"
     r"[^.!?\n]{0,40}?\b(?:daten|gegevens|persoonsgegevens|données|datos|dati)\b"),
    ("portability", r"\bexport (?:all (?:of )?)?my (?:\w+ ){0,2}?(?:data|details|information|account|history|orders)\b"),
    ("portability", r"\bmy (?:\w+ ){0,3}?(?:data|details|information|history|orders|profile)\b[^.!?\n]{0,60}?"
     r"\b(?:as|in) (?:a |an )?(?:csv|json|xml|structured|machine[- ]readable|portable)\b"),
    ("withdraw_consent", r"\b(?:take back|revoke|withdraw|cancel|retract)(?:ing)? (?:my |the |that |any )?(?:permission|consent|ok)\b"),
    ("withdraw_consent", r"\b(?:no longer|not any more|not anymore) (?:happy|ok|okay|agree|willing)\b[^.!?\n]{0,20}?\b(?:for you|to you|that you|with you)\b"),
    ("withdraw_consent", r"\b(?:nicht mehr (?:damit )?einverstanden\b[^.!?\n]{0,15}\bdass|(?:ne suis|n'suis) plus d['’]accord"
     r"[^.!?\n]{0,15}\bque|ya no (?:estoy de acuerdo|doy mi (?:permiso|consentimiento|autorización))|"
     r"non sono più d['’]accordo[^.!?\n]{0,15}\bche|(?:niet langer|niet meer) akkoord[^.!?\n]{0,15}\b(?:met|dat))\b"),
    # "Keep it but don't use it" in any language: a request not to delete beside one not to use.
    # Both anywhere in the mail, in any order: two searches cost a tenth of one pattern of two
    # look-aheads over the whole text (100 microseconds a try).
    ("restriction", ((r"(?:don't|do not|not) (?:delete|erase)|nicht löschen|löschen sie (?:sie|diese|meine daten) (?:aber )?"
                      r"nicht|ne (?:les|la) supprimez pas|sans les supprimer|no los (?:borréis|borren|eliminéis|eliminen)|"
                      r"sin borrarlos|non cancellateli|senza cancellarli|verwijder (?:ze|die) (?:ook )?niet|niet verwijderen"),
                     (r"\b(?:use|using|process|processing|verwend|nutz|verarbeit|utilis|uséis|usen|usar|utiliz|usate|usare|"
                      r"gebruik|verwerk)"))),
    ("withdraw_consent", r"\b(?:widerrufe|ziehe)\b[^.!?\n]{0,30}?\beinwilligung\b|\bretire (?:mon|ma|l['’])\s?(?:consentement|accord|autorisation)\b|"
     r"\bretiro (?:mi|el|la) (?:consentimiento|permiso|autorización)\b|\b(?:revoco|ritiro) (?:il mio |l['’]|la mia )?\s?(?:consenso|autorizzazione|permesso)\b|"
     r"\btrek (?:mijn|de) toestemming\b"),
)
_WRONG = ("wrong", "incorrect", "inaccurate", "out of date", "outdated", "misspel", "not correct", "not right")
_ERASE_STEMS = ("lösch", "supprim", "suprim", "effac", "borr", "elimin", "cancell", "verwijder", "wis ", "wis,", "wissen")
# Substrings one of which must occur for each pattern of PATTERNS (same order) to be tried: a
# substring test costs nanoseconds, a regular expression with gaps tens of microseconds.
_TRIGGERS: tuple[tuple[str, ...], ...] = (
    _WRONG, _WRONG, ("have my ", "have our "), ("in your ", "on your "), ("your records",), ("new address",),
    ("moved",),
    (" on me", "about me"), ("what ",), ("where did you get",), ("did you", "have you"),
    ("forget me", "delete everything", "erase all", "erase everything", "wipe"), (" account and",),
    ("stop ", "take me off", "remove me from", "opt me out", "unsubscribe me"), ("so i can", "so that i can", "machine"),
    ("consent", "permission"), _ERASE_STEMS, _ERASE_STEMS,
    ("welche", "quelles", "qué ", "quali", "welke"), ("was ", "qu'est", "qu’est", "qué ", "cosa ", "wat "),
    ("how did you get", "where did you"),
    ("woher", "où avez", "de dónde", "dove avete", "hoe komen", "hoe komt"),
    ("deleted", "erased", "wiped", "destroyed"),
    ("restrict", "limit", "freeze", "block", "suspend", "pause", "on hold"),
    ("restrict", "limit", "freeze", "block", "suspend", "pause"),
    ("delete", "erase"),
    ("sperren", "einschränken", "blokkeren", "bloquer", "geler", "limiter", "bloque", "bloquear", "limitar", "blocca",
     "limitare"),
    ("sperren sie", "schränken sie", "bloquez", "limitez", "bloquead", "limitad", "bloccate", "limitate", "blokkeer",
     "beperk"),
    ("export",), ("csv", "json", "xml", "structured", "machine", "portable"),
    ("permission", "consent", " ok"), ("no longer", "any more", "anymore"),
    ("nicht mehr", "plus d'accord", "plus d’accord", "ya no", "più d'accordo", "più d’accordo", "akkoord"),
    ("delete", "erase", "nicht löschen", "löschen sie", "supprimez pas", "sans les supprimer", "no los", "sin borrar",
     "cancellateli", "senza cancellar", "niet verwijder", "verwijder ze", "verwijder die"),
    ("einwilligung", "retire", "retiro", "revoco", "ritiro", "toestemming"),
)
assert len(_TRIGGERS) == len(PATTERNS)


@dataclass(frozen=True)
class _AllOf:
    """Patterns that must each match somewhere in a text: searched like one compiled pattern."""

    patterns: tuple[re.Pattern[str], ...]

    def search(self, text: str) -> re.Match[str] | None:
        """The first pattern's match, if every pattern matches somewhere in text."""
        found = self.patterns[0].search(text)
        if found is None or not all(pattern.search(text) for pattern in self.patterns[1:]):
            return None
        return found


def _compiled(pattern: str | tuple[str, ...]) -> re.Pattern[str] | _AllOf:
    """A pattern of PATTERNS, compiled."""
    return re.compile(pattern) if isinstance(pattern, str) else _AllOf(tuple(re.compile(p) for p in pattern))


_PATTERNS = tuple(
    (label, triggers, _compiled(pattern)) for (label, pattern), triggers in zip(PATTERNS, _TRIGGERS)
)


@dataclass(frozen=True)
class RuleHit:
    """One rule that fired: the label it supports and the text that triggered it."""

    label: str
    rule: str
    text: str


class RuleSet:
    """Article references, set phrases and plain-language patterns.

    Phrases are matched on the lower-cased tokens of :func:`mailbot.classifier.normalisation.tokens`
    (digits split from brackets and dots: "Art.15(3)" is "art", ".", "15", "(", "3", ")"), the
    way spaCy's PhraseMatcher with ``attr="LOWER"`` matches them, by a dictionary from first
    token to phrases: building a spaCy Doc only to match a few hundred phrases cost more than
    the model's whole forward pass.
    """

    def __init__(self, vocab: Vocab | None = None, make_doc=None) -> None:  # type: ignore[no-untyped-def]
        """Index the phrases by their first token (vocab and make_doc are accepted for old callers)."""
        self._phrases: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for label, phrases in PHRASES.items():
            for phrase in phrases:
                seq = tuple(tokens(phrase.lower()))
                self._phrases.setdefault(seq[0], []).append((seq, label))

    def apply(self, doc: Doc | Sequence[str], text: str | None = None) -> tuple[RuleHit, ...]:
        """Every rule that fires on a mail: its lower-cased tokens (or a Doc) and its text."""
        hits: list[RuleHit] = []
        if isinstance(doc, Doc):
            text = doc.text if text is None else text
            words: Sequence[str] = [token.lower_ for token in doc]
        else:
            words = doc
            text = " ".join(words) if text is None else text
        lower = text.lower()
        # Cheap string check first: most mail cites no law at all.
        if _LAW_HINT.search(lower):
            for m in _ARTICLE.finditer(text):
                label = ARTICLE_RIGHTS.get(int(m.group("number")))
                if label:
                    hits.append(RuleHit(label, "article", m.group(0)))
        index = self._phrases
        last = len(words) - 1
        # Only the positions of a phrase's first word reach Python: picked out in C.
        for start in compress(range(len(words)), map(index.__contains__, words)):
            word = words[start]
            candidates = index[word]
            following = words[start + 1] if start < last else None
            for seq, label in candidates:
                # Most candidates part at their second token: looked at before slicing the rest.
                if len(seq) > 1 and seq[1] != following:
                    continue
                end = start + len(seq)
                if tuple(words[start:end]) != seq:
                    continue
                phrase = " ".join(seq)
                if label == "access" and phrase in _AMBIGUOUS_ACCESS and _other_right_before(words, start):
                    continue
                if label == "access" and _NEED_AFTER.match(" ".join(words[end:end + 8])):
                    continue
                if label == "erasure" and _negated(words, start):
                    continue  # "please don't delete my data" asks for the opposite
                hits.append(RuleHit(label, "phrase", phrase))
        for label, triggers, pattern in _PATTERNS:
            for trigger in triggers:  # a plain loop: cheaper than any() over a generator
                if trigger in lower:
                    found = pattern.search(lower)
                    if found and label == "access" and _NEED_AFTER.match(lower, found.end()):
                        break
                    if found and not (label == "erasure" and _NEGATION.search(lower, max(0, found.start() - 12), found.end())):
                        hits.append(RuleHit(label, "pattern", found.group(0)))
                    break
        return tuple(hits)


def _other_right_before(words: Sequence[str], start: int) -> bool:
    """True if another right governs the phrase at token start: a verb of another right
    ("erase", "löschen", "eliminaste") shortly before it in the same sentence, or a word saying
    the data is wrong ("incorrect") shortly after it."""
    for word in reversed(words[max(0, start - _LOOKBACK):start]):
        if word in _SENTENCE_END:
            break  # "Delete my order. What do you have on me?"
        if word in OTHER_RIGHT_VERBS or word.startswith(OTHER_RIGHT_PREFIXES):
            return True
    for word in words[start:start + _LOOKAHEAD]:
        if word in _SENTENCE_END:
            break
        if word in WRONG_WORDS:
            return True  # "the details you hold about me are incorrect" asks for rectification
    return False


def _negated(words: Sequence[str], start: int) -> bool:
    """True if a negation comes within three tokens before token start ("don't use or delete my data")."""
    return any(word in NEGATIONS for word in words[max(0, start - 3):start])


def labels_of(hits: Iterable[RuleHit]) -> frozenset[str]:
    """The labels a set of hits supports."""
    return frozenset(hit.label for hit in hits)
