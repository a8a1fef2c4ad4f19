"""A private Dovecot IMAP server for tests and benchmarks.

`DovecotServer` writes its own configuration into a temporary directory and
runs ``dovecot -F`` on 127.0.0.1 on a free port: no systemd, no system
config, nothing outside the directory. It needs root (Dovecot drops to the
``dovecot`` and ``dovenull`` users) and the Debian package dovecot-imapd.

Fixtures:

- ``dovecot``: a running server with a fresh user and empty INBOX per test.
- ``dovecot_factory``: call it to get a server lacking some capabilities,
  e.g. ``dovecot_factory(drop_capabilities={"IDLE"})`` for the polling fallback.

Servers are shared by the session (a new user costs nothing, a new server
~0.15 s); each test gets its own user, so its mailbox starts empty. Every
user name logs in with the server's ``password``.

The benchmarks import `DovecotServer` directly (see bench/).
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mailbot.config import MailboxConfig

__all__ = ["DovecotServer", "DovecotUnavailable", "dovecot", "dovecot_factory", "dovecot_pool", "dovecot_skip_reason"]

DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"
HOST = "127.0.0.1"
PR_SET_PDEATHSIG = 1

# What Dovecot 2.3 advertises after login when imap_capability is left empty.
# Dovecot can only add to its list, not remove from it, so a server "without
# IDLE" is given the whole list minus IDLE explicitly.
DEFAULT_CAPABILITIES = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES "
    "THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN "
    "NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES "
    "WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW "
    "STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE"
).split()


class DovecotUnavailable(RuntimeError):
    """Dovecot cannot be run here (not installed, not root, or it would not start)."""


def dovecot_skip_reason() -> str | None:
    """None if a private Dovecot can be started here, else why not."""
    if not Path(DOVECOT).exists():
        return f"{DOVECOT} is absent (apt-get install -y dovecot-imapd)"
    if os.geteuid() != 0:
        return "Dovecot tests need root (Dovecot switches to the dovecot and dovenull users)"
    for user in ("dovecot", "dovenull"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            return f"system user {user!r} is missing (reinstall dovecot-core)"
    return None


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies, however it dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not glibc Linux: a killed test run may leave a server behind


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    """chown -R path to uid:gid."""
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid)


class DovecotServer:
    """One private Dovecot: its directory, its process, and helpers to drive it.

    ``user``/``password`` are the current test user; `new_user` makes another
    one with an empty mailbox (cheaper than a new server).
    """

    def __init__(
        self,
        *,
        drop_capabilities: Collection[str] = (),
        directory: Path | None = None,
    ) -> None:
        why = dovecot_skip_reason()
        if why:
            raise DovecotUnavailable(why)
        # Not pytest's tmp_path: that lives under a 0700 root directory the
        # dovecot user cannot enter.
        self.dir = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="mailbot-dovecot-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.host = HOST
        self.port = _free_port()
        self.drop_capabilities = frozenset(c.upper() for c in drop_capabilities)
        self.mail_dir = self.dir / "mail"
        self.config_file = self.dir / "dovecot.conf"
        self.log_file = self.dir / "dovecot.log"
        self._process: subprocess.Popen[bytes] | None = None
        pw = pwd.getpwnam("dovecot")
        self._uid, self._gid = pw.pw_uid, pw.pw_gid
        self.user = ""
        self.password = uuid.uuid4().hex
        self._write_config()
        self.new_user()

    # -- lifecycle ---------------------------------------------------------

    def _write_config(self) -> None:
        """Write dovecot.conf and create the directories it names."""
        for sub in ("run", "state", "home"):
            (self.dir / sub).mkdir(exist_ok=True)
        self.mail_dir.mkdir(exist_ok=True)
        os.chown(self.mail_dir, self._uid, self._gid)
        os.chown(self.dir / "home", self._uid, self._gid)
        capability = ""
        if self.drop_capabilities:
            kept = [c for c in DEFAULT_CAPABILITIES if c not in self.drop_capabilities]
            capability = "imap_capability = " + " ".join(kept)
        self.config_file.write_text(
            f"""\
