"""The parse stage: raw bytes in, a ParsedMessage out, whatever the bytes are.

Built on ``email`` with ``policy.default`` semantics, made robust and fast:

* Header values are decoded here rather than through the policy's header
  objects: the structured-header parser is slow and raises on some broken
  input, and the screening rules only need text. RFC 2047 words with broken
  encodings or unknown charsets are decoded as far as possible, never raised.
* The stdlib parser looks up Content-Type several times per part while it
  parses, and ``policy.default`` re-parses the header on every lookup. The
  policy below memoises those few MIME headers (their values repeat across
  messages), which makes parsing two to three times faster with identical
  results.
* The message is parsed once; everything else is read off that one tree.
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from email.errors import MessageError
from email.message import Message
from email.parser import BytesParser
from email.policy import EmailPolicy, compat32
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache
from html import unescape
from html.parser import HTMLParser
from typing import Any

from mailbot.errors import ParseError
from mailbot.message import Attachment, ParsedMessage
from mailbot.quoting import split_reply

__all__ = ["parse", "html_to_text", "decode_header_value"]

_MAX_DEPTH = 40  # MIME nesting deeper than this is an attack or a loop, not mail
_CACHED_HEADERS = frozenset({"content-type", "content-disposition", "content-transfer-encoding"})
_CACHE_LIMIT = 4096


class _MemoPolicy(EmailPolicy):
    """policy.default, with the MIME headers the parser keeps re-reading memoised."""

    _memo: dict[tuple[str, str], Any] = {}

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        """Parse a stored header once per distinct value; header objects are immutable."""
        if hasattr(value, "name"):
            return value
        lname = name.lower()
        if lname not in _CACHED_HEADERS or len(value) > 512:
            return super().header_fetch_parse(name, value)
        key = (lname, value)
        header = self._memo.get(key)
        if header is None:
            header = super().header_fetch_parse(name, value)
            if len(self._memo) >= _CACHE_LIMIT:
                self._memo.clear()
            self._memo[key] = header
        return header


_POLICY = _MemoPolicy()
_PARSER = BytesParser(policy=_POLICY)

# Charset labels that mean "ASCII" but in practice carry UTF-8 or Windows-1252.
_ASCII_LABELS = frozenset({"", "us-ascii", "ascii", "us_ascii", "ansi_x3.4-1968", "646", "iso646-us"})
# Browsers read ISO-8859-1 as Windows-1252 because that is what senders mean.
_LATIN1_LABELS = frozenset({"iso-8859-1", "iso8859-1", "iso_8859-1", "latin-1", "latin1", "l1", "8859-1"})

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*?)\?=")
_LINEBREAK = re.compile(r"\r?\n|\r")
_ANGLE_ID = re.compile(r"<([^<>]*)>")
_WHITESPACE = re.compile(r"\s+")


def parse(raw: bytes, *, truncated: bool = False, keep_attachments: bool = False) -> ParsedMessage:
    """Parse one raw message; raise ParseError only for bytes that are not a message at all.

    ``truncated`` means raw holds only the header block (the message was above
    the size limit): headers are read, the body is left empty.
    ``keep_attachments`` keeps attachment bytes, not just their facts.
    """
    try:
        return _parse(bytes(raw), truncated, keep_attachments)
    except ParseError:
        raise
    except Exception as exc:  # the contract: any bytes, only ParseError out
        raise ParseError(f"unreadable message ({type(exc).__name__}: {exc})") from exc


def _parse(raw: bytes, truncated: bool, keep_attachments: bool) -> ParsedMessage:
    if not raw.strip():
        raise ParseError("empty message: no bytes to read")
    data = raw.lstrip(b"\r\n") if raw[:1] in (b"\r", b"\n") else raw
    msg = _PARSER.parsebytes(data, headersonly=truncated)
    raw_items = list(msg.raw_items())
    if not raw_items:
        raise ParseError("no header block: the data does not start with mail headers")

    defects: list[str] = []
    headers: list[tuple[str, str]] = []
    first_raw: dict[str, str] = {}  # first value of each header, unfolded, undecoded
    address_raw: dict[str, list[str]] = {"to": [], "cc": []}  # To and Cc may repeat
    subject: str | None = None
    for name, value in raw_items:
        lname = name.strip().lower()
        if not isinstance(value, str):  # a header object set by someone else
            value = str(value)
        if "\n" in value or "\r" in value:
            value = _LINEBREAK.sub("", value)
        if not value.isascii():
            value = _fix_8bit(value, defects, lname)
        first_raw.setdefault(lname, value)
        if lname in address_raw:
            address_raw[lname].append(value)
        decoded = decode_header_value(value, defects, lname) if "=?" in value else value.strip()
        if lname == "subject" and subject is None:
            subject = decoded
        headers.append((lname, decoded))

    from_list = _addresses(first_raw.get("from"), defects)
    from_address, from_name = from_list[0] if from_list else (None, "")
    if "from" not in first_raw:
        defects.append("no From header")
    reply_list = _addresses(first_raw.get("reply-to"), defects)

    attachments: tuple[Attachment, ...]
    if truncated:
        body_text, attachments = "", ()
        body_bytes = b""
    else:
        texts: list[str] = []
        found: list[Attachment] = []
        _collect(msg, texts, found, defects, keep_attachments, True, 0)
        body_text = "\n\n".join(t for t in texts if t)
        attachments = tuple(found)
        body_bytes = _body_bytes(data)

    for defect in msg.defects:
        defects.append(_defect_text(defect))

    return ParsedMessage(
        message_id=_first_id(first_raw.get("message-id")),
        in_reply_to=_first_id(first_raw.get("in-reply-to")),
        references=_all_ids(first_raw.get("references")),
        from_address=from_address,
        from_name=from_name,
        reply_to=reply_list[0][0] if reply_list else None,
        to=_all_addresses(address_raw["to"], defects),
        cc=_all_addresses(address_raw["cc"], defects),
        subject=subject or "",
        date=_date(first_raw.get("date"), defects),
        return_path=_return_path(first_raw.get("return-path")),
        content_type=msg.get_content_type(),
        headers=tuple(headers),
        body_text=body_text,
        new_text=split_reply(body_text).new if body_text else "",
        attachments=attachments,
        defects=tuple(dict.fromkeys(defects)),
        size=len(raw),
        truncated=truncated,
        content_hash=_content_hash(first_raw, body_bytes),
    )


# --- headers -----------------------------------------------------------------


def decode_header_value(value: str, defects: list[str] | None = None, where: str = "header") -> str:
    """Decode RFC 2047 encoded words in a header value; broken words stay as they were."""
    out: list[str] = []
    pending = bytearray()
    pending_charset: str | None = None
    pos = 0
    last_was_word = False

    def flush() -> None:
        nonlocal pending_charset
        if pending_charset is not None:
            out.append(_decode_bytes(bytes(pending), pending_charset, defects, f"{where} encoded word"))
            pending.clear()
            pending_charset = None

    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        pos = match.end()
        charset, encoding, text = match.groups()
        charset = charset.split("*", 1)[0].lower()  # drop an RFC 2231 language tag
        try:
            octets = _decode_word(encoding, text)
        except (binascii.Error, ValueError):
            flush()
            out.append(between)
            out.append(match.group(0))
            if defects is not None:
                defects.append(f"{where}: undecodable encoded word {match.group(0)[:60]!r}")
            last_was_word = False
            continue
        # RFC 2047: whitespace between two encoded words is not part of the text.
        if between and not (last_was_word and between.isspace()):
            flush()
            out.append(between)
        if pending_charset is not None and charset != pending_charset:
            flush()
        # Adjacent words of one charset are joined before decoding, since
        # senders split multi-byte characters across words.
        pending_charset = charset
        pending.extend(octets)
        last_was_word = True
    flush()
    out.append(value[pos:])
    return "".join(out).strip()


def _decode_word(encoding: str, text: str) -> bytes:
    """The octets of one encoded word's text."""
    data = text.encode("ascii", "replace")
    if encoding in "qQ":
        return binascii.a2b_qp(data, header=True)
    data = data.strip()
    return binascii.a2b_base64(data + b"=" * (-len(data) % 4))


