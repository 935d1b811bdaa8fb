"""Starting a scenario: the templates ``vpp init`` writes (commented YAML, and the data
file a template reads), and the JSON Schema of the scenario format ``vpp schema`` prints
for editors (msgspec's schema of :class:`~vpp.runs.scenario.Scenario`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TEMPLATES_DIR = Path(__file__).resolve().parent / "scenarios" / "templates"
"""Where the templates live (``NAME.yaml``)."""

TEMPLATES = {
    "fleet": "merit-order dispatch of five sites against a target from bundled data",
    "market": "a day-ahead sale at your own prices (writes prices.csv beside it)",
}
"""The templates ``vpp init --template NAME`` knows, with what each is."""

PRICE_FILE = "prices.csv"
PRICE_DAY = "2019-01-16"


class InitError(ValueError):
    """A template that cannot be written (an unknown name, a file already there)."""


def template_files(name: str) -> dict[str, str]:
    """The files template ``name`` consists of: ``{file name: text}``.

    Raises:
        InitError: no template of that name (the known ones listed, or the closest).
    """
    from vpp.runs.scenario.problems import close_match

    if name not in TEMPLATES:
        raise InitError(f"no template named {name!r}{close_match(name, TEMPLATES)}")
    files = {f"{name}.yaml": (TEMPLATES_DIR / f"{name}.yaml").read_text(encoding="utf-8")}
    if name == "market":
        files[PRICE_FILE] = price_csv()
    return files


def price_csv() -> str:
    """The market template's price file: the real DE-LU day-ahead prices of 2019-01-16
    (the bundled ``de_lu_2019``; SMARD, CC BY 4.0), hourly, in a plain CSV a user replaces
    with their own market's."""
    from vpp.physics.datasets import read_dataset

    frame = read_dataset("de_lu_2019").frame()
    day = frame.loc[PRICE_DAY, "price_eur_mwh"]
    lines = ["timestamp_utc,price_eur_mwh"]
    lines += [f"{t.strftime('%Y-%m-%dT%H:%M:%SZ')},{v:.2f}" for t, v in day.items()]
    return "\n".join(lines) + "\n"


def write_template(name: str, folder: str | Path, *, force: bool = False) -> list[Path]:
    """Write template ``name`` into ``folder`` (created if needed); return the files.

    Raises:
        InitError: an unknown template, or a file already there (without ``force``;
            nothing is written then).
    """
    folder = Path(folder)
    files = template_files(name)
    there = [folder / f for f in files if (folder / f).exists()]
    if there and not force:
        raise InitError(f"{', '.join(map(str, there))} already there (--force overwrites)")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for file, text in files.items():
        (folder / file).write_text(text, encoding="utf-8")
        written.append(folder / file)
    return written


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a scenario file: msgspec's schema of
    :class:`~vpp.runs.scenario.Scenario`, with ``start`` as a date-time. Unknown fields
    are refused (``additionalProperties: false``), as the loader refuses them."""
    import msgspec
    from vpp.runs.scenario import Scenario

    schema = msgspec.json.schema(Scenario)
    defs = schema["$defs"]
    defs["Scenario"]["properties"]["start"] = {
        "type": "string", "format": "date-time",
        "description": "the first step's instant, with its zone (2019-01-16T00:00:00Z)"}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://vpp-swarm.invalid/scenario.schema.json",
            "title": "vpp-swarm scenario", **schema}


def schema_text() -> str:
    """:func:`scenario_schema` as indented JSON."""
    return json.dumps(scenario_schema(), indent=2, sort_keys=False)
