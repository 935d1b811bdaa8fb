"""What a read found: errors that name the file, the line and the column (never a cell's
text), and the report of what was handled (DST changes, gaps, duplicates, missing values)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Finding", "ReadReport", "TimeSeriesError"]


class TimeSeriesError(ValueError):
    """A time series that cannot be read as its mapping says.

    The message names the file and, where one is at fault, the line (counted as an editor
    counts them: the header is line 1 of a plain CSV) and the column; it never quotes the
    file's contents. ``file``, ``line`` and ``column`` hold the same facts.
    """

    def __init__(self, file: str, message: str, *, line: int | None = None,
                 column: str | None = None, field: str | None = None) -> None:
        where = [file]
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column[:80]!r}")
        super().__init__(f"{', '.join(where)}: {message}")
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        """The mapping's field at fault (``resample``, ``time_zone``...), when one is."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the read met and handled.

    ``kind``: ``dst-spring`` (clocks went forward: a local hour is skipped, or a row for it
    was dropped), ``dst-autumn`` (clocks went back: a local hour repeats, told apart by its
    order or a marker), ``gap`` (steps missing between two lines), ``duplicate`` (lines
    with the same instant), ``missing`` (an empty cell), ``blank`` (an empty line).
    ``lines``: the file's lines concerned; ``action``: what the reader did about it.
    """

    kind: str
    lines: tuple[int, ...]
    detail: str
    action: str
    column: str | None = None

    def __str__(self) -> str:
        where = "lines " + ", ".join(map(str, self.lines)) if len(self.lines) > 1 else \
            f"line {self.lines[0]}" if self.lines else "the file"
        col = f", column {self.column!r}" if self.column else ""
        return f"{self.kind}: {where}{col}: {self.detail} ({self.action})"


@dataclass(frozen=True, slots=True)
class ReadReport:
    """Everything a read handled, in the file's order; :meth:`lines` gives it as text."""

    file: str
    rows: int
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    def of(self, kind: str) -> list[Finding]:
        """The findings of one kind."""
        return [f for f in self.findings if f.kind == kind]

    def lines(self) -> list[str]:
        """One line of text per finding."""
        return [str(f) for f in self.findings]