def _fix_8bit(value: str, defects: list[str], where: str) -> str:
    """Decode raw 8-bit header bytes (surrogate-escaped by the parser) as UTF-8 or cp1252."""
    data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        defects.append(f"{where}: raw 8-bit header that is not UTF-8, read as cp1252")
        return data.decode("cp1252", "replace")


# "Name <addr>", "\"Name\" <addr>" or a bare addr: most headers, parsed without
# getaddresses (a pure-Python tokenizer and the slowest step of a parse).
_ATOM_ADDR = r"[^<>\s@,;:\"()\[\]\\]+@[^<>\s@,;:\"()\[\]\\]+"
_SIMPLE_ADDRESS = re.compile(
    rf'\s*(?:(?:"([^"\\]*)"|([^",<>@;:\\()\[\]]*?))\s*<({_ATOM_ADDR})>|({_ATOM_ADDR}))\s*'
)


def _parse_address_list(value: str) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """(addr-spec, display name) pairs of an address header, and defects."""
    defects: list[str] = []
    simple = _SIMPLE_ADDRESS.fullmatch(value)
    if simple is not None:
        quoted, plain, bracketed, bare = simple.groups()
        name = " ".join((quoted if quoted is not None else plain or "").split())
        pairs = [(name, bracketed or bare)]
    else:
        pairs = getaddresses([value])
    if not any("@" in addr for _name, addr in pairs) and "=?" in value:
        # The whole address was encoded, against RFC 2047; decode, then parse.
        pairs = getaddresses([decode_header_value(value, defects, "address")])
    result = []
    for name, addr in pairs:
        addr = addr.strip().lower()
        if not addr:
            continue
        if "=?" in name:
            name = decode_header_value(name, defects, "address")
        result.append((addr, name.strip()))
    return tuple(result), tuple(defects)


