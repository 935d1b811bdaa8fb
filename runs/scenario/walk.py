"""Validating a document into typed structures with every structural error found, not just
the first: msgspec stops at the first, so when it refuses a document, this walks the
structures field by field (unknown fields with the closest known one, missing fields,
unknown tags with the allowed ones, wrong types and values out of range, each by path).

What can be kept is kept: a bad value of a field with a default falls back to the default
and an item of a list that cannot be built is set aside (:class:`~.problems.IndexMap`
says which), so that the checks of values against each other still run on the rest.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

import msgspec
from vpp.runs.scenario.problems import IndexMap, Problem, close_match

_BROKEN = object()
_SUFFIX = re.compile(r" - at `\$(?P<rest>[^`]*)`$")


class Walk:
    """One walk over a document: the problems found and the items set aside."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.index = IndexMap()

    def fail(self, path: str, message: str) -> Any:
        """Record a problem at ``path``; returns the broken marker."""
        self.problems.append(Problem(path, message))
        return _BROKEN

    def value(self, value: Any, tp: Any, path: str) -> Any:
        """``value`` checked against ``tp``: the value to convert (bad parts left out where
        a default can stand in), or the broken marker."""
        if _is_struct(tp):
            return self.struct(value, tp, path)
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            return self.union(value, tp, path)
        if origin is list and isinstance(value, list):
            (item,) = get_args(tp) or (Any,)
            return self.items(value, item, path)
        return self.leaf(value, tp, path)

    def union(self, value: Any, tp: Any, path: str) -> Any:
        members = [m for m in get_args(tp) if m is not type(None)]
        if value is None and len(members) < len(get_args(tp)):
            return None
        structs = [m for m in members if _is_struct(m)]
        if isinstance(value, dict) and structs:
            tag_field = structs[0].__struct_config__.tag_field
            if len(structs) > 1 and tag_field is not None:
                return self.tagged(value, structs, tag_field, path)
            if len(structs) == 1:
                return self.struct(value, structs[0], path)
        lists = [m for m in members if get_origin(m) is list]
        if isinstance(value, list) and len(lists) == 1:
            return self.value(value, lists[0], path)
        return self.leaf(value, tp, path)

    def tagged(self, value: dict, structs: list, tag_field: str, path: str) -> Any:
        """A tagged union (a device's ``type``)."""
        tags = {s.__struct_config__.tag: s for s in structs}
        label = "device type" if re.search(r"devices\[\d+\]$", path) else repr(tag_field)
        tag = value.get(tag_field)
        where = f"{path}.{tag_field}" if path else tag_field
        if tag is None:
            return self.fail(where, f"missing the {label} (one of: {', '.join(map(str, tags))})")
        if tag not in tags:
            return self.fail(where, f"unknown {label} {str(tag)[:60]!r}{close_match(tag, tags)}")
        return self.struct(value, tags[tag], path, skip=tag_field)

    def struct(self, value: Any, cls: type, path: str, skip: str | None = None) -> Any:
        """A structure: every unknown field, missing field and bad value, by path."""
        if not isinstance(value, dict):
            return self.fail(path, f"Expected an object (a mapping), got "
                                   f"`{_kind(value)}`")
        fields = {f.encode_name: f for f in msgspec.structs.fields(cls)}
        forbid = cls.__struct_config__.forbid_unknown_fields
        out: dict = {}
        broken = False
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if key == skip:
                out[key] = item
            elif key not in fields:
                if forbid:
                    self.fail(path, f"Object contains unknown field `{str(key)[:60]}`"
                                    f"{close_match(key, fields, '`')}")
            else:
                checked = self.value(item, fields[key].type, sub)
                if checked is _BROKEN:
                    broken = broken or fields[key].required
                else:
                    out[key] = checked
        for name, field in fields.items():
            if field.required and name not in value:
                broken = True
                self.fail(f"{path}.{name}" if path else name, f"Object missing required field "
                                                              f"`{name}`")
        return _BROKEN if broken else out

    def items(self, value: list, item: Any, path: str) -> Any:
        """A list: each item on its own; the ones that cannot be built set aside."""
        out, kept = [], []
        for i, entry in enumerate(value):
            checked = self.value(entry, item, f"{path}[{i}]")
            if checked is not _BROKEN:
                out.append(checked)
                kept.append(i)
        self.index.keep(path, kept, len(value))
        return out

    def leaf(self, value: Any, tp: Any, path: str) -> Any:
        """Anything else, converted by msgspec (its message, the path made whole)."""
        try:
            msgspec.convert(value, tp, strict=False)
        except msgspec.ValidationError as exc:
            text = str(exc)
            found = _SUFFIX.search(text)
            if found:
                text = text[:found.start()]
                path = f"{path}{found['rest']}" if path else found["rest"].lstrip(".")
            literal = _literal(tp)
            if literal and text.startswith("Invalid enum value"):
                text = f"Invalid enum value {str(value)[:60]!r}{close_match(value, literal)}"
            return self.fail(path, text)
        return value


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _literal(tp: Any) -> tuple:
    if get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) is Literal:
        return get_args(tp)
    if get_origin(tp) in (Union, types.UnionType):
        out: tuple = ()
        for member in get_args(tp):
            out += _literal(member)
        return out
    return ()


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "str", int: "int", float: "float",
            bool: "bool", type(None): "null"}.get(type(value), type(value).__name__)


def convert_all(data: Any, cls: type) -> tuple[Any, Walk]:
    """``data`` validated into ``cls``: (the structure, the walk) when it converts as it
    is; else (the structure built from what could be kept, or None when nothing could,
    the walk with every problem found)."""
    try:
        return msgspec.convert(data, cls, strict=False), Walk()
    except msgspec.ValidationError:
        pass
    walk = Walk()
    kept = walk.struct(data, cls, "")
    if kept is _BROKEN:
        return None, walk
    try:
        return msgspec.convert(kept, cls, strict=False), walk
    except msgspec.ValidationError as exc:  # a rule the walk does not know: say it
        found = _SUFFIX.search(str(exc))
        text = str(exc)[:found.start()] if found else str(exc)
        walk.fail(found["rest"].lstrip(".") if found else "", text)
        return None, walk