# Written by tests/dovecot.py: a throwaway server for one test run.
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.log_file}
info_log_path = {self.log_file}
instance_name = mailbot-test-{self.port}
protocols = imap
listen = {HOST}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 100
mail_uid = dovecot
mail_gid = dovecot
mail_location = maildir:{self.mail_dir}/%u
mail_fsync = never
imap_idle_notify_interval = 2 mins
{capability}
# One password for every user name, so a test can invent a user at will
# (a passwd-file is re-read only when its mtime moves, a second at a time).
passdb {{
  driver = static
  args = password={self.password}
}}
auth_failure_delay = 0
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={self.dir}/home/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {HOST}
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
  # No growing delay after the wrong-password test.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""
        )

    def start(self) -> DovecotServer:
        """Start the server and wait until it answers (well under a second).

        Call it from the main thread: the server is tied to the starting thread
        and stops when that thread ends (so a killed test run leaves none behind).
        """
        if self._process is not None and self._process.poll() is None:
            return self
        self._process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config_file)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            # Its own process group, so stop() reaches every Dovecot process.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                raise DovecotUnavailable(f"dovecot exited at start: {err.strip()} {self._log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.01)
        self.stop()
        raise DovecotUnavailable(f"dovecot did not answer on {self.host}:{self.port} within 10 s")

    def stop(self) -> None:
        """Stop the server (its mail stays in the directory)."""
        proc, self._process = self._process, None
        if proc is None:
            return
        # The master alone leaves imap processes with open connections behind,
        # so the whole group is signalled: clients see the connection drop.
        self._signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._signal_group(proc, signal.SIGKILL)
        proc.wait()
        if proc.stderr:
            proc.stderr.close()

    @staticmethod
    def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
        """Send sig to every process of the server's group."""
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass  # all gone already

    def restart(self) -> None:
        """Stop and start again on the same port: every connection is cut."""
        self.stop()
        self.start()

    def cleanup(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> DovecotServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- users and mail ----------------------------------------------------

    def new_user(self, name: str | None = None) -> str:
        """Switch to a new user, whose mailbox starts empty; returns the name.

        Every user name logs in with ``password``; Dovecot creates the
        mailbox on first login.
        """
        self.user = name or f"u{uuid.uuid4().hex[:10]}"
        return self.user

    def user_maildir(self, user: str | None = None) -> Path:
        """The Maildir++ root of a user (INBOX is the root itself)."""
        return self.mail_dir / (user or self.user)

    def populate_maildir(self, messages: Iterable[bytes], user: str | None = None) -> int:
        """Write messages straight into a user's INBOX as Maildir files; returns how many.

        Much faster than APPEND for big mailboxes (10,000 messages of 5 KB in a
        few seconds, most of it the file system). Dovecot gives them UIDs in file-name order on first access,
        so call it before the user's first login or when no session is open.
        """
        root = self.user_maildir(user)
        for sub in ("cur", "new", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        base = int(time.time())
        count = 0
        for count, raw in enumerate(messages, start=1):
            # base.Mseq.host: unique and sorting in delivery order.
            name = f"{base}.M{count:08d}P{os.getpid()}.mailbot,S={len(raw)}"
            (root / "new" / name).write_bytes(raw)
        _chown_tree(root, self._uid, self._gid)
        return count

    def mailbox_config(self, **overrides: Any) -> MailboxConfig:
        """A MailboxConfig for the current user over plain IMAP (loopback)."""
        values: dict[str, Any] = dict(
            host=self.host, port=self.port, security="none", username=self.user,
            password=self.password, folder="INBOX", poll_interval=0.2, timeout=10.0,
        )
        values.update(overrides)
        return dataclasses.replace(MailboxConfig(), **values)

    def client(self, user: str | None = None) -> Any:
        """A logged-in IMAPClient for assertions (caller logs out, or use `with`)."""
        from imapclient import IMAPClient

        user = user or self.user
        c = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        c.login(user, self.password)
        return c

    def append(
        self, raw: bytes, folder: str = "INBOX", flags: Iterable[str] = (), user: str | None = None,
    ) -> int:
        """APPEND one message as another client would; returns its UID."""
        with self.client(user) as c:
            if not c.folder_exists(folder):
                c.create_folder(folder)
            response = c.append(folder, raw, flags=tuple(flags))
        # Dovecot answers [APPENDUID uidvalidity uid] (UIDPLUS).
        text = response.decode() if isinstance(response, bytes) else str(response)
        return int(text.split("APPENDUID", 1)[1].split("]", 1)[0].split()[1])

    def doveadm(self, *args: str, ok: Collection[int] = (0,)) -> str:
        """Run doveadm against this server; returns its output."""
        done = subprocess.run(
            [DOVEADM, "-c", str(self.config_file), *args],
            capture_output=True, text=True, timeout=30,
        )
        if done.returncode not in ok:
            raise RuntimeError(f"doveadm {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def kill_connections(self, user: str | None = None) -> None:
        """Cut every IMAP connection of a user (doveadm kick), as a server restart would."""
        user = user or self.user
        # 68 (EX_NOUSER) means there was no connection to cut.
        self.doveadm("kick", user, ok=(0, 68))
        # kick only signals the imap processes; wait until they are gone, so
        # the client's very next command fails (tests rely on that).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if user not in self.doveadm("who", "-1", user, ok=(0, 68)).split():
                return
            time.sleep(0.01)

    def uidvalidity(self, folder: str = "INBOX", user: str | None = None) -> int:
        """The folder's current UIDVALIDITY."""
        out = self.doveadm("-f", "flow", "mailbox", "status", "-u", user or self.user, "uidvalidity", folder)
        return int(out.split("uidvalidity=", 1)[1].split()[0])

    def reset_uidvalidity(self, folder: str = "INBOX", user: str | None = None) -> int:
        """Give the folder a new UIDVALIDITY (messages and UIDs stay); returns it."""
        new = self.uidvalidity(folder, user) + 1000
        self.doveadm("mailbox", "update", "-u", user or self.user, "--uid-validity", str(new), folder)
        return new

    def renumber(self, folder: str = "INBOX", user: str | None = None) -> int:
        """Drop the folder's UID list and indexes, as a server migration does.

        Dovecot then numbers the same messages afresh under a new UIDVALIDITY;
        returns it. Connections are cut first, since they hold the old numbers.
        """
        user = user or self.user
        self.kill_connections(user)
        root = self.user_maildir(user)
        if folder != "INBOX":
            root = root / f".{folder.replace('/', '.')}"
        for name in os.listdir(root):
            if name.startswith("dovecot"):
                path = root / name
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        # Dovecot's fresh UIDVALIDITY is the current time; make sure it moves on.
        time.sleep(1.05)
        return self.uidvalidity(folder, user)


@pytest.fixture(scope="session")
def dovecot_pool() -> Iterator[dict[frozenset[str], DovecotServer]]:
    """Servers shared by the session, one per set of dropped capabilities."""
    why = dovecot_skip_reason()
    if why:
        pytest.skip(f"Dovecot tests skipped: {why}")
    pool: dict[frozenset[str], DovecotServer] = {}
    yield pool
    for server in pool.values():
        server.cleanup()


def _pooled(pool: dict[frozenset[str], DovecotServer], drop: Collection[str]) -> DovecotServer:
    """The pool's server for drop, started, with a fresh current user."""
    key = frozenset(c.upper() for c in drop)
    server = pool.get(key)
    if server is None:
        server = pool[key] = DovecotServer(drop_capabilities=key)
    if server._process is None or server._process.poll() is not None:
        try:
            server.start()
        except DovecotUnavailable as exc:
            pytest.skip(f"Dovecot tests skipped: {exc}")
    server.new_user()
    return server


@pytest.fixture
def dovecot(dovecot_pool: dict[frozenset[str], DovecotServer]) -> DovecotServer:
    """A running Dovecot with a fresh user (empty INBOX) for this test."""
    return _pooled(dovecot_pool, ())


@pytest.fixture
def dovecot_factory(
    dovecot_pool: dict[frozenset[str], DovecotServer],
) -> Callable[..., DovecotServer]:
    """Servers with other capabilities: ``dovecot_factory(drop_capabilities={"IDLE"})``.

    Each call returns a running server (shared within the session) with a
    fresh current user.
    """

    def make(drop_capabilities: Collection[str] = ()) -> DovecotServer:
        """A running server without drop_capabilities, with a fresh current user."""
        return _pooled(dovecot_pool, drop_capabilities)

    return make
