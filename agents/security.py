"""Security over TCP: CURVE keys and the ZAP allow-list (the per-peer rate limit is
:class:`vpp.agents.limits.RateLimiter`).

Key files are ZeroMQ's certificate files (``zmq.auth``): ``NAME.key`` holds the public
key, ``NAME.key_secret`` the public and the secret key. An aggregator admits a site only if
the site's public key file is in its allow-list folder; a refusal is counted and logged
with a short fingerprint of the key, never the key. See ``docs/protocols/distributed.md``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
from collections import Counter
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from vpp.agents.host import SocketSetup
from vpp.agents.limits import RateLimiter  # noqa: F401  (it lived here; moved to limits)

log = logging.getLogger(__name__)

ZAP_DOMAIN = "vpp"

# pyzmq's authenticator logs client keys at DEBUG: it gets a logger of its own that never
# passes anything below WARNING on
_zap_log = logging.getLogger("vpp.zap")
_zap_log.setLevel(logging.WARNING)


class KeyFileError(ValueError):
    """A key file that is missing or is not a ZeroMQ certificate."""


def fingerprint(public_key: bytes) -> str:
    """A short, non-reversible name for a public key (12 hex digits of its SHA-256)."""
    return hashlib.sha256(public_key).hexdigest()[:12]


def new_keys(directory: Path | str, name: str) -> tuple[Path, Path]:
    """Write a new key pair ``NAME.key`` (public) and ``NAME.key_secret`` (secret, mode
    0600) into ``directory``; refuse to overwrite."""
    directory = Path(directory)
    public, secret = directory / f"{name}.key", directory / f"{name}.key_secret"
    if not name or "/" in name:
        raise KeyFileError(f"a key name must be non-empty and without '/': {name!r}")
    for path in (public, secret):
        if path.exists():
            raise KeyFileError(f"{path} exists already; not overwritten")
    directory.mkdir(parents=True, exist_ok=True)
    pub, sec = zmq.auth.create_certificates(directory, name)
    os.chmod(sec, 0o600)
    return Path(pub), Path(sec)


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


def allow(key_file: Path | str, allow_dir: Path | str) -> Path:
    """Copy a public key file into an allow-list folder; return where it went. A file
    holding a secret key is refused: only public keys travel."""
    try:
        public, secret = zmq.auth.load_certificate(key_file)
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"{key_file}: not a readable ZeroMQ key file ({exc})") from None
    if secret is not None:
        raise KeyFileError(f"{key_file} holds a secret key; allow the public .key file")
    allow_dir = Path(allow_dir)
    allow_dir.mkdir(parents=True, exist_ok=True)
    target = allow_dir / Path(key_file).name
    if target.exists() and load_public(target) != public:
        raise KeyFileError(f"{target} holds another key already; not overwritten")
    shutil.copyfile(key_file, target)
    return target


def allowed_keys(allow_dir: Path | str) -> set[bytes]:
    """Every public key in an allow-list folder's ``*.key`` files."""
    return set(allowed_names(allow_dir))


def allowed_names(allow_dir: Path | str) -> dict[bytes, str]:
    """Every public key in an allow-list folder, with the name it is allowed under: its
    file's name without ``.key`` (``north.key`` admits the host ``north``)."""
    allow_dir = Path(allow_dir)
    if not allow_dir.is_dir():
        raise KeyFileError(f"{allow_dir}: no such allow-list folder")
    names: dict[bytes, str] = {}
    for path in sorted(allow_dir.glob("*.key")):
        key = load_public(path)
        if key in names:
            raise KeyFileError(f"{path} holds the key of {names[key]}.key: a key admits one "
                               "host name")
        names[key] = path.stem
    return names


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

    def __init__(self, context: zmq.Context, names: dict[bytes, str]) -> None:
        super().__init__(context, log=_zap_log)
        self.names = names

    def curve_user_id(self, client_public_key: bytes) -> str:
        """The name the key is allowed under (ZeroMQ hands it to every message)."""
        key = client_public_key
        z85 = zmq.utils.z85.encode(key) if len(key) == 32 else key
        return self.names.get(z85, "")


class AllowList:
    """The ZAP handler of one ZeroMQ context: admits the allow-listed CURVE clients only.

    Every message that comes over an admitted connection carries, as its ZeroMQ
    ``User-Id`` property, the name the key is allowed under; a host made with
    ``bind_identities=True`` delivers it only when that name is the sending host's name
    (see :meth:`vpp.agents.host.Host.drain`).

    Args:
        context: the context whose sockets it guards (start it before binding).
        keys: the admitted public keys, each with the host name it admits
            (:func:`allowed_names`), or a set of keys (then the names are their
            fingerprints, which no host is named after).
    """

    def __init__(self, context: zmq.Context, keys: set[bytes] | dict[bytes, str]) -> None:
        named = keys if isinstance(keys, dict) else {k: fingerprint(k) for k in keys}
        self.names = {zmq.utils.z85.encode(k) if len(k) == 32 else k: n
                      for k, n in named.items()}
        self.keys = set(self.names)
        self.refused: Counter[str] = Counter()
        self.admitted = 0
        self._lock = threading.Lock()
        self._auth = _NamingAuthenticator(context, self.names)

    def start(self) -> AllowList:
        """Start answering ZAP requests (in a thread of pyzmq's)."""
        self._auth.start()
        self._auth.configure_curve_callback(domain=ZAP_DOMAIN, credentials_provider=self)
        return self

    def callback(self, domain: str, key: bytes) -> bool:
        """ZAP's question: is this (Z85) client key admitted?"""
        ok = key in self.keys
        with self._lock:
            if ok:
                self.admitted += 1
            else:
                self.refused[fingerprint(key)] += 1
        if not ok:
            log.warning("refused a CURVE client with an unknown key (fingerprint %s)",
                        fingerprint(key))
        return ok

    @property
    def refused_total(self) -> int:
        """Handshakes refused, whatever the key."""
        return sum(self.refused.values())

    def stop(self) -> None:
        """Stop the ZAP thread."""
        self._auth.stop()
