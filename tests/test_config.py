"""The config loader: every problem names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.config import load_config
from mailbot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

MINIMAL = """
[mailbox]
username = "andrei@ak3dstudio.com"
[bot]
address = "andrei@ak3dstudio.com"
[owner]
email = "andrei@ak3dstudio.com"
[business]
name = "AK3D Studio"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailbot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_loads_with_the_documented_keys() -> None:
    config = load_config(ROOT / "config.example.toml")
    assert config.mailbox.host == "mail.ak3dstudio.com"
    assert config.mailbox.security == "ssl"
    assert config.mailbox.folder == "INBOX"
    assert config.bot.address == "andrei@ak3dstudio.com"
    assert config.owner.email == "andrei@ak3dstudio.com"
    assert config.business.name == "AK3D Studio"
    assert config.business.nation == "england-and-wales"
    assert config.business.timezone == "Europe/London"
    assert config.intake.max_message_size == 25 * 1024 * 1024


def test_defaults_and_database_next_to_the_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.mailbox.port == 993 and config.mailbox.processed == "keyword"
    assert config.database_url == f"sqlite:///{tmp_path.resolve() / 'mailbot.sqlite3'}"


def test_passwords_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILBOT_IMAP_PASSWORD", "imap-secret")
    monkeypatch.setenv("MAILBOT_SMTP_PASSWORD", "smtp-secret")
    config = load_config(write(tmp_path, MINIMAL))
    assert config.mailbox.password == "imap-secret"
    assert config.smtp.password == "smtp-secret"
    assert "imap-secret" not in repr(config)


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        (MINIMAL.replace('name = "AK3D Studio"', ""), "business.name", "required"),
        (MINIMAL.replace("[owner]\nemail", "[owner]\nmail"), "owner.mail", "unknown key"),
        (MINIMAL + '\n[smtp]\nsecurity = "tls"\n', "smtp.security", '"ssl", "starttls", "none"'),
        (MINIMAL.replace('[mailbox]', '[mailbox]\nport = "993"'), "mailbox.port", "whole number"),
        (MINIMAL + '\n[business2]\n', "business2", "unknown section"),
        (MINIMAL.replace('name = "AK3D Studio"', 'name = "x"\nnation = "wales"'), "business.nation", "one of"),
        (MINIMAL.replace('name = "AK3D Studio"', 'name = "x"\ntimezone = "Mars/Base"'),
         "business.timezone", "unknown time zone"),
        (MINIMAL.replace('[mailbox]', '[mailbox]\nhost = "imap.example.com"\nsecurity = "none"'),
         "mailbox.security", "localhost"),
        (MINIMAL.replace('email = "andrei@ak3dstudio.com"', 'email = "andrei"'), "owner.email", "email address"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path: Path, text: str, key: str, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert key in message
    assert words in message


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[mailbox\n"))


def test_the_demo_carries_the_example_privacy_notice(tmp_path: Path) -> None:
    """The embedded demo can draft an access answer: its [privacy] is the example config's."""
    from mailbot.config import demo_config

    example = load_config(Path(__file__).resolve().parent.parent / "config.example.toml")
    demo = demo_config(tmp_path / "maildir", tmp_path / "state")
    assert demo.privacy == example.privacy and demo.privacy.purposes
    assert demo.business.address == example.business.address
    assert demo.database_url == f"sqlite:///{tmp_path / 'state' / 'demo.sqlite3'}"
