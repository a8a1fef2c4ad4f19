"""Rendering: every template for a sample case, the content the law needs, and the safety rules."""

from __future__ import annotations

import dataclasses
import email.policy
import re
from datetime import date
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest

from mailbot.config import PrivacyConfig, ResponsesConfig, load_config, parse_config
from mailbot.errors import ConfigError, MailbotError
from mailbot.rendering import (
    KINDS,
    RIGHTS,
    BusinessInfo,
    CaseContext,
    CaseSummary,
    Challenge,
    ChallengeContext,
    ClarificationContext,
    ClosedContext,
    Correction,
    DigestContext,
    PossibleRequest,
    DraftContext,
    DraftInfo,
    ExtensionContext,
    NoticeContext,
    DecisionContext,
    Outcome,
    RefusalContext,
    ReminderContext,
    RenderedMessage,
    RenderError,
    Renderer,
    ResponseContext,
    SendFailedContext,
    UnknownKind,
    WrongCodeContext,
    clean_subject,
    known_kinds,
    render,
)

ROOT = Path(__file__).resolve().parent.parent
CONFIG = load_config(ROOT / "config.example.toml")
BUSINESS = BusinessInfo.from_config(CONFIG)
PRIVACY = CONFIG.privacy

ICO_DETAILS = (
    "Information Commissioner's Office",
    "Wycliffe House, Water Lane, Wilmslow, Cheshire SK9 5AF",
    "0303 123 1113",
    "ico.org.uk/make-a-complaint",
)
JUDICIAL = "judicial remedy"


