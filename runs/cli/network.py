"""Options shared by ``vpp aggregator`` and ``vpp site``: security and timing."""

from __future__ import annotations

import logging
from pathlib import Path

from vpp.runs.cli.common import fail

log = logging.getLogger("vpp.runs.cli")


def needs_security(endpoint: str) -> bool:
    """True for endpoints that leave the machine's own IPC (``tcp://``)."""
    return endpoint.startswith("tcp://")


def check_endpoint(endpoint: str, option: str) -> None:
    """Fail (naming the option) unless ``endpoint`` is ``tcp://``, ``ipc://`` or ``inproc://``."""
    if not endpoint.startswith(("tcp://", "ipc://", "inproc://")):
        fail(f"{option} {endpoint!r}: expected tcp://HOST:PORT or ipc://PATH")


def server_security(context, bind: str, key: Path | None, allow_dir: Path | None,
                    insecure: bool):
    """The aggregator's CURVE setup and ZAP allow-list (None, None for plaintext)."""
    from vpp.agents.runtime.allow_list import AllowDir
    from vpp.agents.runtime.security import (
        AllowList,
        KeyFileError,
        load_secret,
        server_setup,
    )

    if insecure:
        if key is not None or allow_dir is not None:
            fail("--insecure and --key/--allow-dir exclude each other")
        return None, None
    if key is None or allow_dir is None:
        if needs_security(bind):
            fail(f"--bind {bind}: plaintext TCP needs --insecure; for CURVE give --key "
                 "(the aggregator's .key_secret) and --allow-dir (the sites' public keys)")
        if key is None and allow_dir is None:
            return None, None
        fail("CURVE needs both --key and --allow-dir")
    try:
        public, secret = load_secret(key)
        folder = AllowDir(allow_dir)
    except KeyFileError as exc:
        fail(f"--allow-dir: {exc}" if allow_dir is not None else str(exc))
    if not folder.entries:
        fail(f"--allow-dir {allow_dir}: holds no public key (*.key); add one with vpp keys "
             "allow")
    unsited = sorted(n for n, e in folder.entries.items() if e.sites is not None
                     and not e.sites)
    if unsited:
        log.warning("--allow-dir %s: no .sites file for %s: these keys may serve no site "
                    "(vpp keys allow NAME.key --sites ...)", allow_dir, ", ".join(unsited))
    allow_list = AllowList(context, folder).start()
    return server_setup(public, secret), allow_list


def client_security(connect: str, key: Path | None, server_key: Path | None, insecure: bool):
    """A site's CURVE client setup (None for plaintext)."""
    from vpp.agents.runtime.security import (
        KeyFileError,
        client_setup,
        load_public,
        load_secret,
    )

    if insecure:
        if key is not None or server_key is not None:
            fail("--insecure and --key/--server-key exclude each other")
        return None
    if key is None or server_key is None:
        if needs_security(connect):
            fail(f"--connect {connect}: plaintext TCP needs --insecure; for CURVE give --key "
                 "(this site's .key_secret) and --server-key (the aggregator's public .key)")
        if key is None and server_key is None:
            return None
        fail("CURVE needs both --key and --server-key")
    try:
        public, secret = load_secret(key)
        server_public = load_public(server_key)
    except KeyFileError as exc:
        fail(str(exc))
    return client_setup(public, secret, server_public)