_parse_address_list_cached = lru_cache(maxsize=4096)(_parse_address_list)


def _addresses(value: str | None, defects: list[str]) -> tuple[tuple[str, str], ...]:
    """(address, name) pairs of one header value."""
    if not value:
        return ()
    # Short values repeat (our own address in To); long ones would only bloat the cache.
    pairs, found = _parse_address_list_cached(value) if len(value) < 512 else _parse_address_list(value)
    defects.extend(found)
    return pairs


def _all_addresses(values: list[str], defects: list[str]) -> tuple[str, ...]:
    """Every address in the given header values, once each, in order."""
    if len(values) == 1:
        return tuple(dict.fromkeys(addr for addr, _name in _addresses(values[0], defects)))
    found = [addr for value in values for addr, _name in _addresses(value, defects)]
    return tuple(dict.fromkeys(found))


def _first_id(value: str | None) -> str | None:
    """The first message id in a header, without angle brackets."""
    if not value:
        return None
    match = _ANGLE_ID.search(value)
    found = match.group(1).strip() if match else (value.split() or [""])[0]
    return found or None


def _all_ids(value: str | None) -> tuple[str, ...]:
    """Every message id in a References header, in order, without angle brackets."""
    if not value:
        return ()
    ids = [m.strip() for m in _ANGLE_ID.findall(value)] or value.split()
    return tuple(dict.fromkeys(i for i in ids if i))


def _date(value: str | None, defects: list[str]) -> datetime | None:
    """The Date header as an aware UTC datetime, or None."""
    if value is None:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
        if when.tzinfo is None:  # "-0000": the zone is unknown, the time is UTC
            when = when.replace(tzinfo=timezone.utc)
        return when.astimezone(timezone.utc)
    except (TypeError, ValueError, OverflowError, IndexError):
        defects.append(f"unreadable Date header {value[:60]!r}")
        return None


def _return_path(value: str | None) -> str | None:
    """The envelope sender: None without the header, "" for the null sender <>."""
    if value is None:
        return None
    path = value.strip()
    if path.startswith("<"):
        path = path[1:].split(">", 1)[0]
    return path.strip().lower()


def _body_bytes(data: bytes) -> bytes:
    """The raw bytes after the header block ("" if there is none)."""
    crlf = data.find(b"\n\r\n")
    # Searching only up to the CRLF blank line keeps this cheap for CRLF mail.
    lf = data.find(b"\n\n", 0, crlf if crlf != -1 else len(data))
    if lf != -1:
        return data[lf + 2 :]
    return data[crlf + 3 :] if crlf != -1 else b""


def _content_hash(first_raw: dict[str, str], body: bytes) -> str:
    """A hash that is equal for one message fetched through different routes.

    Trace headers (Received, Delivered-To, Return-Path, DKIM, ARC...) are left
    out because each hop adds its own; line endings are normalised because a
    Maildir stores LF where IMAP sends CRLF.
    """
    digest = hashlib.sha256()
    for name in ("message-id", "from", "date", "subject"):
        digest.update(" ".join(first_raw.get(name, "").split()).encode("utf-8", "surrogateescape"))
        digest.update(b"\x00")
    digest.update(body.replace(b"\r\n", b"\n").rstrip(b"\n"))
    return digest.hexdigest()


# --- body --------------------------------------------------------------------