def make_case(**changes: object) -> CaseSummary:
    base = CaseSummary(
        reference="R-2025-0042",
        requester_address="jane.doe@example.org",
        requester_name="Jane Doe",
        rights=("access",),
        received_on=date(2025, 11, 3),
        due_on=date(2025, 12, 3),
        request_text="Please send me a copy of all the data you hold about me.\nOrder 1234.",
        state="verified",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


CASE = make_case()
CHALLENGE = Challenge(code="K7P-4QX-92M", expires_on=date(2025, 11, 17), valid_days=14,
                      token="q9ZtB3xK_2mN8vR4pLw7Ya")
OUTCOME = Outcome(
    actions=("Deleted your customer account and order files.",),
    kept=("Invoices for your orders, until 5 April 2031, because UK tax law requires it.",),
    attachments=("ak3d-data-R-2025-0042.zip",),
    corrections=(Correction(field="Delivery address", old="1 Old Road", new="2 New Street"),),
    note="If anything in the copy is unclear, just ask.",
)
DRAFT = DraftInfo(
    number=12,
    token="d7f3a9c41be8e25f",
    kind="response_access",
    subject="Your personal data: our answer to your access request (ref R-2025-0042)",
    text="Dear Jane Doe,\n\nHere is your data.\n",
)


def sample_context(kind: str, case: CaseSummary = CASE) -> object:
    """A filled-in context of the right type for kind."""
    spec = KINDS[kind]
    if spec.context is CaseContext:
        return CaseContext(BUSINESS, case)
    if spec.context is ChallengeContext:
        return ChallengeContext(BUSINESS, dataclasses.replace(case, due_on=None), CHALLENGE)
    if spec.context is ResponseContext:
        right = kind.removeprefix("response_")
        return ResponseContext(BUSINESS, dataclasses.replace(case, rights=(right,)), PRIVACY, OUTCOME)
    if spec.context is ClarificationContext:
        return ClarificationContext(BUSINESS, case, ("Which email address did you use for your account?",))
    if spec.context is ExtensionContext:
        return ExtensionContext(BUSINESS, case, ("Your request covers ten years of orders.",), date(2026, 2, 3))
    if spec.context is RefusalContext:
        return RefusalContext(BUSINESS, case, ("This request repeats one we answered on 1 October 2025.",))
    if spec.context is ClosedContext:
        return ClosedContext(BUSINESS, case, "expired")
    if spec.context is DraftContext:
        return DraftContext(BUSINESS, case, DRAFT, reply_to="andrei@ak3dstudio.com")
    if spec.context is ReminderContext:
        return ReminderContext(BUSINESS, case, today=date(2025, 11, 28), days_left=3)
    if spec.context is DigestContext:
        cases = (
            case,
            make_case(reference="R-2025-0040", due_on=date(2025, 11, 20), requester_name=""),
            make_case(reference="R-2025-0043", due_on=None, state="awaiting_identity"),
        )
        possible = (PossibleRequest(41, "rob@example.net", "quick q <about> my stuff", date(2025, 11, 27)),)
        return DigestContext(BUSINESS, today=date(2025, 11, 28), cases=cases, drafts=(DRAFT,), possible=possible)
    if spec.context is SendFailedContext:
        return SendFailedContext(
            BUSINESS, outbox_id=7, kind="ack_challenge", to_address="jane.doe@example.org",
            subject="Please confirm", attempts=3, reason="550 5.1.1 mailbox unavailable", case_reference="R-2025-0042",
        )
    if spec.context is WrongCodeContext:
        return WrongCodeContext(BUSINESS, dataclasses.replace(case, due_on=None), attempts_left=3)
    if spec.context is NoticeContext:
        return NoticeContext(BUSINESS, "locked", "[R-2025-0042]", "5 replies without the right code.", case,
                             message_from="jane.doe@example.org", message_subject="Re: my data")
    if spec.context is DecisionContext:
        return DecisionContext(BUSINESS, "rejected", 12, "response_access", "jane.doe@example.org",
                               "rejected by andrei@ak3dstudio.com: we hold no data about her", case)
    raise AssertionError(f"no sample for {kind}")


# --- every template renders, for every kind --------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_renders_subject_text_and_html(kind: str) -> None:
    message = render(kind, sample_context(kind))
    assert isinstance(message, RenderedMessage)
    assert message.subject and "\n" not in message.subject and "\r" not in message.subject
    assert message.text.endswith("\n") and "\n\n\n" not in message.text
    assert message.html.lstrip().startswith("<!DOCTYPE html>")
    assert message.html.rstrip().endswith("</html>")
    assert "{{" not in message.text and "{%" not in message.text and "{{" not in message.html


@pytest.mark.parametrize("kind", known_kinds("requester"))
def test_requester_messages_greet_sign_and_carry_the_reference(kind: str) -> None:
    message = render(kind, sample_context(kind))
    assert "R-2025-0042" in message.subject
    for body in (message.text, message.html):
        assert "Dear Jane Doe," in body
        assert "AK3D Studio" in body
        assert "andrei@ak3dstudio.com" in body
        assert "1 Example Street, Manchester" in body
        assert "R-2025-0042" in body


def test_greeting_without_a_name() -> None:
    message = render("ack", CaseContext(BUSINESS, make_case(requester_name="")))
    assert message.text.startswith("Hello,\n")
    assert "<p>Hello,</p>" in message.html


@pytest.mark.parametrize("right", RIGHTS)
def test_every_right_has_words(right: str) -> None:
    message = render("ack", CaseContext(BUSINESS, make_case(rights=(right,))))
    assert "about \n" not in message.text
    owner = render("owner_new_case", CaseContext(BUSINESS, make_case(rights=(right,))))
    assert "Asks for:" in owner.text


def test_several_rights_are_joined_in_plain_english() -> None:
    message = render("ack", CaseContext(BUSINESS, make_case(rights=("access", "erasure", "objection"))))
    flat = " ".join(message.text.split())
    assert (
        "a copy of your personal data (the right of access), deleting your personal data "
        "(the right to erasure) and objecting to how we use your personal data" in flat
    )


# --- what each message must say ----------------------------------------------


def flat(text: str) -> str:
    """Text with line breaks and runs of space collapsed, for phrase checks across wrapped lines."""
    return " ".join(text.split())


def test_challenge_says_why_what_to_do_the_code_and_the_expiry() -> None:
    for kind in ("ack_challenge", "challenge_reminder"):
        message = render(kind, sample_context(kind))
        for body in (flat(message.text), flat(message.html)):
            assert "K7P-4QX-92M" in body
            assert "Monday 17 November 2025" in body
            assert "only give personal data to the person it belongs to" in body
            assert "reply to this email from the same address" in body
            assert "jane.doe@example.org" in body
            assert "keep this code" in body
        # The token matches a reply whose threading headers were lost.
        assert "[R-2025-0042 q9ZtB3xK_2mN8vR4pLw7Ya]" in render(kind, sample_context(kind)).subject
    first = flat(render("ack_challenge", sample_context("ack_challenge")).text)
    assert "within 14 days" in first
    assert "time limit for our answer starts when we receive your reply" in first


def test_acknowledgement_quotes_the_request_and_gives_the_due_date() -> None:
    message = render("ack", sample_context("ack"))
    assert "> Please send me a copy of all the data you hold about me.\n> Order 1234." in message.text
    assert "Wednesday 3 December 2025" in message.text
    assert "Order 1234.</blockquote>" in message.html


def test_identity_confirmed_gives_the_due_date() -> None:
    message = render("identity_confirmed", sample_context("identity_confirmed"))
    assert "Wednesday 3 December 2025" in message.text
    assert "Wednesday 3 December 2025" in message.html


def test_access_response_carries_everything_article_15_requires() -> None:
    message = render("response_access", sample_context("response_access"))
    for body in (message.text, message.html):
        text = flat(body).replace("&#39;", "'")
        for items in (
            PRIVACY.purposes, PRIVACY.categories, PRIVACY.recipients, PRIVACY.retention,
            PRIVACY.source, PRIVACY.automated_decisions, PRIVACY.transfers,
        ):
            for item in items:
                assert flat(item).replace("&", "&amp;" if body is message.html else "&") in text
        assert "ask us to correct personal data" in text  # the other rights
        assert "withdraw your consent" in text
        for detail in ICO_DETAILS:
            assert detail in text
        assert "ak3d-data-R-2025-0042.zip" in text  # the copy itself
        assert "https://ak3dstudio.com/privacy" in text
    for heading in ("WHY WE USE YOUR DATA", "WHO WE SHARE IT WITH", "HOW LONG WE KEEP IT", "WHERE IT COMES FROM",
                    "AUTOMATED DECISIONS AND PROFILING", "TRANSFERS OUTSIDE THE UK", "YOUR OTHER RIGHTS",
                    "YOUR RIGHT TO COMPLAIN"):
        assert heading in message.text


def test_access_response_refuses_an_incomplete_privacy_notice() -> None:
    privacy = dataclasses.replace(PRIVACY, retention=(), transfers=())
    with pytest.raises(RenderError, match=r"privacy\.retention, privacy\.transfers"):
        render("response_access", ResponseContext(BUSINESS, CASE, privacy))


def test_refusal_carries_reasons_ico_and_judicial_remedy() -> None:
    message = render("refusal", sample_context("refusal"))
    for body in (flat(message.text), flat(message.html).replace("&#39;", "'")):
        assert "This request repeats one we answered on 1 October 2025." in body
        for detail in ICO_DETAILS:
            assert detail in body
        assert JUDICIAL in body
        assert "court" in body


@pytest.mark.parametrize("kind", [k for k in known_kinds("requester") if k.startswith("response_")])
def test_every_response_says_how_to_complain(kind: str) -> None:
    message = render(kind, sample_context(kind))
    for body in (flat(message.text), flat(message.html).replace("&#39;", "'")):
        for detail in ICO_DETAILS:
            assert detail in body
        assert JUDICIAL in body


def test_rectification_lists_the_corrections_and_tells_recipients() -> None:
    message = render("response_rectification", sample_context("response_rectification"))
    assert 'Delivery address: was "1 Old Road", now "2 New Street"' in message.text
    assert "we have told them about this too" in flat(message.text)
    assert "&ldquo;2 New Street&rdquo;" in message.html


def test_erasure_says_what_is_kept_and_why() -> None:
    message = render("response_erasure", sample_context("response_erasure"))
    assert "Deleted your customer account and order files." in message.text
    assert "What we have to keep, and why:" in message.text
    assert "until 5 April 2031, because UK tax law requires it." in flat(message.text)


def test_restriction_and_withdrawal_state_their_legal_effect() -> None:
    restriction = flat(render("response_restriction", sample_context("response_restriction")).text)
    assert "We will tell you before we lift this restriction." in restriction
    consent = flat(render("response_withdraw_consent", sample_context("response_withdraw_consent")).text)
    assert "does not make our earlier use of your data unlawful" in consent


def test_extension_gives_reasons_and_the_new_date() -> None:
    message = render("extension", sample_context("extension"))
    for body in (flat(message.text), flat(message.html)):
        assert "Your request covers ten years of orders." in body
        assert "Tuesday 3 February 2026" in body
        assert "Article 12(3)" in body


def test_clarification_asks_the_questions_and_explains_the_pause() -> None:
    message = render("clarification", sample_context("clarification"))
    assert "  - Which email address did you use for your account?" in message.text
    assert "paused while we wait for you" in flat(message.text)


def test_complaint_acknowledgement_names_the_ico() -> None:
    message = render("complaint_ack", sample_context("complaint_ack"))
    for detail in ICO_DETAILS:
        assert detail in flat(message.text)


@pytest.mark.parametrize("reason", ["answered", "withdrawn", "expired", "refused", "no_reply"])
def test_case_closed_explains_each_reason(reason: str) -> None:
    message = render("case_closed", ClosedContext(BUSINESS, CASE, reason))  # type: ignore[arg-type]
    assert "welcome to write to us again" in flat(message.text)
    if reason == "expired":
        assert "did not receive the code in time" in flat(message.text)


# --- owner messages -------------------------------------------------------------


def test_draft_to_approve_carries_token_draft_summary_due_date_and_instructions() -> None:
    message = render("owner_draft", sample_context("owner_draft"))
    assert message.subject.startswith("Draft 12 to approve [d7f3a9c41be8e25f] R-2025-0042")
    assert "due Wednesday 3 December 2025" in message.subject
    text = message.text
    assert "d7f3a9c41be8e25f" in text
    assert "Dear Jane Doe,\n\nHere is your data." in text  # the draft itself
    assert "Subject: Your personal data: our answer to your access request" in text
    assert "Case:       R-2025-0042" in text
    assert "Due:        Wednesday 3 December 2025" in text
    for instruction in ("  approve\n", "  reject <reason>\n", "  edit\n"):
        assert instruction in text
    assert "leave the subject as it is" in flat(text)
    assert "mailbot drafts approve 12" in text
    assert "reject &lt;reason&gt;" in message.html and "d7f3a9c41be8e25f" in message.html


def test_draft_token_survives_a_long_subject() -> None:
    case = make_case(reference="R-" + "9" * 300)
    context = DraftContext(BUSINESS, case, DRAFT, reply_to="andrei@ak3dstudio.com")
    subject = render("owner_draft", context).subject
    assert "d7f3a9c41be8e25f" in subject and len(subject) <= 200


def test_new_case_without_a_running_clock() -> None:
    message = render("owner_new_case", CaseContext(BUSINESS, make_case(due_on=None, state="awaiting_identity")))
    assert "clock starts when they do" in flat(message.text)
    assert "New data protection request R-2025-0042 from Jane Doe" == message.subject


@pytest.mark.parametrize(("days", "phrase"), [(3, "in 3 days"), (1, "in 1 day"), (0, "Due today"), (-2, "OVERDUE")])
def test_deadline_reminder(days: int, phrase: str) -> None:
    context = ReminderContext(BUSINESS, CASE, today=date(2025, 11, 30), days_left=days)
    message = render("owner_deadline_reminder", context)
    assert phrase in message.subject
    if days < 0:
        assert "2 days ago" in message.text


def test_daily_digest_groups_cases() -> None:
    message = render("owner_daily_digest", sample_context("owner_daily_digest"))
    text = message.text
    assert "3 open, 1 draft to approve, 1 that may be a request" in message.subject
    assert 'from rob@example.net: "quick q <about> my stuff"' in text
    assert "quick q &lt;about&gt; my stuff" in message.html
    assert text.index("DRAFTS WAITING") < text.index("OVERDUE") < text.index("OPEN, BY DUE DATE") < text.index(
        "WAITING FOR THE REQUESTER"
    )
    assert "R-2025-0040" in text.split("OVERDUE")[1].split("OPEN, BY DUE DATE")[0]
    assert "R-2025-0043" in text.split("WAITING FOR THE REQUESTER")[1]
    empty = render("owner_daily_digest", DigestContext(BUSINESS, today=date(2025, 11, 28), cases=()))
    assert "Nothing is open" in empty.text


# --- safety ---------------------------------------------------------------------


def test_customer_html_is_escaped_in_html_and_literal_in_text() -> None:
    evil = '<script>alert("x")</script>'
    case = make_case(requester_name=evil, request_text=f"Hi {evil} & bye")
    for kind in ("ack", "owner_new_case"):
        message = render(kind, CaseContext(BUSINESS, case))
        assert "<script>" not in message.html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in message.html
        assert "&amp; bye" in message.html
        assert evil in message.text  # text mail shows what they wrote, unescaped
    draft = dataclasses.replace(DRAFT, text=f"Dear {evil},\n")
    owner = render("owner_draft", DraftContext(BUSINESS, case, draft, reply_to="andrei@ak3dstudio.com"))
    assert "<script>" not in owner.html


def test_template_syntax_in_customer_text_stays_literal() -> None:
    payload = "{{ 7*7 }} {% for x in range(3) %}x{% endfor %} {{ ''.__class__.__mro__ }}"
    case = make_case(requester_name="{{ 7*7 }}", request_text=payload)
    for kind in ("ack", "owner_new_case"):
        message = render(kind, CaseContext(BUSINESS, case))
        assert "{{ 7*7 }}" in message.text and "49" not in message.text
        assert "{{ 7*7 }}" in message.html and "49" not in message.html
        assert "{% for x in range(3) %}" in message.text
    corrections = (Correction(field="Name", old="{{ 7*7 }}", new="{{ config }}"),)
    context = ResponseContext(BUSINESS, case, PRIVACY, Outcome(corrections=corrections))
    assert 'was "{{ 7*7 }}", now "{{ config }}"' in render("response_rectification", context).text


@pytest.mark.parametrize(
    "name",
    [
        "Jane\r\nBcc: victim@example.com",
        "Jane\nBcc: victim@example.com",
        "Jane\rBcc: victim@example.com",
        "Jane\u2028Bcc: victim@example.com",
        "Jane\x85Bcc: victim@example.com",
        "Jane\x00\x0b\x0cBcc: victim@example.com",
    ],
)
def test_a_subject_cannot_inject_a_header(name: str) -> None:
    message = render("owner_new_case", CaseContext(BUSINESS, make_case(requester_name=name)))
    assert message.subject == "New data protection request R-2025-0042 from Jane Bcc: victim@example.com"
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in message.subject)
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["Subject"] = message.subject
    mail["To"] = "andrei@ak3dstudio.com"
    mail.set_content(message.text)
    parsed = BytesParser(policy=email.policy.default).parsebytes(mail.as_bytes())
    assert parsed["Bcc"] is None
    # Strip: the parser keeps the space of a fold right after "Subject:".
    assert [str(v).strip() for v in parsed.get_all("Subject")] == [message.subject]


