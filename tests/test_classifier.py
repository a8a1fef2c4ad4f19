"""Behaviour of the rights classifier on the committed model: phrasings, languages, details."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailbot.classifier import Classification, classify, load_model
from mailbot.classifier.details import extract, find_corrections, find_name
from mailbot.classifier.language import detect
from mailbot.classifier.model import Decision, Model, model_dir
from mailbot.classifier.normalisation import newest_text, normalise

SHARED_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


@pytest.mark.parametrize(
    ("subject", "text", "label"),
    [
        ("", "What do you have on me?", "access"),
        ("data", "Hi, please send me a copy of all the personal data you hold about me. Thanks, Ann", "access"),
        ("", "take me off your list", "objection"),
        ("stop", "Please stop marketing to me, I don't want your emails.", "objection"),
        ("", "close my account and forget me", "erasure"),
        ("account", "Please delete my account and all my personal data.", "erasure"),
        ("", "my address is wrong on my invoices, it should be 5 New Street, Bath", "rectification"),
        ("", "send me my data so I can move it elsewhere", "portability"),
        ("", "I withdraw my consent to you using my 3D scan in your portfolio.", "withdraw_consent"),
        ("", "Please restrict the processing of my data until the dispute is resolved; do not delete it.",
         "restriction"),
        ("complaint", "You emailed my invoice with my home address to another customer. I'm reporting you "
                      "to the ICO.", "complaint"),
    ],
)
def test_everyday_phrasings_are_requests(subject: str, text: str, label: str) -> None:
    """People rarely cite the law; plain wording must still be recognised."""
    result = classify(subject, text)
    assert result.is_request, result
    assert label in result.labels, result


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Where is my order?", "Hi, I ordered the dragon print (order AK-10234) ten days ago and it hasn't "
                               "arrived. Can you check the tracking?"),
        ("Licence question", "Can I use your low-poly fox model in a game I sell? Does the standard licence "
                             "cover commercial use?"),
        ("Refund", "The resin miniature arrived broken. Could I get a refund or a replacement?"),
        ("Invoice", "Could you send me a VAT invoice for order AK-10771 for my company accounts?"),
        ("Copy of invoice", "Could you send me a copy of my invoice? I lost the email."),
        ("You won!", "Congratulations, you have been selected for a £500 gift card. Click here to claim."),
        ("Is your business GDPR compliant?", "Our consultants audit your data protection policies. "
                                             "Book a free call."),
    ],
)
def test_ordinary_mail_is_not_a_request(subject: str, text: str) -> None:
    """Orders, licences, refunds, invoices and spam are ordinary mail."""
    result = classify(subject, text)
    assert not result.is_request, result
    assert result.labels == ("none",)


def test_erasure_letter_that_withdraws_consent_has_both_labels() -> None:
    """One mail can exercise several rights."""
    result = classify(
        "Delete my data",
        "Hello, I withdraw my consent for you to process my personal data and ask that you delete all of "
        "it, including my account and the scan of my face.\nRegards,\nChloe Martin",
    )
    assert {"erasure", "withdraw_consent"} <= set(result.labels)
    assert result.details.stated_name == "Chloe Martin"


@pytest.mark.parametrize(
    ("lang", "subject", "text", "label"),
    [
        ("de", "Löschung", "Hallo, bitte löschen Sie mein Kundenkonto und alle meine Daten. "
                           "Ich kaufe nicht mehr bei Ihnen.\nViele Grüße\nSabine Koch", "erasure"),
        ("fr", "Mes données", "Bonjour, je voudrais savoir quelles données personnelles vous avez sur moi "
                              "et en recevoir une copie.\nMerci", "access"),
        ("es", "Publicidad", "Hola, dejad de enviarme publicidad por favor y quitadme de vuestra lista de "
                             "correo.", "objection"),
        ("it", "Indirizzo", "Buongiorno, il mio indirizzo nel vostro sistema è sbagliato, dovrebbe essere "
                            "Via Roma 8, Torino. Per favore correggetelo.", "rectification"),
        ("nl", "Inzage", "Geachte heer/mevrouw, op grond van artikel 15 AVG verzoek ik om inzage in alle "
                         "persoonsgegevens die u over mij verwerkt.", "access"),
    ],
)
def test_each_supported_language(lang: str, subject: str, text: str, label: str) -> None:
    """Requests in German, French, Spanish, Italian and Dutch get the right type and language."""
    result = classify(subject, text)
    assert result.language == lang
    assert result.is_request, result
    assert label in result.labels, result


def test_quoted_old_request_does_not_leak_into_a_new_ordinary_mail() -> None:
    """Only the newest text counts: a quoted request below an order question is history."""
    body = (
        "Thanks, I got the file with my data. Separately, can I order another print of the owl?\n\n"
        "On Tue, 4 Jun 2024 at 10:12, Jane <jane@example.org> wrote:\n"
        "> Please treat this as a subject access request and delete all my data\n"
        "> under Article 15 and Article 17 UK GDPR.\n"
    )
    result = classify("Re: Subject access request", body)
    assert not result.is_request, result


def test_outlook_style_history_is_cut() -> None:
    """An Outlook header block starts the quoted history too."""
    body = "Never mind, please keep my account.\n\nFrom: Emma <e@example.com>\nSent: 2 May 2024\n" \
           "To: hello@ak3d.example\nSubject: delete\n\nPlease delete my account and all my data."
    assert "delete" not in newest_text(body)


def test_follow_up_is_a_label_and_marks_a_bare_reminder_uncertain() -> None:
    """A reminder belongs to the earlier case; without a named right it goes to the owner."""
    result = classify("Reminder: my GDPR request", "On 3 May 2024 I sent you a request according to Article 15 "
                      "GDPR. Unfortunately, I have not received an answer so far.")
    assert result.follow_up and "access" in result.labels
    bare = classify("chasing", "I wrote on 3 May and had no answer. Please reply.")
    assert bare.is_request or bare.uncertain


def test_json_shape_is_stable() -> None:
    """to_json has exactly the documented keys and JSON-ready values."""
    result = classify("Delete", "Please delete my account AK-20118, order #AK-10552.")
    data = result.to_json()
    assert list(data) == ["is_request", "labels", "scores", "language", "uncertain", "details"]
    assert isinstance(data["is_request"], bool) and isinstance(data["uncertain"], bool)
    assert set(data["scores"]) >= {"access", "erasure", "none", "follow_up"}
    assert all(isinstance(v, float) for v in data["scores"].values())
    assert data["language"] == "en"
    json.dumps(data)
    assert "AK-10552" in data["details"]["order_numbers"]


def test_classification_is_frozen() -> None:
    """Results cross stage boundaries and must not change underway."""
    result = classify("", "What do you have on me?")
    assert isinstance(result, Classification)
    with pytest.raises(AttributeError):
        result.is_request = False  # type: ignore[misc]


def test_model_is_loaded_once() -> None:
    """load_model is cached per process."""
    assert load_model() is load_model()


def test_empty_mail_is_ordinary_and_certain() -> None:
    """Nothing to read: not a request, nothing for the owner."""
    result = classify("", "")
    assert not result.is_request and result.labels == ("none",)


def test_html_only_mail_is_read() -> None:
    """An HTML-only body is reduced to its text."""
    result = classify("", "<html><body><p>Please stop sending me marketing emails.</p></body></html>")
    assert "objection" in result.labels


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Please could you tell me what data you have about me?", "en"),
        ("Bitte löschen Sie alle meine Daten, ich habe kein Konto mehr.", "de"),
        ("Je voudrais une copie de mes données, merci.", "fr"),
        ("Por favor, borrad mi cuenta y todos mis datos.", "es"),
        ("Per favore cancellate il mio account e tutti i miei dati.", "it"),
        ("Verwijder alstublieft mijn account en al mijn gegevens.", "nl"),
        ("ok", "en"),
    ],
)
def test_language_detection(text: str, lang: str) -> None:
    """Stopword counting tells the six languages apart; unclear text counts as English."""
    assert detect(text) == lang


def test_details_numbers_categories_and_name() -> None:
    """Order and account numbers, data categories and a signed name are picked out."""
    found = extract("Order #AK-10234 and customer number C-88812. Please delete my address and payment "
                    "details.\nKind regards,\nJane Doe")
    assert found.order_numbers == ("AK-10234",)
    assert found.account_numbers == ("C-88812",)
    assert {"address", "payment"} <= set(found.data_categories)
    assert found.stated_name == "Jane Doe"


def test_details_name_categories_by_whole_words_and_phrases() -> None:
    """A category keyword counts as a whole word or phrase, never inside another word."""
    found = extract("Please update my e-mail address and take me off the mailing list. Delete my foto's and the 3D-scan.")
    assert found.data_categories == ("marketing", "contact_details", "address", "scans_and_photos")
    assert extract("You addressed the parcel to my office; the newsletters2 went out.").data_categories == ()
    assert extract("Cancellate e basta: il mio indirizzo e il telefono.").data_categories == ("contact_details", "address")
    assert extract("mailing  list").data_categories == ()  # the phrase, as written


def test_details_read_central_european_and_turkish_names_and_numbers() -> None:
    """Names in Latin Extended-A letters come whole; numbers are found where lower-casing changes the length."""
    signed = extract("Please delete my data.\nKind regards,\nŁukasz Wiśniewski")
    assert signed.stated_name == "Łukasz Wiśniewski"
    # "İ" lower-cases to two characters: the keyword search on the lower-cased text cannot be
    # used, and the full expressions run on the text instead.
    found = extract("İstanbul office. Order no. 12345, customer number AB-9981. My name is Ayşe Yılmaz.")
    assert found.order_numbers == ("12345",)
    assert found.account_numbers == ("AB-9981",)
    assert found.stated_name == "Ayşe Yılmaz"


@pytest.mark.parametrize(
    ("text", "wrong", "right"),
    [
        ("It says 12 Old Road but it should be 5 New Street.", "12 Old Road", "5 New Street"),
        ("please change my surname from Taylor to Bennett", "Taylor", "Bennett"),
        ("it's Siobhan, not Shivon", None, None),
        ("Nachname: Schneider statt Schnieder", "Schnieder", "Schneider"),
        ("Elle doit être 12 rue Victor Hugo au lieu de 8 rue des Lilas", "8 rue des Lilas", "12 rue Victor Hugo"),
    ],
)
def test_corrections(text: str, wrong: str | None, right: str | None) -> None:
    """A rectification's wrong and right values are found where the mail states both."""
    found = find_corrections(text)
    if wrong is None:
        return  # phrasing not covered: the owner reads the mail; it must simply not crash
    assert found and found[0].wrong == wrong and found[0].right == right


