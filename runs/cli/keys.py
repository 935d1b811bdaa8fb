"""``vpp keys``: CURVE key pairs for aggregators and sites, and the allow-list."""

from __future__ import annotations

from pathlib import Path

import typer
from vpp.runs.cli.common import console, fail

app = typer.Typer(help="CURVE keys: make a key pair, admit or revoke a site's public key.",
                  no_args_is_help=True)


@app.command("new")
def new(
    name: str = typer.Argument(..., help="The key's name (an aggregator's or a site's; a "
                               "site's key admits the host of that name only)."),
    directory: Path = typer.Option(Path("vpp-keys"), "--dir", help="Where to write the files."),
) -> None:
    """Write NAME.key (public: give it away) and NAME.key_secret (secret: mode 0600, in a
    folder of mode 0700 with a .gitignore that keeps secret keys out of git)."""
    from vpp.agents.runtime.security import (
        KeyFileError,
        fingerprint,
        load_public,
        new_keys,
    )

    try:
        public, secret = new_keys(directory, name)
    except KeyFileError as exc:
        fail(str(exc))
    console.print(f"public key {public} (fingerprint {fingerprint(load_public(public))})\n"
                  f"secret key {secret} (keep it on this machine)", highlight=False)


def _sites(value: list[str]) -> list[str]:
    """``--sites a,b --sites c`` as [a, b, c]."""
    return [n.strip() for v in value for n in v.split(",") if n.strip()]


@app.command("allow")
def allow(
    key_file: Path = typer.Argument(..., help="A site's public .key file (NAME.key admits "
                                    "the host NAME)."),
    sites: list[str] = typer.Option(
        [], "--sites", help="The sites of the scenario this key may serve, comma-separated "
        "(repeat it for more); a registration that claims another site is refused."),
    any_site: bool = typer.Option(False, "--any-site",
                                  help="Let this key serve any site of the scenario."),
    allow_dir: Path = typer.Option(Path("vpp-keys/allowed"), "--allow-dir",
                                   help="The aggregator's allow-list folder."),
) -> None:
    """Admit a site: copy its public key into the allow-list folder with the sites it may
    serve (NAME.key and NAME.sites, docs/deployment.md). A running aggregator admits it
    within a second, without a restart. One of --sites or --any-site is required."""
    from vpp.agents.runtime.security import KeyFileError, fingerprint, load_public
    from vpp.agents.runtime.security import allow as allow_key

    names = _sites(sites)
    if any_site == bool(names):
        fail("name the sites this key may serve (--sites chp-north,hydro) or give "
             "--any-site, not both and not neither")
    try:
        target = allow_key(key_file, allow_dir, None if any_site else names)
    except KeyFileError as exc:
        fail(str(exc))
    console.print(f"allowed {target} (fingerprint {fingerprint(load_public(target))}) to "
                  f"serve {'any site' if any_site else ', '.join(names)}", highlight=False)


@app.command("revoke")
def revoke(
    name: str = typer.Argument(..., help="The host name whose key is revoked (north for "
                               "north.key)."),
    allow_dir: Path = typer.Option(Path("vpp-keys/allowed"), "--allow-dir",
                                   help="The aggregator's allow-list folder."),
) -> None:
    """Revoke a site's key: remove NAME.key and NAME.sites from the allow-list folder. A
    running aggregator drops that host's session within 2 s (its sites are lost)."""
    from vpp.agents.runtime.allow_list import remove_entry
    from vpp.agents.runtime.security import KeyFileError

    try:
        removed = remove_entry(name, allow_dir)
    except KeyFileError as exc:
        fail(str(exc))
    console.print(f"revoked {name}: removed {', '.join(map(str, removed))}", highlight=False)