def test_clean_subject_collapses_and_cuts() -> None:
    assert clean_subject("  a\t\tb \r\n c  ") == "a b c"
    long = clean_subject("x" * 500)
    assert len(long) == 200 and long.endswith("…")


def test_strict_undefined_raises_on_a_missing_variable(tmp_path: Path) -> None:
    for suffix in ("subject", "txt", "html"):
        (tmp_path / f"ack.{suffix}.j2").write_text("{{ case.reference }} {{ case.no_such_field }}\n")
    renderer = Renderer(tmp_path)
    with pytest.raises(RenderError, match="ack.subject.j2.*no_such_field"):
        renderer.render("ack", CaseContext(BUSINESS, CASE))


def test_sandbox_blocks_python_internals(tmp_path: Path) -> None:
    for suffix in ("subject", "txt", "html"):
        (tmp_path / f"ack.{suffix}.j2").write_text("{{ case.__class__.__init__.__globals__ }}\n")
    with pytest.raises(RenderError, match="sandbox|does not give"):
        Renderer(tmp_path).render("ack", CaseContext(BUSINESS, CASE))


def test_autoescape_only_for_html(tmp_path: Path) -> None:
    (tmp_path / "ack.subject.j2").write_text("{{ case.requester_name }}")
    (tmp_path / "ack.txt.j2").write_text("{{ case.requester_name }}")
    (tmp_path / "ack.html.j2").write_text("{{ case.requester_name }}")
    message = Renderer(tmp_path).render("ack", CaseContext(BUSINESS, make_case(requester_name="Tom & <Jerry>")))
    assert message.subject == "Tom & <Jerry>"
    assert message.text == "Tom & <Jerry>\n"
    assert message.html == "Tom &amp; &lt;Jerry&gt;"


