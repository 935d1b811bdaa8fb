"""``vpp keys``: CURVE key pairs for aggregators and sites, and the allow-list."""

from __future__ import annotations

from pathlib import Path

import typer

from vpp.runs.cli.common import console, fail

app = typer.Typer(help="CURVE keys: make a key pair, admit a site's public key.",
                  no_args_is_help=True)


@app.command("new")
def new(
    name: str = typer.Argument(..., help="The key's name (an aggregator's or a site's; a "
                               "site's key admits the host of that name only)."),
    directory: Path = typer.Option(Path("vpp-keys"), "--dir", help="Where to write the files."),
) -> None:
    """Write NAME.key (public: give it away) and NAME.key_secret (secret: mode 0600)."""
    from vpp.agents.security import KeyFileError, fingerprint, load_public, new_keys

    try:
        public, secret = new_keys(directory, name)
    except KeyFileError as exc:
        fail(str(exc))
    console.print(f"public key {public} (fingerprint {fingerprint(load_public(public))})\n"
                  f"secret key {secret} (keep it on this machine)", highlight=False)


@app.command("allow")
def allow(
    key_file: Path = typer.Argument(..., help="A site's public .key file."),
    allow_dir: Path = typer.Option(Path("vpp-keys/allowed"), "--allow-dir",
                                   help="The aggregator's allow-list folder."),
) -> None:
    """Admit a site: copy its public key file into the aggregator's allow-list folder."""
    from vpp.agents.security import KeyFileError, fingerprint, load_public
    from vpp.agents.security import allow as allow_key

    try:
        target = allow_key(key_file, allow_dir)
    except KeyFileError as exc:
        fail(str(exc))
    console.print(f"allowed {target} (fingerprint {fingerprint(load_public(target))})",
                  highlight=False)