def test_rectification_details_reach_the_result() -> None:
    """The classify result carries the correction for a rectification."""
    result = classify("wrong email", "You have my email as jon.smth@example.com - it should be "
                      "jon.smith@example.com. Please update it.")
    assert "rectification" in result.labels
    assert result.details.corrections
    assert result.details.corrections[0].right == "jon.smith@example.com"


def test_name_is_not_a_mood() -> None:
    """'I am annoyed' is not a name; 'My name is Ben Archer' is."""
    assert find_name("I am annoyed about this.") is None
    assert find_name("Hello, my name is Ben Archer and I ordered a bust.") == "Ben Archer"


def test_a_stated_name_ends_with_its_line() -> None:
    """A name field or a stated name is the words on its line, not the next line's heading too."""
    assert find_name("Name: Graham Ellory\nEmail: g@example.com") == "Graham Ellory"
    assert find_name("Please send my data.\n\n   Full name: Petra Van Dijk\n   Order: 1234") == "Petra Van Dijk"
    assert find_name("My name is Ben Archer\nAddress below.") == "Ben Archer"


@pytest.mark.parametrize("text", [
    "Smith instead of Smyth.",
    "„Müller“    statt „Mueller“ bitte",
    "X\n\n   instead of Y",
    "It should be Jonathan" + " " * 70 + "instead of Johnathan.",
    "Spelling: " + "a" * 61 + " instead of b, and Rossi anziché Russo; also Kemp INSTEAD OF Camp",
    "instead of nothing at all",
])
def test_corrections_before_a_keyword_are_found_as_by_the_whole_expression(text: str) -> None:
    """'X instead of Y' tried only within reach of its keyword finds what the expression finds anywhere."""
    from mailbot.classifier import details

    pattern = re.compile(details._INSTEAD_OF, re.IGNORECASE)
    everywhere = [m.span() for m in pattern.finditer(text)]
    near = [m.span() for m in details._matches(pattern, text, text.lower(), details._within_reach(text.lower()))]
    assert near == everywhere


