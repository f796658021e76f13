"""What the CLI shows on the terminal, through rich: edgec's log records (progress bars for
records that carry ``progress``, one line otherwise) and tables. --verbose / --quiet are log levels."""
from __future__ import annotations

import logging
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgec.log import LOGGER, QuarterSteps

stderr = Console(stderr=True, highlight=False)
# Piped (a log, grep): rows as long as they are, not cut to 80 columns.
stdout = Console(highlight=False, width=None if sys.stdout.isatty() else 1000)


class RichHandler(logging.Handler):
    """A bar per progress loop on a terminal (lines when piped), other records as lines."""

    def __init__(self, console: Console = stderr) -> None:
        super().__init__()
        self.console, self.bars, self.tasks = console, None, {}
        if not console.is_terminal:
            self.addFilter(QuarterSteps())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            p = getattr(record, "progress", None)
            if p is not None and self.console.is_terminal:
                self._progress(record, *p)
                return
            prefix = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
            self.console.print(f"[edgec] {prefix}{record.getMessage()}", markup=False)
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)

    def _progress(self, record: logging.LogRecord, done: int, total: int) -> None:
        if self.bars is None:
            self.bars = Progress(TextColumn("\\[edgec] {task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=self.console, transient=True)
            self.bars.start()
        what = str(record.args[0]) if record.args else record.name  # edgec.log.progress(log, what, done, total)
        key = (record.name, what)
        if key not in self.tasks:
            self.tasks[key] = self.bars.add_task(what, total=total)
        self.bars.update(self.tasks[key], completed=done, total=total)
        if done >= total:
            self.bars.remove_task(self.tasks.pop(key))
            if not self.tasks:
                self.bars.stop()
                self.bars = None


def setup(verbose: int = 0, quiet: bool = False) -> None:
    """The CLI's logging: INFO (progress) by default, DEBUG with --verbose, WARNING with --quiet."""
    for h in [h for h in LOGGER.handlers if isinstance(h, RichHandler)]:
        LOGGER.removeHandler(h)
    LOGGER.addHandler(RichHandler())
    LOGGER.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    LOGGER.propagate = False  # the CLI owns the output: no second copy through a root handler


def quiet() -> None:
    """--quiet / --json on a subcommand: warnings and errors only."""
    LOGGER.setLevel(logging.WARNING)


def table(columns: list[str], rows: list[list], right: tuple[int, ...] = ()) -> None:
    """A plain table on stdout (no box: easy to read in logs and to grep)."""
    t = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    for i, c in enumerate(columns):
        t.add_column(c, justify="right" if i in right else "left", no_wrap=i < len(columns) - 1)
    for r in rows:
        t.add_row(*[str(x) for x in r])
    with stdout.capture() as out:
        stdout.print(t)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in out.get().splitlines()))
