"""YAML files read within bounds: size, nodes (aliases expanded), depth.

The file is composed into YAML nodes first (an alias is a second reference to the same
node, so composing is linear in the file's size), then measured: the number of nodes the
document would have with every alias expanded and its depth, computed once per distinct
node, without expanding anything. Only a document within :class:`~vpp.runs.scenario.limits.Limits`
is turned into Python objects. A "billion laughs" alias bomb is thus refused in about the
time it takes to read it, and no message ever expands it. A document without an alias
(no ``*`` in its text) is a tree, each node reached once: it is measured level by level,
without the per-node bookkeeping.

The cyclic garbage collector is paused while the document is composed, measured and
built: those make millions of objects at a 100,000-site scenario and none of them is
garbage yet, so each collection it triggers would walk them all for nothing (a 31 MB
scenario composed in 18 s with it, 3.6 s without). The nodes are freed (by their
reference counts) before it resumes, so its next collection sees only the values built.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any

import yaml
from vpp.runs.scenario.limits import Limits

__all__ = ["YamlError", "read_yaml"]

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when installed (about 8x faster on a large scenario)."""


class YamlError(ValueError):
    """A file that is unreadable, not YAML, or too large; the message names the file."""


def read_bytes(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of ``path``; a larger file is an error naming the cap."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise YamlError(f"{path}: cannot read the file ({exc.strerror})") from None
    if len(data) > limit:
        raise YamlError(f"{path}: larger than {limit:,} bytes (the cap; "
                        f"{Limits.variable('max_file_bytes')} raises it)")
    return data


def read_yaml(path: str | Path, content: bytes | None = None,
              limits: Limits | None = None) -> Any:
    """The YAML document of ``path`` (or of ``content``, its bytes already read) as plain
    Python values, within ``limits`` (default: :meth:`Limits.from_env`).

    Raises:
        YamlError: unreadable, not UTF-8, not YAML, or beyond a cap (named, with the
            environment variable that raises it).
    """
    path = Path(path)
    limits = limits or Limits.from_env()
    if content is None:
        content = read_bytes(path, limits.max_file_bytes)
    elif len(content) > limits.max_file_bytes:
        raise YamlError(f"{path}: larger than {limits.max_file_bytes:,} bytes (the cap; "
                        f"{Limits.variable('max_file_bytes')} raises it)")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(f"{path}: not UTF-8 text ({exc.reason})") from None
    loader = _YAML_LOADER(text)
    try:
        with _collector_paused():
            return _build(loader, "*" in text, path, limits)
    except yaml.YAMLError as exc:
        raise YamlError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:  # the pure-Python composer on deep nesting (libyaml caps it)
        raise YamlError(f"{path}: nested deeper than {limits.max_yaml_depth} "
                        f"(the cap; {Limits.variable('max_yaml_depth')} raises it)") from None
    finally:
        loader.dispose()


def _build(loader: Any, aliases: bool, path: Path, limits: Limits) -> Any:
    """Compose, measure and construct the document (its nodes are garbage on return,
    freed by their reference counts before the collector resumes)."""
    node = loader.get_single_node()
    if node is None:
        return None
    if aliases:
        _measure(node, path, limits)
    else:
        _measure_tree(node, path, limits)
    return loader.construct_document(node)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (if it runs) for the block; resume it after."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _where(path: Path, node: yaml.Node) -> str:
    mark = node.start_mark
    return f"{path}, line {mark.line + 1}" if mark is not None else str(path)


def _measure(root: yaml.Node, path: Path, limits: Limits) -> None:
    """Raise YamlError when ``root``, aliases expanded, has more nodes or more depth than
    ``limits`` allow, or refers to itself; each distinct node is visited once."""
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            height[key] = 1 + max((height[id(k)] for k in kids), default=0)
            open_.discard(key)
            if size[key] > limits.max_yaml_nodes:
                raise YamlError(
                    f"{_where(path, node)}: more than {limits.max_yaml_nodes:,} YAML nodes "
                    f"once its aliases are expanded (the cap; "
                    f"{Limits.variable('max_yaml_nodes')} raises it)")
            if height[key] > limits.max_yaml_depth:
                raise YamlError(
                    f"{_where(path, node)}: nested deeper than {limits.max_yaml_depth} (the "
                    f"cap; {Limits.variable('max_yaml_depth')} raises it)")
            continue
        if key in size:
            continue
        if key in open_:
            raise YamlError(f"{_where(path, node)}: an alias refers to a collection that "
                            f"contains it")
        open_.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in size)


def _measure_tree(root: yaml.Node, path: Path, limits: Limits) -> None:
    """:func:`_measure` for a document without aliases (a tree: each node is reached once),
    level by level: its depth is the number of levels, its size the nodes counted."""
    sequence, mapping = yaml.SequenceNode, yaml.MappingNode
    level, count, depth = [root], 0, 0
    while level:
        depth += 1
        count += len(level)
        if depth > limits.max_yaml_depth:
            raise YamlError(
                f"{_where(path, level[0])}: nested deeper than {limits.max_yaml_depth} (the "
                f"cap; {Limits.variable('max_yaml_depth')} raises it)")
        if count > limits.max_yaml_nodes:
            raise YamlError(
                f"{path}: more than {limits.max_yaml_nodes:,} YAML nodes (the cap; "
                f"{Limits.variable('max_yaml_nodes')} raises it)")
        below: list[yaml.Node] = []
        for node in level:
            if isinstance(node, sequence):
                below += node.value
            elif isinstance(node, mapping):
                below += chain.from_iterable(node.value)
        level = below
