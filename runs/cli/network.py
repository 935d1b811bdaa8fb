"""Options shared by ``vpp aggregator`` and ``vpp site``: security and timing."""

from __future__ import annotations

from pathlib import Path

from vpp.runs.cli.common import fail


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
    from vpp.agents.security import AllowList, KeyFileError, allowed_names, load_secret, server_setup

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
        keys = allowed_names(allow_dir)
    except KeyFileError as exc:
        fail(str(exc))
    if not keys:
        fail(f"--allow-dir {allow_dir}: holds no public key (*.key); add one with vpp keys allow")
    allow_list = AllowList(context, keys).start()
    return server_setup(public, secret), allow_list


def client_security(connect: str, key: Path | None, server_key: Path | None, insecure: bool):
    """A site's CURVE client setup (None for plaintext)."""
    from vpp.agents.security import KeyFileError, client_setup, load_public, load_secret

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
