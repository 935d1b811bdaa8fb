"""Problems found in a scenario, all of them at once: each names the field path, the site
(and device) by name as well as by index, and, for a name or a value that is not known,
the allowed values or the closest one ("unknown device type 'flexibel'; did you mean
'flexible'?").
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from vpp.runs.scenario.errors import ScenarioError

_AT = re.compile(r"^(?P<msg>.*?) - at `\$\.?(?P<path>[^`]*)`$", re.S)
_TOKEN = re.compile(r"([A-Za-z_][\w-]*)|\[(\d+)\]")


class Problem(msgspec.Struct, frozen=True):
    """One thing wrong with a scenario.

    Attributes:
        path: the field, without ``$.`` (``sites[5].devices[0].type``; ``""`` for the
            whole document).
        message: what is wrong and what was expected.
    """

    path: str
    message: str

    def text(self, where: str, names: str = "") -> str:
        """``WHERE: MESSAGE (site 'NAME') - at `$.PATH```: the one-line form."""
        at = f"$.{self.path}" if self.path else "$"
        named = f" ({names})" if names else ""
        return f"{where}: {self.message}{named} - at `{at}`"


class ScenarioProblems(ScenarioError):
    """A scenario with one or more problems: :attr:`problems` holds each, and the message
    has one line per problem (the first problem's line first)."""

    def __init__(self, where: str, problems: Sequence[Problem], raw: Any = None) -> None:
        self.where = where
        self.problems = list(problems)
        self.lines = [p.text(where, names_at(raw, p.path)) for p in self.problems]
        super().__init__("\n".join(self.lines))


def from_message(text: str, where: str = "") -> Problem:
    """A problem from an error message that ends ``- at `$.PATH```: a check that raised
    rather than reported (the file's name in front, if given, is taken off)."""
    if where and text.startswith(f"{where}: "):
        text = text[len(where) + 2:]
    found = _AT.match(text)
    if found is None:
        return Problem("", text)
    return Problem(found["path"], found["msg"])


def close_match(word: Any, choices: Iterable[str], quote: str = "'") -> str:
    """``; did you mean 'X'?`` for the choice closest to ``word``, else the choices
    listed (`` (one of: a, b, c)``)."""
    choices = [str(c) for c in choices]
    found = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    if found:
        return f"; did you mean {quote}{found[0]}{quote}?"
    return f" (one of: {', '.join(choices)})"


def walk_path(path: str) -> list[str | int]:
    """``sites[5].devices[0].type`` -> ``['sites', 5, 'devices', 0, 'type']``."""
    return [name if name else int(index) for name, index in _TOKEN.findall(path)]


def names_at(raw: Any, path: str) -> str:
    """``site 'bakery', device 'ovens'``: the names of the site and device a path points
    into, read from the document (``raw``: plain data); ``""`` when there are none."""
    parts = walk_path(path)
    out = []
    node = raw
    for i, part in enumerate(parts):
        if isinstance(part, int):
            if not isinstance(node, list) or not 0 <= part < len(node):
                break
            node = node[part]
            label = {"sites": "site", "devices": "device"}.get(str(parts[i - 1]) if i else "")
            name = node.get("name") if isinstance(node, dict) else None
            if label and isinstance(name, str):
                out.append(f"{label} {name[:60]!r}")
        else:
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
    return ", ".join(out)


class IndexMap:
    """Which items of each list of a document were kept when broken ones were set aside
    (so that the checks of what is left name the document's own indices)."""

    def __init__(self) -> None:
        self.kept: dict[str, list[int]] = {}
        self.short: set[str] = set()

    def keep(self, list_path: str, indices: list[int], length: int) -> None:
        """The items of the list at ``list_path`` (the document's indices) that were kept,
        of ``length``."""
        if len(indices) < length:
            self.kept[list_path] = indices
            self.short.add(list_path)

    def original(self, path: str) -> str:
        """``path`` in the kept items' indices -> the same path in the document's."""
        out = ""
        for part in walk_path(path):
            if isinstance(part, int):
                kept = self.kept.get(out)
                index = kept[part] if kept is not None and part < len(kept) else part
                out += f"[{index}]"
            else:
                out += f".{part}" if out else part
        return out

    def shortened(self, path: str) -> bool:
        """True when items of the list at ``path`` (the document's indices) were set
        aside: a check of that list as a whole may then be wrong."""
        return path in self.short
