"""Security over TCP: CURVE keys and the ZAP allow-list (the per-peer rate limit is
:class:`vpp.agents.runtime.limits.RateLimiter`).

Key files are ZeroMQ's certificate files (``zmq.auth``): ``NAME.key`` holds the public
key, ``NAME.key_secret`` the public and the secret key. An aggregator admits a site only if
the site's public key file is in its allow-list folder (:mod:`vpp.agents.runtime.allow_list`: the
folder also says which sites each key may serve, and is read again while it runs); a
refusal is counted and logged with a short fingerprint of the key, never the key. See
``docs/protocols/distributed.md`` and ``docs/deployment.md``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import Counter
from pathlib import Path

import zmq
import zmq.auth
from vpp.agents.runtime.allow_list import (
    AllowDir,
    KeyFileError,
    read_allow_dir,
    write_entry,
)
from vpp.agents.runtime.host import SocketSetup
from vpp.agents.runtime.limits import RateLimiter  # noqa: F401  (it lived here; moved to limits)
from zmq.auth.thread import ThreadAuthenticator

__all__ = ["KeyFileError"]  # re-exported: callers catch it from here

log = logging.getLogger(__name__)

ZAP_DOMAIN = "vpp"

# pyzmq's authenticator logs client keys at DEBUG: it gets a logger of its own that never
# passes anything below WARNING on
_zap_log = logging.getLogger("vpp.zap")
_zap_log.setLevel(logging.WARNING)


def fingerprint(public_key: bytes) -> str:
    """A short, non-reversible name for a public key (12 hex digits of its SHA-256)."""
    return hashlib.sha256(public_key).hexdigest()[:12]


GITIGNORE = "# secret CURVE keys: never commit them\n*.key_secret\n"
"""What ``vpp keys new`` writes to ``.gitignore`` in a key folder it writes a secret into."""


def _write_new(path: Path, text: str, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start (no moment with wider permissions);
    refuse an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # whatever the umask took away, exactly this mode
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _certificate(public: bytes, secret: bytes | None) -> str:
    kind = "Secret" if secret is not None else "Public"
    lines = [f"#   ZeroMQ CURVE **{kind}** Certificate (written by vpp keys new)",
             "#   " + ("keep it on this machine: mode 0600" if secret is not None
                      else "give it to the aggregator's operator"),
             "", "metadata", "curve", f'    public-key = "{public.decode()}"']
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode()}"')
    return "\n".join(lines) + "\n"


def new_keys(directory: Path | str, name: str) -> tuple[Path, Path]:
    """Write a new key pair ``NAME.key`` (public, mode 0644) and ``NAME.key_secret``
    (secret, created with mode 0600) into ``directory``; refuse to overwrite.

    A folder it creates gets mode 0700; a ``.gitignore`` that ignores ``*.key_secret`` is
    written beside the keys unless one is there already. An existing folder that others may
    enter is used as it is, with a warning (its mode is the owner's choice)."""
    directory = Path(directory)
    if not name or "/" in name or name.startswith("."):
        raise KeyFileError(f"a key name must be non-empty, without '/' or a leading '.': "
                           f"{name!r}")
    public, secret = directory / f"{name}.key", directory / f"{name}.key_secret"
    for path in (public, secret):
        if path.exists():
            raise KeyFileError(f"{path} exists already; not overwritten")
    try:
        if not directory.exists():
            directory.mkdir(parents=True, mode=0o700)
            os.chmod(directory, 0o700)
        elif directory.stat().st_mode & 0o077:
            log.warning("%s can be read by others (mode %o); the secret key is written "
                        "with mode 0600", directory, directory.stat().st_mode & 0o777)
        pub, sec = zmq.curve_keypair()
        _write_new(secret, _certificate(pub, sec), 0o600)
        _write_new(public, _certificate(pub, None), 0o644)
        ignore = directory / ".gitignore"
        if not ignore.exists():
            _write_new(ignore, GITIGNORE, 0o644)
    except OSError as exc:
        raise KeyFileError(f"{directory}: cannot write keys ({exc.strerror})") from None
    return public, secret


def load_public(path: Path | str) -> bytes:
    """The public key in a ``.key`` (or ``.key_secret``) file."""
    try:
        public, _ = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"{path}: not a readable ZeroMQ key file ({exc})") from None
    return public


def load_secret(path: Path | str) -> tuple[bytes, bytes]:
    """The (public, secret) key pair in a ``.key_secret`` file."""
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"{path}: not a readable ZeroMQ key file ({exc})") from None
    if secret is None:
        raise KeyFileError(f"{path}: holds no secret key (give the .key_secret file)")
    return public, secret


def allow(key_file: Path | str, allow_dir: Path | str,
          sites: list[str] | None = None) -> Path:
    """Admit a public key file into an allow-list folder, with the sites it may serve
    (None: every site); return the ``.key`` written (see :mod:`vpp.agents.runtime.allow_list`)."""
    return write_entry(key_file, allow_dir, sites)[0]


def allowed_keys(allow_dir: Path | str) -> set[bytes]:
    """Every public key in an allow-list folder's ``*.key`` files."""
    return set(allowed_names(allow_dir))


def allowed_names(allow_dir: Path | str) -> dict[bytes, str]:
    """Every public key in an allow-list folder, with the name it is allowed under: its
    file's name without ``.key`` (``north.key`` admits the host ``north``)."""
    return {e.key: n for n, e in read_allow_dir(allow_dir).items()}


