"""How a verb talks to its user: tables on stdout, progress on stderr, one JSON document, or only errors.

``orchsim`` sets the mode once per invocation from the flags every verb takes (``--json``,
``-q/--quiet``, ``--tz``); verbs then call:

- ``show(renderable)`` for tables and lines a person reads (stdout; nothing with ``--json`` or ``-q``),
- ``note(text)`` for a line worth keeping in machine mode too ("outputs written to DIR/": stdout
  normally, stderr with ``--json``, nothing with ``-q``),
- ``emit(document)`` for the verb's JSON document (printed by the CLI, alone on stdout, with ``--json``),
- ``progress(label, total)`` for a progress report on stderr (a bar on a terminal, plain
  rate-limited lines otherwise, nothing with ``-q``),
- ``show_table(table, drop=...)`` for a table fitted to the terminal's width.

Errors go to stderr in every mode.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sim.output.outputs import json_text

__all__ = [
    "Mode",
    "PlainProgress",
    "emit",
    "fit_table",
    "mode",
    "note",
    "pending",
    "printed",
    "progress",
    "set_mode",
    "show",
    "show_table",
    "warn",
    "write_document",
]

_NOTHING = object()


@dataclass
class Mode:
    """The output mode of this invocation."""

    json: bool = False
    quiet: bool = False
    tz: str | None = None
    stdout: TextIO | None = None  # where the document goes (the CLI hides sys.stdout from verbs in --json)
    document: Any = _NOTHING
    printed: bool = False


_MODE = Mode()


def set_mode(*, json: bool = False, quiet: bool = False, tz: str | None = None) -> Mode:
    """Start an invocation in this mode (forgets any document emitted before); documents go to today's stdout."""
    global _MODE
    _MODE = Mode(json=json, quiet=quiet, tz=tz, stdout=sys.stdout)
    return _MODE


def mode() -> Mode:
    """The current output mode."""
    return _MODE


def emit(document: Any, *, now: bool = False) -> None:
    """The verb's JSON document. The CLI prints it after the verb returns, or at once with ``now``
    (a verb that keeps running, such as ``serve``)."""
    _MODE.document = document
    if now and _MODE.json:
        write_document(document)


def write_document(document: Any) -> None:
    """Print ``document`` as JSON on the invocation's stdout, once."""
    stream = _MODE.stdout or sys.stdout
    stream.write(json_text(document))
    stream.flush()
    _MODE.printed = True


def pending() -> tuple[bool, Any]:
    """Whether the verb emitted a document not printed yet, and the document."""
    return _MODE.document is not _NOTHING and not _MODE.printed, _MODE.document


def printed() -> bool:
    """Whether a document was printed in this invocation."""
    return _MODE.printed


def _console() -> Console:
    return Console(highlight=False)  # resolves sys.stdout when printing; width: the terminal's, COLUMNS, or 80


def _err() -> Console:
    return Console(stderr=True, highlight=False)


def show(renderable: RenderableType | object) -> None:
    """Something a person reads, on stdout (nothing with ``--json`` or ``--quiet``)."""
    if _MODE.json or _MODE.quiet:
        return
    if isinstance(renderable, str):
        print(renderable)  # as written: no markup, no wrapping of long lines
    else:
        _console().print(renderable)


def note(text: str) -> None:
    """A line kept in machine mode too: stdout normally, stderr with ``--json``, nothing with ``--quiet``."""
    if _MODE.quiet:
        return
    print(text, file=sys.stderr if _MODE.json else sys.stdout)


def warn(text: str) -> None:
    """A warning on stderr (nothing with ``--quiet``)."""
    if not _MODE.quiet:
        print(text, file=sys.stderr)


def show_table(table: Table, drop: Sequence[str] = ()) -> None:
    """``table`` fitted to the terminal: cells wrap, and columns named in ``drop`` go, first named first,
    while the table cannot fit even with every cell wrapped; a caption says which went."""
    if _MODE.json or _MODE.quiet:
        return
    console = _console()
    dropped = fit_table(table, drop, console.width)
    if dropped:
        extra = f"columns left out to fit {console.width} characters: {', '.join(dropped)} (see --json or the files)"
        table.caption = f"{table.caption}\n{extra}" if table.caption else extra
    console.print(table)


def fit_table(table: Table, drop: Sequence[str], width: int, console: Console | None = None) -> list[str]:
    """Remove columns of ``table`` named in ``drop``, in that order, while rich would still have to cut a
    cell short (an ellipsis) to fit ``width`` with every other cell wrapped; returns the headers removed."""
    dropped = []
    for header in drop:
        if not _squeezed(table, width):
            break
        index = next((i for i, c in enumerate(table.columns) if str(c.header) == header), None)
        if index is not None:
            del table.columns[index]
            dropped.append(header)
    return dropped


def _squeezed(table: Table, width: int) -> bool:
    """Whether rich, laying ``table`` out in ``width``, gives a column less than its longest word."""
    probe = Console(width=width, file=io.StringIO(), color_system=None)
    options = probe.options.update_width(width - table._extra_width)  # as Table.__rich_console__ does
    widths = table._calculate_column_widths(probe, options)  # rich's own layout (no public API for it)
    needed = [table._measure_column(probe, options, column).minimum for column in table.columns]
    return any(w < n for w, n in zip(widths, needed, strict=True))


@contextmanager
def progress(label: str, total: float, detail: bool = False) -> Iterator[Callable[[float, str], None]]:
    """``update(done, text)`` reports progress toward ``total`` on stderr: a bar on a terminal, plain lines
    (every 10% or 5 s, whichever comes first) otherwise, nothing with ``--quiet``."""
    err = _err()
    if _MODE.quiet:
        yield _ignore
    elif err.is_terminal:
        counter = TextColumn("{task.fields[text]}") if detail else MofNCompleteColumn()
        columns = (TextColumn("{task.description}"), BarColumn(), counter, TimeElapsedColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task(label, total=total, text="")

            def update(done: float, text: str = "") -> None:
                bar.update(task, completed=done, text=text)

            yield update
    else:
        lines = PlainProgress(label, total, detail)
        yield lines.update
        lines.finish()


def _ignore(done: float, text: str = "") -> None:
    """Progress nobody sees (``--quiet``)."""


class PlainProgress:
    """Progress as plain lines on stderr, at most one per 10% of the total or per 5 s."""

    def __init__(self, label: str, total: float, detail: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.total, self.detail, self.clock = label, max(total, 1e-12), detail, clock
        self.begun = self.last_time = clock()
        self.last_share = 0.0
        self.done, self.text = 0.0, ""

    def update(self, done: float, text: str = "") -> None:
        """Record progress; print a line when 10% more is done or 5 s passed since the last line."""
        self.done, self.text = done, text
        now = self.clock()
        share = done / self.total
        if share >= 1.0 or share - self.last_share >= 0.1 or now - self.last_time >= 5.0:
            self._line(now, share)

    def finish(self) -> None:
        """A last line if the last update was not printed."""
        if self.done / self.total > self.last_share:
            self._line(self.clock(), self.done / self.total)

    def _line(self, now: float, share: float) -> None:
        self.last_time, self.last_share = now, share
        what = self.text if self.detail else f"{self.done:g}/{self.total:g}"
        print(
            f"{self.label}: {100 * share:.0f}% ({what}), {now - self.begun:.0f} s elapsed", file=sys.stderr, flush=True
        )
