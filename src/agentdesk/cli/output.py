"""How every command prints: a table or `--json`, a record, a progress bar.

Untrusted text never reaches the terminal raw. Table cells go through
`visible()` before they are clipped and padded; JSON keeps every value intact
but writes DEL, the C1 controls, bidi overrides and lone surrogates as `\\uXXXX`
escapes (JSON itself already escapes C0), so a parser gets the original string
back and a terminal gets no control byte.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

import click

from agentdesk.domain.text import visible

T = TypeVar("T")

_RAW_CONTROL = re.compile(r"[\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""What `json.dumps` leaves raw but `visible()` escapes in text: DEL, C1, bidi overrides, lone surrogates."""

json_option = click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")


def json_text(data: object) -> str:
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return _RAW_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def echo(line: str = "", *, err: bool = False) -> None:
    """Print `line`, each of its lines made visible: a message that quotes stored text
    (`added <login>`) cannot drive the terminal even where its caller forgot `visible()`."""
    click.echo("\n".join(visible(part) for part in line.split("\n")), err=err)


def emit_json(data: object) -> None:
    echo(json_text(data))


@dataclass(frozen=True)
class Column(Generic[T]):
    """One table column: the cell of a row, made visible, then clipped and padded to `width` (0: as it is)."""

    cell: Callable[[T], object]
    width: int = 0
    right: bool = False
    clip: bool = False
    gap: str = " "
    """What separates this column from the one before it."""

    def render(self, row: T) -> str:
        text = visible(self.cell(row))
        if self.clip and self.width:
            text = text[: self.width]
        return text.rjust(self.width) if self.right else text.ljust(self.width)


def table(
    rows: Iterable[T],
    columns: Iterable[Column[T]],
    *,
    as_json: bool,
    to_json: Callable[[T], object],
) -> None:
    """Rows as a JSON array (`to_json` of each), or one text line per row."""
    if as_json:
        emit_json([to_json(row) for row in rows])
        return
    cols = list(columns)
    for row in rows:
        line = "".join((col.gap if i else "") + col.render(row) for i, col in enumerate(cols))
        echo(line)


def record(data: object, *, as_json: bool, lines: Callable[[], Iterable[str]]) -> None:
    """One result: `data` as JSON, or the text lines (callers make untrusted parts visible)."""
    if as_json:
        emit_json(data)
        return
    for line in lines():
        echo(line)


@contextmanager
def progress(label: str, total: int | None) -> Iterator[Callable[[int, int | None], None]]:
    """A bar on stderr while the block runs (only when stderr is a terminal); yields `update(done, total)`."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), disable=not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done, total: bar.update(task, completed=done, total=total)