@pytest.mark.parametrize("text", [
    "I am Writing to you. My name is Ben Archer.",
    "Hello\n\n  Name: Anna Berg\nName:\nJo Lee",
    "ich heiße Jürgen Weiß und mijn naam is Piet de Vries",
    "i'm i am I AM Paula Ortiz",
])
def test_stated_names_are_found_as_by_the_whole_expression(text: str) -> None:
    """A stated name tried only where a phrase or a field line starts finds what the expression finds anywhere."""
    from mailbot.classifier import details

    near = [m.span() for m in details._stated_names(text, text.lower())]
    assert near == [m.span() for m in details._STATED_NAME.finditer(text)]
    assert near


def test_article_references_in_any_language() -> None:
    """A cited GDPR article names the right even in a language the model knows little of."""
    model = load_model()
    cases = {
        "access": "Ich verlange Auskunft nach Art. 15 DSGVO.",
        "erasure": "Je demande l'effacement selon l'article 17 du RGPD.",
        "objection": "Hiermit lege ich Widerspruch nach Artikel 21 DSGVO ein.",
        "portability": "Solicito mis datos conforme al artículo 20 del RGPD.",
    }
    for label, text in cases.items():
        doc = model.nlp.make_doc(normalise("", text))
        assert label in {hit.label for hit in model.rules.apply(doc)}, text


def test_article_number_without_data_protection_law_is_ignored() -> None:
    """'Article 17' of licence terms is not the right to erasure."""
    model = load_model()
    doc = model.nlp.make_doc("Under article 17 of your licence terms, may I sell prints?")
    assert not model.rules.apply(doc)


def test_ico_subject_access_template_is_access_not_a_complaint() -> None:
    """The ICO's own request template names the Information Commissioner's Office as help for the business."""
    text = (
        "Dear Sir or Madam,\n\nPlease supply the personal data about me that I am entitled to receive under data "
        "protection law, held in: my customer account.\n\nIf you need any more information, please let me know as "
        "soon as possible.\n\nIt may be helpful for you to know that data protection law requires you to respond "
        "to a request for personal data within one calendar month.\n\nIf you need advice on dealing with this "
        "request, the Information Commissioner's Office can assist you. Its website is ico.org.uk, or it can be "
        "contacted on 0303 123 1113.\n\nYours faithfully\nJane Doe"
    )
    result = classify("Subject access request", text)
    assert result.labels == ("access",)
    assert "complaint" not in {hit.label for hit in result.rule_hits}
    threat = classify("Data breach", "You leaked my address. I will complain to the Information Commissioner's Office.")
    assert "complaint" in {hit.label for hit in threat.rule_hits}


def test_ico_erasure_template_that_withdraws_consent_has_both_labels() -> None:
    """The ICO's erasure template gives "I have withdrawn my consent" as a reason: erasure and consent taken back."""
    text = (
        "Dear Sir or Madam\n\nI am writing to request that you delete the following personal data you hold about "
        "me: my order history and my delivery addresses. I am making this request under Article 17 of the UK "
        "General Data Protection Regulation (UK GDPR). I have withdrawn my consent to your processing of this "
        "information.\n\nYours faithfully\nAnna Clarke"
    )
    result = classify("Request to delete personal data", text)
    assert set(result.labels) == {"erasure", "withdraw_consent"}


SAMPLES = Path(__file__).resolve().parents[1] / "mailbot" / "samples" / "maildir" / "new"


@pytest.mark.parametrize(
    ("number", "labels", "uncertain"),
    [
        (1, ("access",), False),                        # formal subject access request
        (2, ("access",), False),                        # "what do you actually have on me??"
        (3, ("erasure", "withdraw_consent"), False),    # close my account and forget me, withdraw consent
        (4, ("objection",), False),                     # take me off your marketing list
        (5, ("rectification",), False),                 # the address on my invoices is wrong
        (6, ("none",), False),                          # licence question
        (7, ("none",), True),                           # reply in a data-request thread: for the owner
        (8, ("access",), False),                        # data request with a list
        (9, ("none",), False),                          # auto-reply
        (10, ("none",), False),                         # bounce
        (11, ("none",), False),                         # mailing-list post
        (12, ("erasure",), False),                      # "delete the card details you kept"
    ],
)
def test_shipped_sample_mails(number: int, labels: tuple[str, ...], uncertain: bool) -> None:
    """The sample Maildir's mails, as the intake pipeline hands them over, get the right labels."""
    from mailbot.parser import parse

    (path,) = SAMPLES.glob(f"*.M{number}P1.*")
    message = parse(path.read_bytes())
    result = classify(message.subject, message.new_text or message.body_text)
    assert result.labels == labels, result
    if uncertain:
        assert result.uncertain, result


def test_rectification_block_form_details() -> None:
    """'You still have our old office:' / 'The correct address is:' with the values on their own lines."""
    result = classify("Wrong address on my invoices", "The address on my invoices is wrong. You still have our old "
                      "office:\n\n  Unit 4, 22 Mill Lane, Leeds LS1 4AB\n\nThe correct address is:\n\n  BrightForge "
                      "Design Ltd, 9 Canal Wharf, Leeds LS11 5PS\n\nPlease correct it in your records.")
    assert "rectification" in result.labels
    assert result.details.corrections[0].wrong == "Unit 4, 22 Mill Lane, Leeds LS1 4AB"
    assert result.details.corrections[0].right == "BrightForge Design Ltd, 9 Canal Wharf, Leeds LS11 5PS"


def test_data_you_hold_about_me_is_not_access_when_erased() -> None:
    """'erase all the personal data you hold about me' asks for erasure, not a copy."""
    result = classify("", "Please close my account and forget me: erase all the personal data you hold about me.")
    assert "erasure" in result.labels and "access" not in result.labels, result


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("where did you get my email from?", "access"),
        ("who did you share my details with?", "access"),
        ("stop emailing me", "objection"),
        ("delete everything you have on me", "erasure"),
        ("We've moved office. Please use our new address for all future invoices: 21 Quay Street, Bristol.",
         "rectification"),
    ],
)
def test_more_plain_phrasings(text: str, label: str) -> None:
    """More of the plain wording the issue lists."""
    result = classify("", text)
    assert label in result.labels, result


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("cart", "how do i delete my cart? there's an old item stuck in it"),
        ("preview", "Can you remove the watermark from the preview render? I want to show it to my client."),
        ("this order", "Please send this order to my office instead: 12 King Street, Manchester. Just this once."),
    ],
)
def test_hard_negatives(subject: str, text: str) -> None:
    """Studio mail with request-like words is not a request."""
    assert not classify(subject, text).is_request


