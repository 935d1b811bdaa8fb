"""A step's rows for a table, given column by column (:class:`Columns`).

A mode with many rows a step (a site row each: 1,000 a step, 35 million in a 15-minute
year) can hand the run record its columns instead of one mapping per row:
:class:`~vpp.runs.record.tables.StepTable` writes them with no mapping and no per-cell
Python call, the same bytes as the rows would give. ``Columns`` is also a sequence of
mappings (row ``i`` is ``{name: values[i]}``), so whatever reads a step's rows as
mappings reads these too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload


class Columns(Sequence[Mapping[str, Any]]):
    """Rows given as columns: ``{name: values}``, every ``values`` as long (one row per
    index), the names in the order a row's keys would be.

    Args:
        columns: the columns; :class:`ValueError` when they are not all as long.
    """

    __slots__ = ("_rows", "columns")

    def __init__(self, columns: Mapping[str, Sequence[Any]]) -> None:
        self.columns: dict[str, Sequence[Any]] = dict(columns)
        lengths = {len(v) for v in self.columns.values()}
        if len(lengths) > 1:
            raise ValueError("columns of different lengths: " + ", ".join(
                f"{name} {len(v)}" for name, v in self.columns.items()))
        self._rows = lengths.pop() if lengths else 0

    def __len__(self) -> int:
        return self._rows

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, i: slice) -> Columns: ...

    def __getitem__(self, i: int | slice) -> dict[str, Any] | Columns:
        if isinstance(i, slice):
            return Columns({name: v[i] for name, v in self.columns.items()})
        if not -self._rows <= i < self._rows:
            raise IndexError("row index out of range")
        return {name: v[i] for name, v in self.columns.items()}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        names = tuple(self.columns)
        return (dict(zip(names, row)) for row in zip(*self.columns.values()))

    def __repr__(self) -> str:
        return f"Columns({', '.join(self.columns)}; {self._rows} rows)"