def key_name(key_file: Path | str) -> str:
    """The name a key file stands for: ``north`` for ``north.key`` or ``north.key_secret``."""
    name = Path(key_file).name
    for suffix in (".key_secret", ".key"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def server_setup(public: bytes, secret: bytes) -> SocketSetup:
    """Socket options of a CURVE server (the aggregator's listening ROUTER)."""

    def setup(sock: zmq.Socket) -> None:
        sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN.encode())
        sock.curve_publickey = public
        sock.curve_secretkey = secret
        sock.curve_server = True

    return setup


def client_setup(public: bytes, secret: bytes, server_public: bytes) -> SocketSetup:
    """Socket options of a CURVE client (a site's DEALER to the aggregator)."""

    def setup(sock: zmq.Socket) -> None:
        sock.curve_publickey = public
        sock.curve_secretkey = secret
        sock.curve_serverkey = server_public

    return setup


class _NamingAuthenticator(ThreadAuthenticator):
    """pyzmq's ZAP thread, with the admitted key's allow-list name as the connection's
    ``User-Id`` (pyzmq's documented hook; its default is the key itself)."""

    def __init__(self, context: zmq.Context, allow_list: AllowList) -> None:
        super().__init__(context, log=_zap_log)
        self.allow_list = allow_list

    def curve_user_id(self, client_public_key: bytes) -> str:
        """The name the key is allowed under (ZeroMQ hands it to every message)."""
        key = client_public_key
        z85 = zmq.utils.z85.encode(key) if len(key) == 32 else key
        return self.allow_list.names.get(z85, "")


class AllowList:
    """The ZAP handler of one ZeroMQ context: admits the allow-listed CURVE clients only.

    Every message that comes over an admitted connection carries, as its ZeroMQ
    ``User-Id`` property, the name the key is allowed under; a host made with
    ``bind_identities=True`` delivers it only when that name is the sending host's name
    and (with :attr:`admits` as its ``key_gate``) while that key is still admitted.

    Args:
        context: the context whose sockets it guards (start it before binding).
        keys: an allow-list folder (:class:`vpp.agents.runtime.allow_list.AllowDir`: read again
            when it changes, see :meth:`poll`), the admitted public keys each with the
            host name it admits (:func:`allowed_names`), or a set of keys (then the names
            are their fingerprints, which no host is named after). Only a folder carries
            the sites each key may serve; the others grant every site.
    """

    def __init__(self, context: zmq.Context,
                 keys: AllowDir | set[bytes] | dict[bytes, str]) -> None:
        self.folder = keys if isinstance(keys, AllowDir) else None
        if self.folder is None:
            named = keys if isinstance(keys, dict) else {k: fingerprint(k) for k in keys}
            self._set_names({zmq.utils.z85.encode(k) if len(k) == 32 else k: n
                             for k, n in named.items()})
        else:
            self._set_names(dict(self.folder.by_key))
        self.refused: Counter[str] = Counter()
        self.admitted = 0
        self._lock = threading.Lock()
        self._narrowed: set[str] = set()
        self._auth = _NamingAuthenticator(context, self)

    @property
    def keys(self) -> set[bytes]:
        """The admitted public keys (Z85)."""
        return set(self.names)

    def start(self) -> AllowList:
        """Start answering ZAP requests (in a thread of pyzmq's)."""
        self._auth.start()
        self._auth.configure_curve_callback(domain=ZAP_DOMAIN, credentials_provider=self)
        return self

    def callback(self, domain: str, key: bytes) -> bool:
        """ZAP's question: is this (Z85) client key admitted? An unknown key makes the
        folder be looked at again first, so that a key allowed a moment ago is admitted."""
        ok = key in self.names
        if not ok and self.folder is not None:
            self._reread(at_once=True)
            ok = key in self.names
        with self._lock:
            if ok:
                self.admitted += 1
            else:
                self.refused[fingerprint(key)] += 1
        if not ok:
            log.warning("refused a CURVE client with an unknown key (fingerprint %s)",
                        fingerprint(key))
        return ok

    def poll(self, now: float | None = None) -> set[str]:
        """Read the allow-list folder again if it changed (at most every ``poll_s``):
        new keys are admitted from the next handshake on; return the host names whose key
        was revoked or whose sites were narrowed (the caller drops their sessions)."""
        if self.folder is None:
            return set()
        self._reread(now)
        with self._lock:
            changed, self._narrowed = self._narrowed, set()
        return changed

    def _reread(self, now: float | None = None, *, at_once: bool = False) -> None:
        # from the event loop's thread (poll) or the ZAP thread (callback), one at a time
        with self._lock:
            self._narrowed |= self.folder.poll(now, at_once=at_once)
            if self.folder.by_key != self.names:
                self._set_names(dict(self.folder.by_key))

    def _set_names(self, names: dict[bytes, str]) -> None:
        # reference swaps: a reader in another thread sees the old table or the new one
        self.names = names
        self._hosts = frozenset(names.values())

    def admits(self, name: str) -> bool:
        """True while a key is admitted under host ``name`` (a host's ``key_gate``)."""
        return name in self._hosts

    def refusal(self, host: str, sites: list[str]) -> str | None:
        """Why host ``host`` may not serve ``sites`` (None when it may)."""
        if self.folder is not None:
            return self.folder.refusal(host, sites)
        if not self.admits(host):
            return f"no key is admitted under host name {host!r}"
        return None

    @property
    def refused_total(self) -> int:
        """Handshakes refused, whatever the key."""
        return sum(self.refused.values())

    def stop(self) -> None:
        """Stop the ZAP thread."""
        self._auth.stop()
