"""The allow-list folder: which CURVE keys an aggregator admits, and which sites each may serve.

One entry per admitted key, two files named after the host the key admits
(``docs/deployment.md``, "Keys, sites and outputs"):

- ``NAME.key``: the site's public ZeroMQ certificate (``vpp keys new NAME`` makes it);
- ``NAME.sites``: the sites of the scenario that host ``NAME`` may serve, UTF-8 text, one
  site name per line (blank lines and ``#`` comments are ignored); a line ``*`` alone
  grants every site of the scenario. A key without a ``.sites`` file is admitted (its
  registration is then refused with a reason) but may serve no site.

:class:`AllowDir` reads the folder and reads it again when it changes (polled: a listing and
a ``stat`` of each file), so that a key added is admitted and a key removed is revoked
while the aggregator runs. Entries are written atomically (a temporary file renamed), so a
reader never sees half a file; a file that does not read keeps its previous entry, with a
warning, until it reads again.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import zmq.auth

log = logging.getLogger(__name__)

ANY_SITE = "*"
"""A ``.sites`` line that grants every site of the scenario."""

MAX_SITES_FILE_BYTES = 1 << 20
"""A larger ``.sites`` file is not read (1 MiB: about 50,000 site names)."""


class KeyFileError(ValueError):
    """A key file that is missing or is not a ZeroMQ certificate, or a bad allow-list entry."""


@dataclass(frozen=True)
class AllowEntry:
    """One admitted key: the host name it admits, its public key (Z85) and its sites.

    Attributes:
        name: the host name (the files' name: ``north`` for ``north.key``).
        key: the public key, Z85-encoded (40 bytes), as ZAP hands it over.
        sites: the sites it may serve; None for every site (``*``); empty for none.
    """

    name: str
    key: bytes
    sites: frozenset[str] | None

    def refusal(self, sites: list[str]) -> str | None:
        """Why this key may not serve ``sites`` (None when it may)."""
        if self.sites is None:
            return None
        if not self.sites:
            return (f"the allow-list names no sites for the key of host {self.name!r} "
                    f"(vpp keys allow {self.name}.key --sites ...)")
        others = [s for s in sites if s not in self.sites]
        if others:
            return (f"the key of host {self.name!r} may serve {sorted(self.sites)}, not "
                    f"{others}")
        return None


def _public_z85(path: Path) -> bytes:
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"{path}: not a readable ZeroMQ key file ({exc})") from None
    if secret is not None:
        raise KeyFileError(f"{path} holds a secret key; only public .key files belong in an "
                           "allow-list")
    if len(public) != 40:
        raise KeyFileError(f"{path}: a public key is 40 Z85 characters, got {len(public)}")
    return public


def parse_sites(text: str, where: str) -> frozenset[str] | None:
    """The sites of a ``.sites`` file's text: None for ``*``, else the names listed."""
    names = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if any(c in line for c in "/\0") or len(line) > 200:
            raise KeyFileError(f"{where}:{n}: not a site name: {line[:40]!r}")
        names.append(line)
    if ANY_SITE in names:
        if len(names) > 1:
            raise KeyFileError(f"{where}: '*' grants every site; list no others beside it")
        return None
    return frozenset(names)


def read_sites(path: Path) -> frozenset[str] | None:
    """The sites a ``.sites`` file grants (empty when there is no such file)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SITES_FILE_BYTES + 1)
    except FileNotFoundError:
        return frozenset()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > MAX_SITES_FILE_BYTES:
        raise KeyFileError(f"{path}: over {MAX_SITES_FILE_BYTES} bytes")
    try:
        return parse_sites(data.decode("utf-8"), str(path))
    except UnicodeDecodeError:
        raise KeyFileError(f"{path}: not UTF-8 text") from None


def read_entry(key_path: Path) -> AllowEntry:
    """The entry of one ``NAME.key`` file and the ``NAME.sites`` beside it."""
    name = key_path.name[: -len(".key")]
    return AllowEntry(name, _public_z85(key_path), read_sites(key_path.with_suffix(".sites")))


def read_allow_dir(allow_dir: Path | str) -> dict[str, AllowEntry]:
    """Every entry of an allow-list folder, by host name. Two files with the same key are
    an error (a key admits one host name)."""
    allow_dir = Path(allow_dir)
    if not allow_dir.is_dir():
        raise KeyFileError(f"{allow_dir}: no such allow-list folder")
    entries: dict[str, AllowEntry] = {}
    by_key: dict[bytes, str] = {}
    for path in sorted(allow_dir.glob("*.key")):
        entry = read_entry(path)
        if entry.key in by_key:
            raise KeyFileError(f"{path} holds the key of {by_key[entry.key]}.key: a key admits "
                               "one host name")
        by_key[entry.key] = entry.name
        entries[entry.name] = entry
    return entries


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_entry(key_file: Path | str, allow_dir: Path | str,
                sites: list[str] | None) -> tuple[Path, Path]:
    """Admit a public key file into an allow-list folder with the sites it may serve
    (None: every site); return the ``.key`` and ``.sites`` written. A file holding a secret
    key is refused (only public keys travel), and so is another key under a name taken."""
    key_file = Path(key_file)
    public = _public_z85(key_file)
    name = key_file.name[: -len(".key")] if key_file.name.endswith(".key") else key_file.stem
    if not name:
        raise KeyFileError(f"{key_file}: a key file is named NAME.key")
    text = f"{ANY_SITE}\n" if sites is None else "".join(f"{s}\n" for s in sites)
    granted = parse_sites(text, "--sites")
    if granted is not None and not granted:
        raise KeyFileError("--sites: name at least one site (or give --any-site)")
    allow_dir = Path(allow_dir)
    allow_dir.mkdir(parents=True, exist_ok=True)
    target = allow_dir / f"{name}.key"
    if target.exists() and _public_z85(target) != public:
        raise KeyFileError(f"{target} holds another key already; not overwritten "
                           f"(vpp keys revoke {name} first)")
    for other in allow_dir.glob("*.key"):
        if other != target and _public_z85(other) == public:
            raise KeyFileError(f"{other} holds this key already: a key admits one host name")
    _write_atomically(target.with_suffix(".sites"), text)
    _write_atomically(target, key_file.read_text(encoding="utf-8"))
    return target, target.with_suffix(".sites")


def remove_entry(name: str, allow_dir: Path | str) -> list[Path]:
    """Revoke host ``name``: remove its ``.key`` and ``.sites``; return what was removed."""
    allow_dir = Path(allow_dir)
    removed = []
    for path in (allow_dir / f"{name}.key", allow_dir / f"{name}.sites"):
        if path.exists():
            path.unlink()
            removed.append(path)
    if not removed:
        raise KeyFileError(f"{allow_dir}: no entry named {name!r}")
    return removed


class AllowDir:
    """An allow-list folder read now and again whenever it changes.

    :meth:`poll` (called from the aggregator's event loop) looks at the folder at most every
    ``poll_s`` and, when a file changed, reads it again; :attr:`entries` is then replaced
    as a whole (a reader in another thread, such as the ZAP handler, sees the old or the
    new table, never half of one).

    Args:
        path: the folder.
        poll_s: the least time between two looks at the folder.
    """

    def __init__(self, path: Path | str, poll_s: float = 0.5) -> None:
        self.path = Path(path)
        self.poll_s = poll_s
        self.entries: dict[str, AllowEntry] = read_allow_dir(self.path)
        self.by_key: dict[bytes, str] = {e.key: n for n, e in self.entries.items()}
        self.reloads = 0
        self._signature = self._look()
        self._next = time.monotonic() + poll_s

    def _look(self) -> tuple:
        try:
            names = sorted(os.listdir(self.path))
        except OSError:
            return ()
        out = []
        for n in names:
            if n.endswith((".key", ".sites")):
                try:
                    st = os.stat(self.path / n)
                except OSError:
                    continue
                out.append((n, st.st_mtime_ns, st.st_size, st.st_ino))
        return tuple(out)

    def poll(self, now: float | None = None, *, at_once: bool = False) -> set[str]:
        """Read the folder again if it changed (``at_once``: whenever it was last looked
        at); return the host names whose grant was revoked or narrowed (their key removed
        or replaced, or sites taken away)."""
        now = time.monotonic() if now is None else now
        if now < self._next and not at_once:
            return set()
        self._next = now + self.poll_s
        signature = self._look()
        if signature == self._signature:
            return set()
        self._signature = signature
        return self._reload()

    def _reload(self) -> set[str]:
        old = self.entries
        new: dict[str, AllowEntry] = {}
        if self.path.is_dir():
            for path in sorted(self.path.glob("*.key")):
                name = path.name[: -len(".key")]
                try:
                    new[name] = read_entry(path)
                except KeyFileError as exc:
                    if name in old:
                        log.warning("allow-list: %s; the previous entry of %s stays", exc, name)
                        new[name] = old[name]
                    else:
                        log.warning("allow-list: %s; not admitted", exc)
        else:
            log.warning("allow-list folder %s is gone: every key is revoked", self.path)
        by_key: dict[bytes, str] = {}
        for name, entry in list(new.items()):
            if entry.key in by_key:
                log.warning("allow-list: %s.key holds the key of %s.key; neither is admitted",
                            name, by_key[entry.key])
                new.pop(name)
                new.pop(by_key[entry.key], None)
            else:
                by_key[entry.key] = name
        by_key = {e.key: n for n, e in new.items()}
        self.entries, self.by_key = new, by_key
        self.reloads += 1
        narrowed = set()
        for name, before in old.items():
            after = new.get(name)
            if after is None or after.key != before.key:
                narrowed.add(name)
            elif after.sites is not None and (before.sites is None
                                               or not before.sites <= after.sites):
                narrowed.add(name)
        added = sorted(set(new) - set(old))
        log.info("allow-list %s read again: %d keys (added %s, revoked or narrowed %s)",
                 self.path, len(new), added, sorted(narrowed))
        return narrowed

    def admits(self, name: str) -> bool:
        """True while a key is admitted under host ``name``."""
        return name in self.entries

    def refusal(self, host: str, sites: list[str]) -> str | None:
        """Why host ``host`` may not serve ``sites`` (None when it may)."""
        entry = self.entries.get(host)
        if entry is None:
            return f"no key is admitted under host name {host!r} (revoked?)"
        return entry.refusal(sites)
