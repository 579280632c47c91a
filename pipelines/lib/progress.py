"""Progress a person can follow on a terminal, for the long commands (`fazhi run`, `fazhi generate`).

A command opens a display with `shown()`: one line per step, each with its elapsed time, and a count
(files parsed of total, marts models and checks done of total, units written of total) where the step
has one. The code that does the work reports through `begin`, `expect`, `advance` and `end`, which do
nothing when no display is open: in Dagster's daemon and run workers, in the dashboard, in tests, with
--quiet, and whenever standard error is not a terminal (a pipe, a log file, CI). The display is drawn
on standard error, so what a command prints on standard output stays as it was.

Reports are made in this process only: the child processes that parse files do not report, their
results are counted here as they arrive (pipelines.lib.isolation). Steps run one at a time, so a
count always belongs to the line begun last; `advance` may be called from another thread.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class _State:
    """The open display, if any, and the line counts go to."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.display: Progress | None = None
        self.current: TaskID | None = None


_state = _State()


def on_terminal(stream: IO[str] | None = None) -> bool:
    """Whether `stream` (standard error by default) is a terminal a display can be drawn on: it must
    be a tty, and rich must agree (TTY_COMPATIBLE=0, TERM=dumb or a notebook say no)."""
    stream = stream if stream is not None else sys.stderr
    try:
        if stream is None or not stream.isatty():
            return False
    except (AttributeError, ValueError):  # no isatty, or closed
        return False
    from rich.console import Console

    console = Console(file=stream)
    return console.is_terminal and not console.is_dumb_terminal


@contextmanager
def shown(enabled: bool = True) -> Iterator[bool]:
    """Open the display on standard error for the duration, if enabled and on a terminal; yields
    whether it is open. Lines already finished stay on the screen afterwards."""
    if not enabled or _state.display is not None or not on_terminal():
        yield False
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class Count(ProgressColumn):
        """'done/total' for a line that counts, nothing for one that does not."""

        def render(self, task) -> Text:
            if not task.fields.get("counted") or task.total is None:
                return Text("")
            return Text(f"{int(task.completed)}/{int(task.total)}", style="progress.download")

    display = Progress(
        SpinnerColumn(finished_text="[green]✓"),
        TextColumn("{task.description}"),
        BarColumn(),
        Count(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        redirect_stdout=False,  # the command's own output is its business
    )
    with display:
        with _state.lock:
            _state.display, _state.current = display, None
        try:
            yield True
        finally:
            with _state.lock:
                _state.display, _state.current = None, None


def begin(description: str, total: int | None = None) -> None:
    """A new line for the step starting now; with `total`, it counts to it."""
    with _state.lock:
        if _state.display is None:
            return
        _state.current = _state.display.add_task(description, total=total, counted=total is not None)


def expect(total: int, description: str | None = None) -> None:
    """The current line counts to `total` from now on (and may change its text)."""
    with _state.lock:
        if _state.display is None or _state.current is None:
            return
        fields: dict[str, Any] = {"counted": True}
        if description is not None:
            fields["description"] = description
        _state.display.update(_state.current, total=total, **fields)


def advance(n: int = 1) -> None:
    """`n` more done on the current line."""
    with _state.lock:
        if _state.display is None or _state.current is None:
            return
        _state.display.advance(_state.current, n)


def end(description: str | None = None, *, ok: bool = True) -> None:
    """The current line's step is done (a line without a count gets its tick and stops its clock);
    `ok=False`: it stopped without finishing."""
    with _state.lock:
        if _state.display is None or _state.current is None:
            return
        fields: dict[str, Any] = {} if description is None else {"description": description}
        if ok:
            task = next(t for t in _state.display.tasks if t.id == _state.current)
            total = task.total if task.total is not None else 1
            _state.display.update(_state.current, total=total, completed=max(task.completed, total), **fields)
        else:
            _state.display.update(_state.current, **fields)
            _state.display.stop_task(_state.current)
        _state.current = None
