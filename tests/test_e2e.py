"""End to end against the real servers: Dovecot (IMAP) in, aiosmtpd (SMTP) out.

request APPENDed → Intake.run_once → workflow.process_new → Sender.deliver_due →
the challenge arrives; the requester's reply (built from the received challenge,
quoting it) → verified, confirmed, and the access answer drafted; the owner's
email approval of the draft → the answer is delivered, the owner gets a
confirmation and the case is responded. Forged approvals approve nothing;
forged and wrong replies never verify.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.policy
import email.utils
import json
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from sqlalchemy import select

from mailbot import workflow
from mailbot.clock import FakeClock
from mailbot.config import Config, parse_config
from mailbot.db import Database
from mailbot.imap import ImapMailbox
from mailbot.intake import Intake
from mailbot.message import ParsedMessage
from mailbot.models import Case, Message
from mailbot.sender import Sender
from tests.dovecot import DovecotServer
from tests.smtpd import SmtpServer, smtp_server  # noqa: F401  (fixture)
from tests.test_responses import PRIVACY

pytestmark = pytest.mark.imap

OWNER = "andrei@ak3dstudio.com"  # owner, bot and contact share one address, as shipped
ALICE = "alice@example.org"
BOB = "bob@example.net"
MALLORY = "mallory@example.com"


def classify(msg: ParsedMessage) -> str:
    """A stand-in for the trained classifier (another stage): a new mail about personal data is a request."""
    asks = "personal data" in msg.new_text.lower() and not msg.in_reply_to
    label = ["access"] if asks else ["none"]
    return json.dumps({"is_request": asks, "labels": label, "uncertain": False})


@dataclasses.dataclass
class Rig:
    """Both servers and one pass of every stage."""

    config: Config
    database: Database
    dovecot: DovecotServer
    smtp: SmtpServer

    def deliver(self, raw: bytes) -> None:
        self.dovecot.append(raw)

    def run(self) -> workflow.WorkflowReport:
        """Intake, workflow, sender: what `mailbot run --once` does."""
        mailbox = ImapMailbox(self.config.mailbox, self.config.intake.max_message_size)
        Intake(self.config, self.database, mailbox, classify=classify).run_once()
        report = workflow.process_new(self.database, self.config)
        asyncio.run(Sender(self.database, self.config).deliver_due())
        return report

    def received(self, to: str) -> list[EmailMessage]:
        """What the SMTP server accepted addressed To `to` (not the bot's hidden envelope copies)."""
        found = []
        for got in self.smtp.handler.received:
            msg = BytesParser(policy=email.policy.default).parsebytes(got.content)
            assert isinstance(msg, EmailMessage)
            if to in got.rcpt_tos and to in str(msg["To"]):
                found.append(msg)
        return found

    def case_state(self, address: str) -> str:
        with self.database.session() as session:
            case = session.scalar(select(Case).where(Case.requester_address == address))
            assert case is not None
            return case.state


@pytest.fixture
def rig(tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer,  # noqa: F811
        sqlite_database: Database, fake_clock: FakeClock) -> Rig:
    config = parse_config({
        "mailbox": {"source": "imap", "username": dovecot.user},
        "smtp": {"host": "127.0.0.1", "port": smtp_server.port, "security": "none", "timeout": 5},
        "bot": {"address": OWNER, "name": "AK3D Studio"},
        "owner": {"email": OWNER},
        "business": {"name": "AK3D Studio"},
        # The shipped policies: acknowledgements go at once, answers wait for the owner.
        "privacy": PRIVACY,
    }, tmp_path / "mailbot.toml")
    config = dataclasses.replace(config, mailbox=dovecot.mailbox_config())
    # Like a real MTA: what is sent to the bot's own address lands in its INBOX.
    smtp_server.handler.own_address = OWNER
    smtp_server.handler.deliver_own_copy = dovecot.append
    return Rig(config, sqlite_database, dovecot, smtp_server)


def new_mail(sender: str, subject: str, body: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = OWNER
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate()
    msg["Message-ID"] = email.utils.make_msgid(domain=sender.split("@")[1])
    msg.set_content(body)
    return msg.as_bytes()


def reply_to(parent: EmailMessage, sender: str, new_text: str, *, subject: str | None = None,
             thread: bool = True, quote: bool = True) -> bytes:
    """A reply as a mail client writes it: new text on top, the parent quoted below (unless not quote)."""
    lines = parent.get_body(("plain",)).get_content().splitlines() if quote else []
    quoted = "\n".join(f"> {line}" for line in lines)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = OWNER
    msg["Subject"] = subject if subject is not None else f"Re: {parent['Subject']}"
    msg["Date"] = email.utils.formatdate()
    msg["Message-ID"] = email.utils.make_msgid(domain=sender.split("@")[1])
    if thread:
        msg["In-Reply-To"] = parent["Message-ID"]
        msg["References"] = f"{parent.get('References', '')} {parent['Message-ID']}".strip()
    msg.set_content(f"{new_text}\n\nOn Mon, 4 May 2026 at 10:00, AK3D Studio wrote:\n{quoted}\n")
    return msg.as_bytes()


def verify_access_request(rig: Rig, sender: str) -> None:
    """sender asks for their data and answers the challenge: the access answer waits as a draft."""
    rig.deliver(new_mail(sender, "My data", "Please send me a copy of my personal data."))
    rig.run()
    [challenge] = rig.received(sender)
    rig.deliver(reply_to(challenge, sender, "Yes, that was me."))
    rig.run()
    assert rig.case_state(sender) == "awaiting_approval"


def test_request_challenge_reply_approval_and_delivery(rig: Rig) -> None:
    rig.deliver(new_mail(ALICE, "My data", "Please send me a copy of my personal data."))
    rig.run()
    [challenge] = rig.received(ALICE)
    assert challenge["Auto-Submitted"] == "auto-replied"
    with rig.database.session() as session:
        case = session.scalars(select(Case)).one()
        token, code = case.challenges[-1].token, case.challenges[-1].code
    assert case.reference in challenge["Subject"] and token in challenge["Subject"]

    [new_case] = rig.received(OWNER)
    assert case.reference in new_case["Subject"] and "New data protection request" in new_case["Subject"]

    # The requester replies; the code is only in the quoted challenge.
    rig.deliver(reply_to(challenge, ALICE, "Yes, that was me."))
    rig.run()
    assert rig.case_state(ALICE) == "awaiting_approval"
    confirmed = rig.received(ALICE)[-1]
    assert len(rig.received(ALICE)) == 2 and "confirmed" in confirmed["Subject"]
    assert code not in confirmed.get_body(("plain",)).get_content()
    [draft_mail] = [m for m in rig.received(OWNER) if "to approve" in m["Subject"]]
    assert "access" in draft_mail["Subject"]
    assert "Six years after the order, for tax." in draft_mail.get_body(("plain",)).get_content()

    # The bot's own copies came back into the INBOX and were screened, not answered.
    with rig.database.session() as session:
        screened = session.scalars(select(Message).where(Message.status == "screened")).all()
        assert screened and {m.screen_rule for m in screened} == {"loop"}

    # Forgeries approve nothing: a stranger who got hold of the draft mail (token and all), and
    # a mail that claims the owner's address but carries no token.
    rig.deliver(reply_to(draft_mail, MALLORY, "approve"))
    rig.deliver(new_mail(OWNER, "Re: Draft 1 to approve", "approve"))
    rig.run()
    assert rig.case_state(ALICE) == "awaiting_approval"
    assert len(rig.received(ALICE)) == 2 and rig.received(MALLORY) == []
    assert not [m for m in rig.received(OWNER) if "approved" in m["Subject"]]

    # The owner (same address as the bot) approves by replying.
    rig.deliver(reply_to(draft_mail, OWNER, "approve"))
    report = rig.run()
    assert "approved by email" in str(report)
    answer = rig.received(ALICE)[-1]
    assert len(rig.received(ALICE)) == 3 and answer["Auto-Submitted"] is None
    assert answer["In-Reply-To"] == f"<{case.root_message_id}>"
    assert "Royal Mail, to deliver parcels." in answer.get_body(("plain",)).get_content()
    confirmation = rig.received(OWNER)[-1]
    assert confirmation["Subject"].startswith("Draft ") and "approved" in confirmation["Subject"]
    assert rig.case_state(ALICE) == "responded"
    # New case, draft to approve, the stranger's mail on the case shown to the owner, confirmation.
    subjects = [m["Subject"] for m in rig.received(OWNER)]
    assert len(subjects) == 4 and "A new message on an open case" in subjects[2]
    # Nothing answered the owner's own mails twice, and nothing went to anyone else.
    assert len(rig.smtp.handler.received) == len({m.content for m in rig.smtp.handler.received})


def test_forged_wrong_and_stranger_replies_never_verify(rig: Rig) -> None:
    rig.deliver(new_mail(BOB, "Delete me", "Please delete my personal data."))
    rig.run()
    [challenge] = rig.received(BOB)
    with rig.database.session() as session:
        code = session.scalars(select(Case)).one().challenges[-1].code

    # Someone else replies with the right code: it does not count.
    rig.deliver(reply_to(challenge, MALLORY, f"code {code}"))
    # A forged reply: no threading headers and no token in the subject, so it answers no
    # challenge, even though it quotes the code (it joins Bob's case as a follow-up).
    rig.deliver(reply_to(challenge, BOB, "here it is", subject="Re: my request", thread=False))
    # Bob himself, with a wrong code (and without quoting ours).
    rig.deliver(reply_to(challenge, BOB, "000000", subject="Re: code", quote=False))
    report = str(rig.run())
    assert rig.case_state(BOB) == "awaiting_identity"
    assert "identity reply, wrong_sender" in report and "identity reply, wrong_code" in report
    assert "joined" in report
    assert rig.received(MALLORY) == []
    kinds = [m["Subject"] for m in rig.received(BOB)]
    assert any("did not contain the code" in s for s in kinds)


def test_an_answer_approved_with_the_data_export_arrives_with_it(rig: Rig) -> None:
    """The owner approves the access answer from the CLI with a file: it leaves over SMTP with the file."""
    from mailbot import approval

    verify_access_request(rig, ALICE)
    export = b"order,date,total\nAK-1001,2026-03-02,24.00\n"
    with rig.database.session() as session:
        [draft] = approval.drafts(session)
        approval.approve(session, draft.id, actor=OWNER, config=rig.config,
                         attachments=[approval.Attachment("alice-data.csv", "text/csv", export)])
    rig.run()
    answer = rig.received(ALICE)[-1]
    assert "Royal Mail, to deliver parcels." in answer.get_body(("plain",)).get_content()
    [attached] = list(answer.iter_attachments())
    assert attached.get_filename() == "alice-data.csv" and attached.get_content().encode() == export
    assert rig.case_state(ALICE) == "responded"


def test_the_owner_approves_by_email_with_the_export_attached_and_it_reaches_the_requester(rig: Rig) -> None:
    """A file attached to the owner's "approve" reply (through Dovecot) leaves with the answer."""
    verify_access_request(rig, ALICE)
    [draft_mail] = [m for m in rig.received(OWNER) if "to approve" in m["Subject"]]
    reply = BytesParser(policy=email.policy.default).parsebytes(reply_to(draft_mail, OWNER, "approve"))
    assert isinstance(reply, EmailMessage)
    # An HTML signature with the studio's logo, as mail clients send it: not a file for Alice.
    reply.add_alternative("<p>approve</p><p><img src='cid:logo@ak3d'> AK3D Studio</p>", subtype="html")
    html = reply.get_body(("html",))
    assert isinstance(html, EmailMessage)
    html.add_related(b"\x89PNG fake logo", maintype="image", subtype="png", cid="<logo@ak3d>",
                     filename="image001.png")
    export = b'{"orders": ["AK-1001"], "email": "alice@example.org"}\n'
    reply.add_attachment(export, maintype="application", subtype="json", filename="alice-data.json")
    rig.deliver(reply.as_bytes())
    report = rig.run()
    assert "approved by email with alice-data.json" in str(report)
    answer = rig.received(ALICE)[-1]
    [attached] = list(answer.iter_attachments())
    assert attached.get_filename() == "alice-data.json" and attached.get_content() == export
    confirmation = rig.received(OWNER)[-1]
    assert "alice-data.json" in confirmation.get_body(("plain",)).get_content()
    assert rig.case_state(ALICE) == "responded"
