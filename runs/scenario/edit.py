"""A scenario in code: fields changed by path (``steps``, ``sites[chp].devices[0].p_max_kw``,
a site named in the brackets or indexed), plain data with the defaults left out, and YAML.

Every change goes through the one check (:func:`~vpp.runs.scenario.loading.parse`): a
changed scenario is as checked as a file's, and an error names the path given.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
from vpp.runs.scenario.errors import ScenarioError

_PART = re.compile(r"([A-Za-z_][\w-]*)|\[([^\]]+)\]")


def split_path(path: str) -> list[str | int]:
    """``sites[chp].devices[0].p_max_kw`` -> ``['sites', 'chp', 'devices', 0, 'p_max_kw']``
    (an index in brackets is an int; anything else in brackets names an item).

    Raises:
        ScenarioError: an empty path, or one that is not dotted names and brackets.
    """
    text = path.strip().removeprefix("$.")
    parts: list[str | int] = []
    pos = 0
    for found in _PART.finditer(text):
        between = text[pos:found.start()]
        if between not in ("", ".") or (between == "." and not parts):
            break
        name, key = found.groups()
        parts.append(name if name is not None else (int(key) if key.isdigit() else key))
        pos = found.end()
    if not parts or pos != len(text):
        raise ScenarioError(f"{path!r}: not a field path (e.g. steps, "
                            f"sites[chp].devices[0].p_max_kw)")
    return parts


def set_path(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of plain scenario data with the field at ``path`` set to ``value`` (made
    when its object lacks it). A list item is named by index or by its ``name``.

    Raises:
        ScenarioError: the path leads nowhere (naming the part that does not exist).
    """
    out = copy.deepcopy(data)
    parts = split_path(path)
    node: Any = out
    walked = ""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            walked += f"[{part}]"
            index = _index(node, part, walked)
            if last:
                node[index] = value
            else:
                node = node[index]
            continue
        if not isinstance(node, dict) or isinstance(part, int):
            raise ScenarioError(f"{path}: {walked or '$'} is not "
                                f"{'a list' if isinstance(part, int) else 'an object'}")
        walked += f".{part}" if walked else part
        if last:
            node[part] = value
        else:
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
    return out


def _index(items: list, part: str | int, here: str) -> int:
    if isinstance(part, int):
        if not 0 <= part < len(items):
            raise ScenarioError(f"{here}: no item {part} (there are {len(items)})")
        return part
    names = [item.get("name") if isinstance(item, dict) else None for item in items]
    if part not in names:
        from vpp.runs.scenario.problems import close_match

        known = [n for n in names if isinstance(n, str)]
        raise ScenarioError(f"{here}: no item named {part!r}{close_match(part, known)}")
    return names.index(part)


def plain(value: Any) -> Any:
    """A scenario (or any part) as plain data, the fields left at their defaults left out
    (what a person would write); datetimes stay datetimes (YAML writes them as such)."""
    if isinstance(value, msgspec.Struct):
        config = value.__struct_config__
        out: dict[str, Any] = {}
        if config.tag is not None and config.tag_field is not None:
            out[config.tag_field] = config.tag
        for field in msgspec.structs.fields(value):
            item = getattr(value, field.name)
            if not field.required:
                default = (field.default_factory() if field.default is msgspec.NODEFAULT
                           else field.default)
                if _same(item, default):
                    continue
            out[field.encode_name] = plain(item)
        return out
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value
    return msgspec.to_builtins(value)


def _same(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):  # values that do not compare to one truth (arrays)
        return False


def to_yaml(scenario: Any) -> str:
    """The scenario as a YAML document (defaults left out) that loads back equal."""
    import yaml

    return yaml.safe_dump(plain(scenario), sort_keys=False, allow_unicode=True, width=96)


def save(scenario: Any, path: str | Path) -> Path:
    """Write the scenario as YAML to ``path``; return it. Data files it names by relative
    path are relative to the file's folder, as for any scenario file."""
    path = Path(path)
    path.write_text(to_yaml(scenario), encoding="utf-8")
    return path


def with_changes(scenario: Any, changes: dict[str, Any], where: str = "<scenario>") -> Any:
    """``scenario`` with each ``{path: value}`` of ``changes`` set, checked again (every
    check of a file).

    Raises:
        ScenarioError: a path that leads nowhere, or the changed scenario's problems.
    """
    from vpp.runs.scenario.loading import parse

    data = msgspec.to_builtins(scenario, builtin_types=(datetime,))
    for path, value in changes.items():
        data = set_path(data, path, value)
    return parse(data, where)
