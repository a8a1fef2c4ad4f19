"""The reply: the newest text a sender wrote, apart from quoted history and signature.

Mail clients quote differently. Gmail and Apple Mail put an attribution line
("On 3 May 2026, at 10:12, X wrote:") above "> " quoted lines; Outlook puts a
"-----Original Message-----" line, an underscore rule or a bare
"From: / Sent: / To: / Subject:" block above the unquoted history. Later
stages read challenge codes and owner approvals from ``Reply.new``, so a
false "quoted" costs more than a false "new": every rule here looks for
strong evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    """A message body split into the new text, the quoted history and the signature."""

    new: str
    quoted: str
    signature: str


# Verbs of the attribution line in the languages our senders write in.
_WROTE = r"(?:wrote|writes|schrieb|a\s+écrit|escribió|escribio|ha\s+scritto|schreef)"
# Attribution openers: "On", "Am", "Le", "El", "Il (giorno)", "Op".
_ATTRIBUTION_START = re.compile(r"^\s*(?:On|Am|Le|El|Il|Op)\s", re.IGNORECASE)
# The line that ends an attribution; it may be wrapped over up to three lines.
_ATTRIBUTION_END = re.compile(rf"\b{_WROTE}\b.*:\s*$", re.IGNORECASE)
_BARE_WROTE = re.compile(rf"\b{_WROTE}\s*:\s*$", re.IGNORECASE)

_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|"
    r"Mensaje original|Messaggio originale|Oorspronkelijk bericht|"
    r"Forwarded message|Weitergeleitete Nachricht|Message transféré|"
    r"Mensaje reenviado|Messaggio inoltrato|Doorgestuurd bericht)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_UNDERSCORE_RULE = re.compile(r"^\s*_{20,}\s*$")
# Outlook's header block, in plain text or rendered from HTML ("*From:*").
_HEADER_FROM = re.compile(r"^\s*\*?(?:From|Von|De|Da|Van)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_SENT = re.compile(
    r"^\s*\*?(?:Sent|Date|Gesendet|Datum|Envoyé|Date d'envoi|Enviado|Fecha|Inviato|Data|"
    r"Verzonden|Verstuurd)\s*:\*?\s*\S",
    re.IGNORECASE,
)
_HEADER_TO_OR_SUBJECT = re.compile(
    r"^\s*\*?(?:To|An|À|A|Para|Aan|Subject|Betreff|Objet|Asunto|Oggetto|Onderwerp)\s*:\*?",
    re.IGNORECASE,
)
_HEADER_LIKE = re.compile(r"^\s*\*?[^\W\d_][\w' -]{0,30}:\*?(?:\s|$)")

# Matched against "\n" + text: a pattern that starts with a literal newline
# is tried only at line starts, several times faster than ^ with MULTILINE.
_SIGNATURE = re.compile(
    r"\n(?=[-SGVEIsgvei \t])(?:--[ \t]?|[ \t]*(?:Sent from my \w[\w ]{0,40}|Sent from (?:Mail|Outlook|Yahoo Mail|Proton Mail)\b[^\n]*|"
    r"Sent with Proton Mail[^\n]*|Get Outlook for \w[^\n]*|Sent from Outlook for \w[^\n]*|"
    r"Von meinem \w[\w ]{0,40} gesendet|Gesendet von meinem \w[\w ]{0,40}|"
    r"Envoyé de mon \w[\w ]{0,40}|Enviado desde mi \w[\w ]{0,40}|"
    r"Inviato da(?:l mio)? \w[\w ]{0,40}|(?:Verzonden|Verstuurd) (?:vanaf|met|van) (?:mijn )?\w[\w ]{0,40})[ \t]*)(?=\n|$)",
    re.IGNORECASE,
)
# Lines that could start quoted history; everything before the first one is
# new text without looking line by line, which keeps long plain mails cheap.
# Spelled-out cases are faster than IGNORECASE here.
_CANDIDATE_START = re.compile(
    r"\n(?:>|[ \t]*(?:--|_{20}|\*?(?:[Ff][Rr][Oo][Mm]|[Vv][Oo][Nn]|[Dd][EeAa]|[Vv][Aa][Nn])[ \t]*:))"
)
_CANDIDATE_COLON_END = re.compile(r":[ \t]*(?=\n|$)")

_LOOKBACK = 2  # an attribution wrapped by the client spans at most three lines


def split_reply(text: str) -> Reply:
    """Split a plain-text body into the newest part, the quoted history and the signature."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    first = _first_candidate(text)
    if first is None:
        return _with_signature(text, "")
    lines = text.split("\n")
    count = len(lines)
    quoted_flags = [False] * count
    cut = count  # from here on, everything is quoted history

    i = text.count("\n", 0, first)
    while i < count:
        line = lines[i]
        if line.startswith(">"):
            quoted_flags[i] = True
            i += 1
            continue
        start = _attribution_start(lines, i)
        if start is not None:
            nxt = _next_nonblank(lines, i + 1)
            for k in range(start, i + 1):
                quoted_flags[k] = True
            if nxt is None or not lines[nxt].startswith(">"):
                # Unquoted history follows the attribution (Outlook-style or a
                # client that does not prefix lines): the rest is history.
                cut = start
                break
            i += 1
            continue
        if _starts_outlook_block(lines, i):
            cut = i
            break
        i += 1

    new_lines = [lines[k] for k in range(cut) if not quoted_flags[k]]
    quoted_lines = [lines[k] for k in range(cut) if quoted_flags[k]] + lines[cut:]
    return _with_signature("\n".join(new_lines), _tidy("\n".join(quoted_lines)))