@pytest.mark.parametrize(
    "text",
    [
        "¿Qué datos necesitan de mí? ¿Fotos, medidas, planos?",
        "Welke gegevens hebben jullie van mij nodig? Hoeveel foto's?",
        "Quali dati vi servono da me? Solo nome e email?",
    ],
)
def test_asking_what_data_we_need_fires_no_access_rule(text: str) -> None:
    """"What data do you need from me?" shares an access request's words; the access rules stand back."""
    from mailbot.classifier.normalisation import features

    def access_rules_fire(mail: str) -> bool:
        joined = normalise("", mail)
        return "access" in {hit.label for hit in load_model().rule_hits(features(joined)[0], joined)}

    assert not access_rules_fire(text)
    assert access_rules_fire(text.split("?")[0].replace("necesitan", "tienen").replace(" nodig", "")
                             .replace("vi servono", "avete") + "?")
    assert access_rules_fire("What data do you hold on your servers?")  # "serve" only as a word


def test_confident_ordinary_mail_skips_details() -> None:
    """Details serve a case; a plainly ordinary mail carries none (and costs less)."""
    result = classify("Where is my order?", "Hi, order AK-10234 hasn't arrived yet. Can you check the tracking?")
    assert not result.is_request and not result.uncertain
    assert result.details.order_numbers == ()


def test_fast_bag_of_words_scores_equal_spacy_textcat() -> None:
    """BowScorer computes what spaCy's textcat_multilabel computes, without building a Doc."""
    import numpy as np
    import spacy
    from spacy.strings import get_string_id
    from spacy.tokens import Doc

    from mailbot.classifier import corpus, training
    from mailbot.classifier.bow import BowScorer
    from mailbot.classifier.normalisation import features_by_sentence, model_words

    # The pipeline as spaCy loads it: load_model hands the networks' weights to the scorer.
    model = Model(spacy.load(model_dir()), Decision(), {})
    assert model.bow is not None, "the shipped model is a unigram bag of words: the fast path must apply"
    assert model.bow.members == len(model.textcats)
    members = [BowScorer.of(textcat) for textcat in model.textcats]
    for e in corpus.read_examples(training.DATA_DIR)[::7]:
        _, feats, sentences = features_by_sentence(normalise(e.subject, e.text))
        sentences = sentences if model.reads_sentences else []
        words = model_words(feats, sentences)
        each = [textcat(Doc(model.nlp.vocab, words=words)).cats for textcat in model.textcats]
        for member, cats in zip(members, each):
            assert member is not None
            fast = member.scores(feats, sentences)
            for label, score in cats.items():
                assert fast[label] == pytest.approx(score, abs=1e-5), (e.id, label)
        # The stacked layers compute the mean of the log-odds the members compute alone.
        together = model.bow.scores(feats, sentences)
        ids = np.fromiter(map(get_string_id, feats), dtype=np.uint64, count=len(feats))
        odds = np.mean([member.log_odds(ids, sentences) for member in members if member is not None], axis=0, dtype=np.float64)
        for label, score in zip(model.bow.labels, (1 / (1 + np.exp(-odds))).tolist()):
            assert together[label] == pytest.approx(score, rel=1e-4, abs=1e-9), (e.id, label)
    assert set(model.bow.scores([]).values()) == {0.0}  # spaCy scores an empty doc 0