def test_a_missing_template_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "ack.subject.j2").write_text("x")
    with pytest.raises(RenderError, match=r"'ack\.txt\.j2' is missing"):
        Renderer(tmp_path).render("ack", CaseContext(BUSINESS, CASE))


def test_unknown_kind_names_it_and_lists_the_known_ones() -> None:
    with pytest.raises(UnknownKind) as info:
        render("response_telepathy", CaseContext(BUSINESS, CASE))
    assert isinstance(info.value, MailbotError)
    message = str(info.value)
    assert "'response_telepathy'" in message
    assert "ack_challenge" in message and "owner_daily_digest" in message and "refusal" in message


def test_wrong_context_type_is_refused() -> None:
    with pytest.raises(RenderError, match="'refusal' needs a RefusalContext, not a CaseContext"):
        render("refusal", CaseContext(BUSINESS, CASE))


def test_unknown_right_is_refused() -> None:
    with pytest.raises(RenderError, match="unknown right 'telepathy'"):
        make_case(rights=("telepathy",))


def test_every_kind_has_its_three_template_files() -> None:
    directory = ROOT / "mailbot" / "templates"
    for kind in KINDS:
        for suffix in ("subject", "txt", "html"):
            assert (directory / f"{kind}.{suffix}.j2").is_file(), f"{kind}.{suffix}.j2"
    stray = {
        p.name.split(".")[0] for p in directory.glob("*.j2") if not p.name.startswith("_")
    } - set(KINDS)
    assert not stray, f"templates without a kind: {stray}"