def _collect(
    part: Message,
    texts: list[str],
    attachments: list[Attachment],
    defects: list[str],
    keep: bool,
    want_text: bool,
    depth: int,
) -> None:
    """Gather readable text and attachment facts from part and its children."""
    if depth > _MAX_DEPTH:
        defects.append(f"MIME nesting deeper than {_MAX_DEPTH} levels; the rest is ignored")
        return
    if depth and part.defects:
        defects.extend(_defect_text(d) for d in part.defects)
    ctype = part.get_content_type()
    if part.is_multipart():
        if ctype.startswith("message/"):
            _record(part, ctype, attachments, defects, keep)
            return
        children = [c for c in part.get_payload() if isinstance(c, Message)]
        if ctype == "multipart/alternative" and want_text:
            best = _best_alternative(children)
            for child in children:
                _collect(child, texts, attachments, defects, keep, child is best, depth + 1)
        else:
            for child in children:
                _collect(child, texts, attachments, defects, keep, want_text, depth + 1)
        return

    disposition_header = part.get("content-disposition")
    disposition = str(disposition_header).split(";", 1)[0].strip().lower() if disposition_header else ""
    filename = _filename(part, defects)
    if ctype.startswith("multipart/"):
        # A multipart without a usable boundary: its body is all we have.
        if want_text:
            texts.append(_text_of(part, ctype, defects))
        return
    if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
        if want_text:
            text = _text_of(part, ctype, defects)
            texts.append(html_to_text(text, defects) if ctype == "text/html" else text)
        return
    _record(part, ctype, attachments, defects, keep, filename)


def _best_alternative(children: list[Message]) -> Message | None:
    """The alternative to read: plain text first, then a nested multipart, then HTML."""
    by_rank: dict[int, Message] = {}
    for child in children:
        ctype = child.get_content_type()
        rank = 0 if ctype == "text/plain" else 1 if ctype.startswith("multipart/") else 2 if ctype == "text/html" else 3
        by_rank.setdefault(rank, child)
    return by_rank[min(by_rank)] if by_rank else None


def _params(part: Message, header: str) -> Mapping[str, str]:
    """The parameters of a MIME header, from the (memoised) policy.default header object."""
    value = part.get(header)
    params = getattr(value, "params", None)
    return params if params is not None else {}


def _text_of(part: Message, ctype: str, defects: list[str]) -> str:
    """The decoded text of a leaf part, with LF line endings."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes) or not payload:
        return ""
    text = _decode_bytes(payload, _params(part, "content-type").get("charset"), defects, ctype)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.strip("\n")


def _filename(part: Message, defects: list[str]) -> str:
    """The attachment's file name, RFC 2047 and 2231 decoded; "" when it has none."""
    name = _params(part, "content-disposition").get("filename") or _params(part, "content-type").get("name")
    if not name:
        return ""
    name = str(name)
    if "=?" in name:
        name = decode_header_value(name, defects, "filename")
    if not name.isascii():
        name = _fix_8bit(name, defects, "filename")
    return name.strip()


def _record(
    part: Message, ctype: str, attachments: list[Attachment], defects: list[str], keep: bool, filename: str | None = None
) -> None:
    """Add the facts (and, if kept, the bytes) of a non-text part."""
    if filename is None:
        filename = _filename(part, defects)
    if part.is_multipart():
        # message/rfc822 and delivery-status parts hold parsed messages: re-serialise them.
        try:
            content = b"\n".join(
                sub.as_bytes(policy=compat32) for sub in part.get_payload() if isinstance(sub, Message)
            )
        except (MessageError, ValueError, TypeError, LookupError, UnicodeError) as exc:
            defects.append(f"{ctype} part could not be serialised: {exc}")
            content = b""
    else:
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
    attachments.append(
        Attachment(
            filename=filename,
            content_type=ctype,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            content=content if keep else None,
            embedded=part.get("content-id") is not None,
        )
    )


def _defect_text(defect: Exception) -> str:
    """A defect as one readable line: its class name and what the stdlib said."""
    detail = str(defect)
    return f"{type(defect).__name__}: {detail}" if detail else type(defect).__name__


# --- charsets ----------------------------------------------------------------


@lru_cache(maxsize=256)
def _codec(label: str) -> str | None:
    """The Python codec for a MIME charset label, or None if it is unknown or not text."""
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError, TypeError):
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