def _first_candidate(text: str) -> int | None:
    """The offset of the first line that may open quoted history, or None if none can."""
    starts = _CANDIDATE_START.search("\n" + text)
    colon = _CANDIDATE_COLON_END.search(text)
    # Offsets into text: a match in "\n" + text at k is the line starting at k in text.
    found = [m for m in (starts.start() if starts else None, colon.start() if colon else None) if m is not None]
    return min(found) if found else None


def _with_signature(new: str, quoted: str) -> Reply:
    """Split the signature off the new text and build the Reply."""
    match = _SIGNATURE.search("\n" + new)
    signature = ""
    if match is not None:
        cut = match.start()  # in new, the signature line starts one past the matched "\n"
        new, signature = new[:cut], new[cut:]
    return Reply(new=_tidy(new), quoted=quoted, signature=_tidy(signature))


def _attribution_start(lines: list[str], i: int) -> int | None:
    """The index where an attribution ending on line i starts, or None if line i ends none."""
    line = lines[i]
    if not line.rstrip().endswith(":") or not _ATTRIBUTION_END.search(line):
        return None
    for start in range(i, max(-1, i - _LOOKBACK - 1), -1):
        if start < i and not lines[start].strip():
            break
        if _ATTRIBUTION_START.match(lines[start]):
            # A real attribution carries a date or an address; "On Monday I
            # wrote:" in the sender's own words does not.
            if any(ch.isdigit() or ch == "@" for k in range(start, i + 1) for ch in lines[k]):
                return start
            return None
    # "Andrei Kovacs <andrei@ak3dstudio.com> wrote:" with no opener counts only
    # when quoted lines follow, which is strong enough evidence on its own.
    if _BARE_WROTE.search(line):
        nxt = _next_nonblank(lines, i + 1)
        if nxt is not None and lines[nxt].startswith(">"):
            return i
    return None


def _starts_outlook_block(lines: list[str], i: int) -> bool:
    """True if line i opens Outlook-style unquoted history."""
    line = lines[i]
    if not line:
        return False
    first = line.lstrip()[:1]
    if first == "-":
        return bool(_ORIGINAL_MESSAGE.match(line))
    if first == "_":
        if not _UNDERSCORE_RULE.match(line):
            return False
        nxt = _next_nonblank(lines, i + 1)
        return nxt is not None and bool(_HEADER_LIKE.match(lines[nxt]))
    if _HEADER_FROM.match(line):
        # A real header block: From: followed closely by Sent:/Date: and To:/Subject:.
        window = lines[i + 1 : i + 7]
        has_sent = any(_HEADER_SENT.match(w) for w in window)
        has_to = any(_HEADER_TO_OR_SUBJECT.match(w) for w in window)
        return has_sent and has_to
    return False


def _next_nonblank(lines: list[str], i: int) -> int | None:
    """The index of the first non-blank line at or after i, or None."""
    for k in range(i, len(lines)):
        if lines[k].strip():
            return k
    return None


_LEADING_BLANK_LINES = re.compile(r"(?:[ \t]*\n)+")
_TRAILING_SPACE = re.compile(r"[ \t]+(?=\n|$)")


def _tidy(text: str) -> str:
    """Drop blank lines at either end and spaces at line ends."""
    if " \n" in text or "\t\n" in text:
        text = _TRAILING_SPACE.sub("", text)
    leading = _LEADING_BLANK_LINES.match(text)
    if leading is not None:
        text = text[leading.end() :]
    return text.rstrip()