def test_repo_root_templates_is_the_package_directory() -> None:
    assert (ROOT / "templates").resolve() == (ROOT / "mailbot" / "templates").resolve()


def test_no_wording_in_code() -> None:
    # All wording sent to people lives in templates; rendering.py may name things, not say them.
    source = (ROOT / "mailbot" / "rendering.py").read_text(encoding="utf-8")
    for phrase in ("Dear", "Kind regards", "Information Commissioner", "Wycliffe"):
        assert phrase not in source


# --- config: [privacy], [responses], [business] additions ------------------------

MINIMAL = {
    "mailbox": {"username": "andrei@ak3dstudio.com"},
    "bot": {"address": "andrei@ak3dstudio.com"},
    "owner": {"email": "andrei@ak3dstudio.com"},
    "business": {"name": "AK3D Studio"},
}


def test_example_config_holds_the_privacy_notice_and_policies() -> None:
    assert all(
        getattr(CONFIG.privacy, name)
        for name in ("purposes", "categories", "recipients", "retention", "source", "automated_decisions", "transfers")
    )
    assert any("6 years" in line for line in CONFIG.privacy.retention)
    assert any("Stripe" in line for line in CONFIG.privacy.recipients)
    assert CONFIG.business.address and CONFIG.business.contact_email == "andrei@ak3dstudio.com"
    assert CONFIG.responses == ResponsesConfig()  # the example documents the defaults