def _decode_bytes(data: bytes, charset: str | None, defects: list[str] | None, where: str) -> str:
    """Decode text in its declared charset, falling back to UTF-8, then cp1252, never raising."""
    label = (charset or "").strip().strip("\"'").lower()
    if label in _ASCII_LABELS:
        chain: tuple[str, ...] = ("utf-8", "cp1252")
    elif label in _LATIN1_LABELS:
        chain = ("cp1252",)
    else:
        codec = _codec(label)
        if codec is None:
            if defects is not None:
                defects.append(f"{where}: unknown charset {label[:40]!r}, read as UTF-8 or cp1252")
            chain = ("utf-8", "cp1252")
        else:
            chain = (codec, "utf-8", "cp1252") if codec != "utf-8" else ("utf-8", "cp1252")
    for codec_name in chain:
        try:
            text = data.decode(codec_name)
        except (UnicodeError, LookupError):
            continue
        if codec_name != chain[0] and defects is not None:
            defects.append(f"{where}: not valid {chain[0]}, read as {codec_name}")
        return text
    if defects is not None:
        defects.append(f"{where}: not valid in any likely charset, undecodable bytes replaced")
    return data.decode("cp1252", "replace")


# --- HTML --------------------------------------------------------------------

_SKIP_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript", "svg"})
_PARAGRAPH_TAGS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "table", "pre", "blockquote", "address", "figure"}
)
_LINE_TAGS = frozenset(
    {
        "br", "div", "li", "tr", "hr", "dt", "dd", "section", "article", "header", "footer",
        "nav", "aside", "main", "form", "fieldset", "center", "caption", "tbody", "thead", "tfoot",
    }
)
_CELL_TAGS = frozenset({"td", "th"})


class _TextExtractor(HTMLParser):
    """Collects the readable text of an HTML document, quoting blockquotes with "> "."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._buffer: list[str] = []
        self._skip = 0
        self._quote = 0
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Open an element: skip invisible ones, break lines at blocks."""
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "br":
            self._flush(keep_empty=True)
        elif tag in _PARAGRAPH_TAGS:
            self._paragraph()
            if tag == "blockquote":
                self._quote += 1
            elif tag == "pre":
                self._pre += 1
        elif tag in _LINE_TAGS:
            self._flush()
            if tag == "li":
                self._buffer.append("- ")
        elif tag in _CELL_TAGS and self._buffer:
            self._buffer.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """A self-closing tag (<br/>) opens nothing, so it must not be closed."""
        if tag not in _SKIP_TAGS:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        """Close an element."""
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _PARAGRAPH_TAGS:
            self._paragraph()
            if tag == "blockquote":
                self._quote = max(0, self._quote - 1)
                self._paragraph()
            elif tag == "pre":
                self._pre = max(0, self._pre - 1)
        elif tag in _LINE_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        """Text: kept as it is inside <pre>, otherwise with whitespace collapsed."""
        if self._skip:
            return
        if self._pre:
            pieces = data.split("\n")
            for piece in pieces[:-1]:
                self._buffer.append(piece)
                self._flush(keep_empty=True, raw=True)
            self._buffer.append(pieces[-1])
        else:
            self._buffer.append(_WHITESPACE.sub(" ", data))

    def close(self) -> None:
        """Finish parsing and flush the last line."""
        super().close()
        self._flush()

    def _flush(self, keep_empty: bool = False, raw: bool = False) -> None:
        text = "".join(self._buffer)
        self._buffer.clear()
        if not raw:
            text = _WHITESPACE.sub(" ", text).strip()
        if text or keep_empty:
            self.lines.append("> " * self._quote + text if text else ">" * self._quote)

    def _paragraph(self) -> None:
        self._flush()
        if self.lines and self.lines[-1].strip("> "):
            self.lines.append(">" * self._quote)


_TAG = re.compile(r"<[^>]*>")


def html_to_text(html: str, defects: list[str] | None = None) -> str:
    """Readable plain text from HTML: no scripts or styles, blocks on their own lines, entities decoded."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
        lines = extractor.lines
    except (AssertionError, ValueError, IndexError, TypeError) as exc:
        # html.parser has failed on hostile markup in some versions: fall back to stripping tags.
        if defects is not None:
            defects.append(f"HTML could not be parsed ({exc}); tags stripped")
        lines = unescape(_TAG.sub(" ", html)).splitlines()
    out: list[str] = []
    for line in lines:
        line = line.rstrip()
        if not line.strip("> ") and (not out or not out[-1].strip("> ")):
            continue  # at most one blank line in a row
        out.append(line)
    while out and not out[-1].strip("> "):
        out.pop()
    return "\n".join(out)