def test_hashed_table_sums_a_mail_as_thincs_sparse_layer_does_to_the_bit() -> None:
    """The scorer's tables, laid out feature by feature and hashed in numpy, give thinc's sums exactly."""
    import numpy as np
    from thinc.api import SparseLinear_v2

    from mailbot.classifier.bow import HashedTable, feature_hashes

    rng = np.random.default_rng(7)
    for length, width in ((1024, 3), (4096, 64), (1000, 5)):  # 1000: thinc takes the remainder, not a mask
        layer = SparseLinear_v2(nO=width, length=length)
        layer.initialize()
        layer.set_param("W", rng.normal(size=width * length).astype(np.float32))
        layer.set_param("b", rng.normal(size=width).astype(np.float32))
        for n in (1, 7, 300):
            keys = rng.integers(0, 2**64 - 1, size=n, dtype=np.uint64, endpoint=True)
            expected = layer.predict((keys, np.ones(n, dtype=np.float32), np.array([n], dtype=np.int32)))[0]
            table = HashedTable.of([layer])
            assert np.array_equal(table.sums(table.mail_rows(feature_hashes(keys))), expected), (length, n)
            # With another layer's weights beside them (the scorer's wide and sentence parts), the same bits.
            beside = HashedTable.of([layer, layer])
            assert np.array_equal(beside.sums(beside.mail_rows(feature_hashes(keys)))[:width], expected), (length, n)
            # Sentence by sentence: the same sums to float32 rounding.
            cuts = sorted({0, n // 3, n // 2} - {n})
            sentences = [list(range(a, b)) for a, b in zip(cuts, [*cuts[1:], n]) if b > a]
            lengths = np.array([len(sentence) for sentence in sentences], dtype=np.int32)
            by_sentence = layer.predict((keys, np.ones(n, dtype=np.float32), lengths))
            got = table.sentence_sums(table.mail_rows(feature_hashes(keys)), sentences)
            assert np.allclose(got, by_sentence, rtol=1e-5, atol=1e-5)


def test_loaded_model_hands_its_networks_to_the_scorer() -> None:
    """load_model keeps one copy of the weights, the scorer's: spaCy's text categorisers are gone."""
    model = load_model()
    assert model.bow is not None and model.textcats == ()
    assert not [name for name in model.nlp.pipe_names if name.startswith("textcat")]
    assert model.classify("data", "Please delete all my personal data.").labels[0] == "erasure"


@pytest.mark.parametrize(
    ("wide", "hidden_length", "sentences", "pool"),
    [(True, None, False, "max"), (False, None, False, "max"), (True, 1024, False, "max"), (True, None, True, "max"),
     (False, 1024, True, "max"), (True, None, True, "logsumexp")],
)
def test_fast_path_scores_the_hidden_layer_network_as_spacy_does(
    wide: bool, hidden_length: int | None, sentences: bool, pool: str
) -> None:
    """mailbot.HiddenBOW.v1, with and without its linear part, with fewer hashed rows for its
    hidden layer, and with the best sentence's score (max or logsumexp), scores the same through
    BowScorer and spaCy."""
    import dataclasses

    from spacy.tokens import Doc

    from mailbot.classifier import corpus, training
    from mailbot.classifier.model import Decision, Model
    from mailbot.classifier.normalisation import features_by_sentence, model_words

    cfg, settings, _ = training.read_config()
    cfg["components"]["textcat_multilabel"]["model"] = {
        "@architectures": "mailbot.HiddenBOW.v1", "hidden_width": 8, "length": 4096, "wide": wide,
        "hidden_length": hidden_length, "sentences": sentences, "sentence_pool": pool,
    }
    examples = corpus.read_examples(training.DATA_DIR)
    settings = dataclasses.replace(settings, epochs=2, members=1)
    nlp, _ = training.fit(examples[:200], cfg, settings, log=lambda *_: None)
    model = Model(nlp, Decision(), {})
    assert model.bow is not None and model.bow.members == 1
    assert (model.bow.direct > 0) == wide and model.reads_sentences == sentences
    assert model.bow.smooth == (pool == "logsumexp")
    for e in examples[200:400]:
        _, feats, by_sentence = features_by_sentence(normalise(e.subject, e.text))
        by_sentence = by_sentence if sentences else []
        fast = model.bow.scores(feats, by_sentence)
        doc = model.textcats[0](Doc(model.nlp.vocab, words=model_words(feats, by_sentence)))
        assert doc.cats == pytest.approx({label: fast[label] for label in doc.cats}, abs=1e-5), e.id


def test_exact_layers_compute_what_thincs_layers_compute() -> None:
    """exact_matmul, the logistic and ExactAdam's clipped step agree with numpy and thinc's Adam."""
    import numpy as np
    from thinc.api import Adam

    from mailbot.classifier.architecture import ExactAdam, exact_matmul, logistic

    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(64, 32)).astype("f"), rng.normal(size=(32, 10)).astype("f")
    assert np.allclose(exact_matmul(a, b), a @ b, atol=1e-5)
    x = np.linspace(-30, 30, 61, dtype="f")
    assert np.allclose(logistic(x), 1 / (1 + np.exp(-np.clip(x, -20, 20))), atol=1e-7)
    for scale in (0.001, 10.0):  # under and over the clipping norm of 1
        grad = (rng.normal(size=1000) * scale).astype("f")
        ours, theirs = ExactAdam(0.01), Adam(0.01, use_averages=False)
        mine, _ = ours((1, "W"), np.ones(1000, dtype="f"), grad.copy())
        ref, _ = theirs((1, "W"), np.ones(1000, dtype="f"), grad.copy())
        assert np.allclose(mine, ref, atol=1e-6) and not np.allclose(mine, 1.0)
        # Adam's step hardly shows the clipping; its first moment, (1 - 0.9) * gradient, does.
        assert np.allclose(ours.mom1[(1, "W")], theirs.mom1[(1, "W")], rtol=1e-5, atol=1e-9)
        expected = 0.1 * min(1.0, float(np.linalg.norm(grad)))
        assert float(np.linalg.norm(ours.mom1[(1, "W")])) == pytest.approx(expected, rel=1e-4)


def test_fast_path_declines_an_ensemble_and_spacy_scores_it() -> None:
    """A config with spaCy's ensemble (bag of words beside a CNN) never takes the bag-of-words shortcut."""
    import spacy

    from mailbot.classifier.bow import BowScorer

    nlp = spacy.blank("xx")
    textcat = nlp.add_pipe("textcat_multilabel", config={"model": {
        "@architectures": "spacy.TextCatEnsemble.v2", "nO": None,
        "linear_model": {"@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": False, "ngram_size": 1,
                         "no_output_layer": False, "length": 1024},
        "tok2vec": {"@architectures": "spacy.Tok2Vec.v2",
                    "embed": {"@architectures": "spacy.MultiHashEmbed.v2", "width": 16, "rows": [100],
                              "attrs": ["NORM"], "include_static_vectors": False},
                    "encode": {"@architectures": "spacy.MaxoutWindowEncoder.v2", "width": 16, "window_size": 1,
                               "maxout_pieces": 2, "depth": 1}},
    }})
    textcat.add_label("access")
    nlp.initialize()
    assert BowScorer.of(textcat) is None
    assert BowScorer.of(spacy.load(model_dir()).get_pipe("textcat_multilabel")) is not None


def test_features_words_are_the_whole_mails_tokens() -> None:
    """The words the rules read are the tokens of the whole lower-cased mail, however it is split."""
    from mailbot.classifier.normalisation import MODEL_CHARS, features_by_sentence, tokens

    for text in ["Hi.  Please delete it!\n\nThanks,\nJo", "e.g. the U.K.\u2028ok?\ty", "", "...",
                 "Don't. " * (MODEL_CHARS // 7) + "Delete my account.\nNow"]:
        words, _, _ = features_by_sentence(text)
        assert words == tokens(text.lower()), text[:20]


def test_features_count_each_word_once_and_read_the_opening() -> None:
    """The model reads each distinct word once, from the first MODEL_CHARS characters; rules read all words."""
    from mailbot.classifier.normalisation import MODEL_CHARS, features

    words, feats = features("delete delete delete my data")
    assert words == ["delete", "delete", "delete", "my", "data"]
    assert feats.count("delete") == 1 and "delet" in feats  # the stem of a long word comes too
    long_text = "hello " * (MODEL_CHARS // 6) + "zebrafish"
    words, feats = features(long_text)
    assert "zebrafish" in words and "zebrafish" not in feats


def test_features_mark_the_words_a_negator_turns() -> None:
    """The few words after "not"/"nicht"/"pas" also come as neg_ features, up to a punctuation mark."""
    from mailbot.classifier.normalisation import NEGATION_SCOPE, features

    _, feats = features("I do not want my account deleted, just the old order.")
    assert [f for f in feats if f.startswith("neg_")] == ["neg_want", "neg_my", "neg_account"][:NEGATION_SCOPE]
    _, feats = features("Bitte keine Werbung. Löschen Sie alles")
    assert "neg_werbung" in feats and "neg_löschen" not in feats  # the full stop ends the scope
    _, feats = features("Please delete my account")
    assert not any(f.startswith("neg_") for f in feats)


def test_features_pair_the_stems_of_neighbouring_words() -> None:
    """Neighbouring words also come as a pair of stems; a punctuation mark breaks the pair."""
    from mailbot.classifier.normalisation import features

    _, request = features("Please delete my account")
    _, order = features("Please delete the duplicate order from my account")
    assert {"delet|my", "my|accou"} <= set(request)
    assert "delet|my" not in order and "delet|the" in order and "my|accou" in order
    _, feats = features("Thanks. Delete it")
    assert "thank|delet" not in feats and "delet|it" in feats


def test_concepts_stand_for_one_idea_in_each_language() -> None:
    """Words of one meaning in our six languages share a concept; unrelated words have none."""
    from mailbot.classifier.concepts import concepts_of

    for word in ["delete", "löschen", "gelöscht", "supprimez", "borrad", "cancellate", "verwijderen"]:
        assert "ERASE" in concepts_of(word), word
    for word in ["newsletter", "werbung", "publicité", "publicidad", "pubblicità", "nieuwsbrief"]:
        assert "MARKETING" in concepts_of(word), word
    assert concepts_of("l'opposition") == ("OBJECT",)  # the word after an elided article
    for word in ["geld", "vendredi", "andere", "password", "hello", "the"]:
        assert concepts_of(word) == (), word


def test_concept_prefixes_are_long_enough_to_mean_something() -> None:
    """A prefix of three letters or fewer would catch unrelated words in one of the six languages."""
    from mailbot.classifier import concepts

    assert min(len(prefix) for prefix in concepts._PREFIX) >= 4


def test_features_pair_the_ideas_of_one_sentence() -> None:
    """Each sentence brings its concepts and each pair of them, and a pair stays within its sentence."""
    from mailbot.classifier.normalisation import features

    _, feats = features("Pis le catalogue papier, vous pouvez arrêter de me l'envoyer.")
    assert {"c:MARKETING", "c:STOP", "c:MARKETING+STOP"} <= set(feats)
    _, feats = features("Please stop. The newsletter is great")
    assert {"c:MARKETING", "c:STOP"} <= set(feats) and "c:MARKETING+STOP" not in feats


def test_features_come_by_sentence_too() -> None:
    """Each sentence of the opening brings its own features; the mail's are all of them, once."""
    from mailbot.classifier.normalisation import (
        SENTENCE_MARK,
        features,
        features_by_sentence,
        model_words,
    )

    text = "Thanks for the print\nPlease delete my account. Is that ok?"
    words, feats, positions = features_by_sentence(text)
    assert (words, feats) == features(text)
    sentences = [[feats[i] for i in sentence] for sentence in positions]
    assert [s[:3] for s in sentences] == [["thanks", "for", "the"], ["please", "delete", "my"], ["is", "that", "ok"]]
    assert "delet|my" in sentences[1] and "print|pleas" not in feats  # a pair stays within its sentence
    assert set(feats) == {f for s in sentences for f in s} and len(feats) == len(set(feats))
    joined = model_words(feats, positions)
    assert joined[:len(feats)] == feats and joined.count(SENTENCE_MARK) == 3
    assert SENTENCE_MARK not in feats


def test_feature_blocks_built_from_string_ids_equal_those_read_off_a_doc() -> None:
    """Training's FeatureBlocks (hashed once) hold what extract_blocks reads off the mail's Doc."""
    import numpy as np
    from spacy.strings import get_string_id
    from spacy.tokens import Doc
    from spacy.vocab import Vocab

    from mailbot.classifier.architecture import FeatureBlocks, extract_blocks
    from mailbot.classifier.normalisation import features_by_sentence, model_words

    texts = ["Thanks for the print\nPlease delete my account. Is that ok?\n\n...\nAnd stop the newsletter!",
             "Bitte löschen Sie meine Daten.", "?", ""]
    docs, blocks = [], []
    for text in texts:
        _, feats, sentences = features_by_sentence(normalise("", text))
        docs.append(Doc(Vocab(), words=model_words(feats, sentences)))
        blocks.append(FeatureBlocks.of(np.fromiter(map(get_string_id, feats), dtype=np.uint64, count=len(feats)), sentences))
    assert [len(b) for b in blocks] == [len(d) for d in docs] and len(blocks[-1]) == 0
    assert len(blocks[0].sentence_lengths) == 5  # "..." is a sentence of its own
    from_docs, _ = extract_blocks()(docs, is_train=False)
    from_blocks, _ = extract_blocks()(blocks, is_train=False)
    (mail_a, sents_a, per_doc_a), (mail_b, sents_b, per_doc_b) = from_docs, from_blocks
    for a, b in [*zip(mail_a, mail_b), *zip(sents_a, sents_b), (per_doc_a, per_doc_b)]:
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert per_doc_a.tolist() == [5, 1, 1, 0]


def test_best_sentence_layer_takes_each_labels_highest_sentence_and_learns_only_from_it() -> None:
    """sentence_max: per Doc and label the highest sentence score (0 for a Doc without sentences);
    the gradient goes to that sentence alone."""
    import numpy as np

    from mailbot.classifier.architecture import sentence_max

    scores = np.array([[1.0, -2.0], [3.0, -5.0], [0.5, 4.0]], dtype="f")  # 3 sentences, 2 labels
    seen: list[np.ndarray] = []

    def fixed(model, X, is_train):  # type: ignore[no-untyped-def]
        return scores, lambda dS: seen.append(dS)

    from thinc.api import Model as ThincModel

    layer = sentence_max(ThincModel("fixed", fixed, dims={"nO": 2}))
    per_doc = np.array([2, 0, 1])  # doc 0: sentences 0 and 1; doc 1: none; doc 2: sentence 2
    Y, backprop = layer((("keys", "vals", np.array([1, 1, 1])), per_doc), is_train=True)
    assert Y.tolist() == [[3.0, -2.0], [0.0, 0.0], [0.5, 4.0]]
    backprop(np.array([[10, 20], [30, 40], [50, 60]], dtype="f"))
    assert seen[0].tolist() == [[0, 20], [10, 0], [50, 60]]


def test_smooth_best_sentence_layer_is_a_logsumexp_and_shares_its_gradient() -> None:
    """sentence_logsumexp: per Doc and label log(sum(exp(s))) over its sentences (0 without any);
    each sentence's gradient is its softmax share, and a lone sentence's score passes unchanged."""
    import numpy as np
    from thinc.api import Model as ThincModel

    from mailbot.classifier.architecture import logsumexp_rows, sentence_logsumexp

    scores = np.array([[1.0, -2.0], [3.0, -5.0], [0.5, 4.0]], dtype="f")
    seen: list[np.ndarray] = []

    def fixed(model, X, is_train):  # type: ignore[no-untyped-def]
        return scores, lambda dS: seen.append(dS)

    layer = sentence_logsumexp(ThincModel("fixed", fixed, dims={"nO": 2}))
    Y, backprop = layer((("keys", "vals", np.array([1, 1, 1])), np.array([2, 0, 1])), is_train=True)
    expected = np.log(np.exp(scores[:2]).sum(axis=0))
    assert np.allclose(Y[0], expected, atol=1e-6) and Y[1].tolist() == [0.0, 0.0] and np.allclose(Y[2], scores[2])
    assert np.allclose(logsumexp_rows(scores[:2]), Y[0])
    backprop(np.ones((3, 2), dtype="f"))
    share = np.exp(scores[:2]) / np.exp(scores[:2]).sum(axis=0)
    assert np.allclose(seen[0][:2], share, atol=1e-6) and np.allclose(seen[0][2], [1.0, 1.0])


def test_unknown_sentence_pool_is_refused_naming_the_file_and_the_choices(tmp_path: Path) -> None:
    """A misspelt sentence_pool in the training config stops `train` with the file and the choices."""
    from mailbot.classifier import training
    from mailbot.classifier.model import ClassifierError

    config = tmp_path / "config.cfg"
    shipped = training.CONFIG_PATH.read_text(encoding="utf-8")
    assert 'sentence_pool = "logsumexp"' in shipped
    config.write_text(shipped.replace('sentence_pool = "logsumexp"', 'sentence_pool = "mean"'), encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    (data / "few.jsonl").write_text((training.DATA_DIR / "ak3d_en.jsonl").read_text(encoding="utf-8").splitlines()[0]
                                    + "\n", encoding="utf-8")
    with pytest.raises(ClassifierError, match=r"config\.cfg.*sentence_pool must be one of \['logsumexp', 'max'\]"):
        training.train(data_dir=data, config_path=config, out_dir=tmp_path / "model", log=lambda *_: None)


@pytest.fixture
def model() -> Iterator[Model]:
    """The loaded model, its decision put back after the test changes it."""
    loaded = load_model()
    saved = loaded.decision
    yield loaded
    loaded.decision = saved


def test_per_label_thresholds_and_request_low_decide(model: Model) -> None:
    """A label's own threshold overrides the common one; request_low routes a doubtful mail to the owner."""
    from dataclasses import replace

    from mailbot.classifier.model import ANY_REQUEST, MODEL_LABELS, Decision

    scores = dict.fromkeys(MODEL_LABELS, 0.01) | {"portability": 0.3, ANY_REQUEST: 0.5}
    model.decision = Decision(threshold=0.5, uncertain_low=0.4, request_low=1.0)
    result = model._decide(scores, ["hi"], "hi")
    assert not result.is_request and not result.uncertain
    model.decision = replace(model.decision, thresholds={"portability": 0.25})
    assert model.decision.threshold_of("portability") == 0.25 and model.decision.threshold_of("access") == 0.5
    result = model._decide(scores, ["hi"], "hi")
    assert result.labels == ("portability",) and result.is_request
    model.decision = Decision(threshold=0.5, uncertain_low=0.4, request_low=0.45)
    result = model._decide(scores, ["hi"], "hi")
    assert not result.is_request and result.uncertain
    assert ANY_REQUEST not in result.scores and ANY_REQUEST not in result.to_json()["scores"]


def test_request_gate_sends_a_right_without_request_wording_to_the_owner(model: Model) -> None:
    """A right the model alone gives needs "exercises any right" too; a rule hit needs no gate."""
    from mailbot.classifier.model import ANY_REQUEST, MODEL_LABELS, Decision

    scores = dict.fromkeys(MODEL_LABELS, 0.01) | {"erasure": 0.95, ANY_REQUEST: 0.2}
    model.decision = Decision(threshold=0.5, uncertain_low=0.3, request_gate=0.0)
    assert model._decide(scores, ["hi"], "hi").labels == ("erasure",)
    model.decision = Decision(threshold=0.5, uncertain_low=0.3, request_gate=0.5)
    result = model._decide(scores, ["hi"], "hi")
    assert not result.is_request and result.uncertain and result.labels == ("none",)
    assert model._decide(scores | {ANY_REQUEST: 0.6}, ["hi"], "hi").labels == ("erasure",)
    joined = "Please delete my personal data."
    ruled = model._decide(scores | {"erasure": 0.2}, joined.lower().replace(".", " .").split(), joined)
    assert ruled.is_request and "erasure" in ruled.labels  # the phrase rule fired


def test_a_reminder_names_its_right_past_the_request_gate(model: Model) -> None:
    """A reminder about a data request needs no "exercises any right" for the right it names."""
    from mailbot.classifier.model import ANY_REQUEST, MODEL_LABELS, Decision

    scores = dict.fromkeys(MODEL_LABELS, 0.01) | {"erasure": 0.95, ANY_REQUEST: 0.2}
    model.decision = Decision(threshold=0.5, uncertain_low=0.3, request_gate=0.5)
    assert model._decide(scores, ["hi"], "hi").labels == ("none",)
    reminder = model._decide(scores | {"follow_up": 0.9}, ["hi"], "hi")
    assert reminder.labels == ("erasure", "follow_up") and reminder.is_request
    # A reminder alone stays a reminder, for the owner to link to its case.
    alone = model._decide(scores | {"erasure": 0.1, "follow_up": 0.9}, ["hi"], "hi")
    assert alone.labels == ("follow_up",) and not alone.is_request and alone.uncertain


def test_committed_decision_has_tuned_values() -> None:
    """The shipped thresholds come from the validation split and are stored with the model."""
    from mailbot.classifier.model import DEFAULT_MODEL_DIR

    meta = json.loads((DEFAULT_MODEL_DIR / "mailbot.json").read_text())
    decision = load_model().decision
    assert 0 < decision.uncertain_low < decision.threshold <= 1
    assert all(0 < t < 1 for t in decision.thresholds.values())
    assert meta["decision"]["request_low"] == decision.request_low
    assert meta["decision"]["thresholds"] == decision.thresholds


@pytest.mark.parametrize(
    ("subject", "text", "label"),
    [
        ("", "Please keep my records as they are but don't use them for anything until my dispute is settled. "
             "Do not delete them.", "restriction"),
        ("", "Please export all my account data as a JSON file.", "portability"),
        ("", "I no longer agree to you using my photo in your shop window.", "withdraw_consent"),
        ("", "I'd like my customer profile and order history erased.", "erasure"),
        ("", "How did you get hold of my phone number?", "access"),
        ("Werbung", "Ich bin nicht mehr damit einverstanden, dass ihr meine Fotos für Werbung nutzt.", "withdraw_consent"),
        ("photos", "Je ne suis plus d'accord que vous montriez ma figurine sur votre page Facebook.", "withdraw_consent"),
        ("datos", "Quiero recibir mis datos en formato estructurado y legible por máquina.", "portability"),
        ("gegevens", "Beperk de verwerking van mijn gegevens tot de fout in mijn adres is hersteld, maar verwijder niets.",
         "restriction"),
    ],
)
def test_more_phrasings_in_several_languages(subject: str, text: str, label: str) -> None:
    """Plain wording of the sparser rights, in English and the other languages."""
    result = classify(subject, text)
    assert result.is_request or result.uncertain, result
    assert label in result.labels, result


def test_negated_deletion_is_not_erasure() -> None:
    """'please don't delete my data' asks for the opposite of erasure."""
    from mailbot.classifier import rules
    from mailbot.classifier.normalisation import features

    model = load_model()
    for text in ("Please don't delete my data, I still need the invoices.",
                 "Bitte verwenden Sie meine Daten nicht mehr, aber nicht löschen."):
        joined = normalise("", text)
        hits = model.rules.apply(features(joined)[0], joined)
        assert "erasure" not in rules.labels_of(hits), (text, hits)


@pytest.mark.parametrize("text", [
    "Bitte löscht die doppelte Bestellung (#10482) aus meinem Kundenkonto.",
    "Merci de supprimer la commande en double de mon compte (n° 2291).",
    "Borrad el pedido duplicado de mi cuenta, por favor.",
    "Was habt ihr noch an Drachen auf Lager?",
    "¿Qué tenéis en resina ahora mismo?",
    "Wat hebben jullie daarvoor nodig?",
    "¿De dónde habéis sacado el diseño? Me encanta.",
    "Can you export the lantern as an OBJ so I can import it into Blender?",
    "I want the files in a standard format so I can take them to a print shop near me.",
    "Please opt me out of the shipping insurance on order 71180.",
    "Don't forget me at the Bristol fair on Saturday!",
    "Hi, the phone number on your invoice footer is wrong - one digit off.",
])
def test_rules_leave_ordinary_lookalikes_alone(text: str) -> None:
    """Order talk in the words of a right fires no rule (the model still reads it)."""
    from mailbot.classifier.normalisation import features

    joined = normalise("", text)
    assert load_model().rules.apply(features(joined)[0], joined) == (), text


@pytest.mark.parametrize(("text", "label"), [
    ("Bitte löscht mein Kundenkonto und alle Daten.", "erasure"),
    ("Was habt ihr alles über mich gespeichert?", "access"),
    ("Qu'est-ce que vous savez sur moi exactement ?", "access"),
    ("Woher haben Sie meine E-Mail-Adresse?", "access"),
    ("Could you send my order history as a CSV so I can import it?", "portability"),
    ("Send me my data so I can move it elsewhere.", "portability"),
    ("Please opt me out of all marketing.", "objection"),
    ("My address on your invoices is wrong.", "rectification"),
    ("Please forget me.", "erasure"),
    # "Keep it but don't use it": its two halves anywhere in the mail, in either order.
    ("Don't delete my data. But stop using it until the dispute is settled.", "restriction"),
    ("Stop using my details for now; do not erase them though.", "restriction"),
    ("Meine Daten bitte nicht löschen, aber auch nicht mehr nutzen.", "restriction"),
    # Each once passed its pattern but none of the substrings that let the pattern be tried.
    ("Löschen Sie diese nicht, aber verwenden Sie sie nicht mehr.", "restriction"),
    ("Verwijder ze niet. Gebruik ze alleen niet meer.", "restriction"),
    ("Os pido que mi cuenta de cliente la vayáis a suprimir.", "erasure"),
    ("Ik wil mijn account opheffen en al mijn gegevens wissen", "erasure"),
])
def test_rules_still_fire_on_the_requests_they_resemble(text: str, label: str) -> None:
    from mailbot.classifier import rules
    from mailbot.classifier.normalisation import features

    joined = normalise("", text)
    lower = joined.lower()
    # A pattern's cheap substring check must never hide a match of the pattern itself.
    for _label, triggers, pattern in rules._PATTERNS:
        assert not pattern.search(lower) or any(trigger in lower for trigger in triggers), (text, pattern)
    assert label in rules.labels_of(load_model().rules.apply(features(joined)[0], joined)), text


def test_keep_but_do_not_use_needs_both_halves() -> None:
    """Not deleting alone, or not using alone, is no restriction rule."""
    from mailbot.classifier import rules
    from mailbot.classifier.normalisation import features

    for text in ("Please don't delete the shared folder yet.", "Stop using the old logo on my invoices."):
        joined = normalise("", text)
        assert "restriction" not in rules.labels_of(load_model().rules.apply(features(joined)[0], joined)), text


def test_access_phrase_governed_by_another_right_is_dropped() -> None:
    """'the details you hold about me are incorrect' asks for rectification, not a copy."""
    from mailbot.classifier import rules
    from mailbot.classifier.normalisation import features

    model = load_model()
    for text in ("Some of the details you hold about me are incorrect.",
                 "Vorrei che eliminaste il mio account e tutte le informazioni che avete su di me."):
        joined = normalise("", text)
        assert "access" not in rules.labels_of(model.rules.apply(features(joined)[0], joined)), text


def test_long_template_letter_is_not_every_right() -> None:
    """A long formal letter for one right is not scored as every right it mentions in passing."""
    letter = (
        "Dear Sir or Madam,\n\nI hereby request the rectification of inaccurate personal data concerning me. "
        "Please make the following change: my surname is Whitfield, not Whitfeld.\n\n"
        + "If you have disclosed my data to recipients, please inform them of this rectification and tell me "
          "who they are. Please confirm the change in writing within one month.\n" * 6
        + "\nYours faithfully,\nJane Whitfield"
    )
    result = classify("Request for rectification", letter)
    assert "rectification" in result.labels
    assert not {"objection", "withdraw_consent", "erasure"} & set(result.labels), result


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("trade account", "Do you offer trade accounts for schools? We would order about 40 prints a term."),
        ("review", "Could you remove the review I wrote on the fox? I meant to post it on the owl."),
        ("Re: delivery", "Great, thanks a lot!"),
        ("Bestellung", "Könnt ihr bei meiner Bestellung noch die Farbe auf Weiß ändern?"),
        ("Commande", "Pouvez-vous ajouter un deuxième porte-clés à ma commande ?"),
    ],
)
def test_more_hard_negatives(subject: str, text: str) -> None:
    """Studio mail with request-like words, in English and other languages, is not a request."""
    assert not classify(subject, text).is_request