def test_every_example_key_in_privacy_and_responses_has_a_comment() -> None:
    lines = (ROOT / "config.example.toml").read_text(encoding="utf-8").splitlines()
    section = ""
    for i, line in enumerate(lines):
        if line.startswith("["):
            section = line
        elif section in ("[privacy]", "[responses]") and re.match(r"^\w+ = ", line):
            before = [ln for ln in lines[:i] if ln.strip()][-1]
            if section == "[responses]" and line.startswith("response_") and not line.startswith("response_access"):
                continue  # the seven right responses share one comment
            assert before.startswith("#") or before.rstrip().endswith(("]", '"')), line


def test_defaults_without_privacy_or_responses_sections() -> None:
    config = parse_config(MINIMAL, Path("/etc/mailbot/mailbot.toml"))
    assert config.privacy == PrivacyConfig()
    assert config.business.address == "" and config.business.contact_email == ""
    assert BusinessInfo.from_config(config).contact_email == "andrei@ak3dstudio.com"
    responses = config.responses
    for kind in ("ack", "ack_challenge", "challenge_reminder", "identity_confirmed", "complaint_ack", "case_closed"):
        assert responses.policy(kind) == "send"
    for kind in ("clarification", "extension", "refusal", *(f"response_{r}" for r in RIGHTS if r != "complaint")):
        assert responses.policy(kind) == "draft"


def test_responses_cover_exactly_the_requester_kinds() -> None:
    fields = {f.name for f in dataclasses.fields(ResponsesConfig)}
    assert fields == set(known_kinds("requester"))
    with pytest.raises(ValueError, match="owner_draft"):
        ResponsesConfig().policy("owner_draft")


def test_privacy_lists_must_be_lists_of_strings() -> None:
    data = {**MINIMAL, "privacy": {"purposes": "orders"}}
    with pytest.raises(ConfigError, match=r"privacy\.purposes.*list of strings"):
        parse_config(data, Path("x.toml"))
    data = {**MINIMAL, "privacy": {"recipients": ["Stripe", 3]}}
    with pytest.raises(ConfigError, match=r"privacy\.recipients"):
        parse_config(data, Path("x.toml"))
    config = parse_config({**MINIMAL, "privacy": {"purposes": ["orders"]}}, Path("x.toml"))
    assert config.privacy.purposes == ("orders",)


def test_a_wrong_policy_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"responses\.refusal.*\"send\", \"draft\""):
        parse_config({**MINIMAL, "responses": {"refusal": "later"}}, Path("x.toml"))
    with pytest.raises(ConfigError, match=r"responses\.telepathy.*unknown key"):
        parse_config({**MINIMAL, "responses": {"telepathy": "send"}}, Path("x.toml"))


def test_contact_email_must_be_an_address() -> None:
    data = {**MINIMAL, "business": {"name": "AK3D Studio", "contact_email": "andrei at ak3dstudio"}}
    with pytest.raises(ConfigError, match=r"business\.contact_email"):
        parse_config(data, Path("x.toml"))


def test_a_missing_date_is_reported_not_printed_as_none() -> None:
    with pytest.raises(RenderError, match="must give a date"):
        render("identity_confirmed", CaseContext(BUSINESS, make_case(due_on=None)))


def test_send_failure_notice_says_what_failed_and_what_to_do() -> None:
    message = render("owner_send_failed", sample_context("owner_send_failed"))
    assert message.subject == "Could not send message 7 to jane.doe@example.org"
    assert "550 5.1.1 mailbox unavailable" in message.text
    assert "mailbot outbox retry 7" in message.text and "acknowledgement with identity check for case R-2025-0042" in message.text


@pytest.mark.parametrize("action", ["approved", "edited", "rejected", "ignored"])
def test_owner_decision_says_what_the_answer_did(action: str) -> None:
    detail = {"rejected": "rejected by andrei@ak3dstudio.com: we hold no data about her",
              "ignored": "draft 12 left waiting: the reply starts with 'ok'"}.get(action, "")
    out = render("owner_decision", DecisionContext(BUSINESS, action, 12, "response_access",  # type: ignore[arg-type]
                                                   "jane.doe@example.org", detail, CASE))
    text = " ".join(out.text.split())
    assert out.subject.startswith("Draft 12 ") and "[R-2025-0042]" in out.subject
    expected = {"approved": "queued for jane.doe@example.org, exactly as drafted",
                "edited": "with the text of your reply instead of the draft",
                "rejected": "we hold no data about her",
                "ignored": "start your reply with approve, reject <reason> or edit"}[action]
    assert expected in text
    if action == "ignored":
        assert "the reply starts with 'ok'" in text and "mailbot drafts show 12" in text
    assert "&lt;reason&gt;" in out.html if action == "ignored" else "<reason>" not in out.html


def test_rectification_correction_without_a_field_name_reads_cleanly() -> None:
    outcome = Outcome(corrections=(Correction(field="", old="12 Old Road", new="5 New Street"),))
    out = render("response_rectification", ResponseContext(BUSINESS, make_case(rights=("rectification",)),
                                                           PRIVACY, outcome))
    assert '- was "12 Old Road", now "5 New Street"' in out.text
