"""How far a long command is: on a terminal a bar with the time left (rich), otherwise a plain line every
LOG_EVERY_SECONDS, so a log collector or a cron mail shows that the command is alive and how far it got.

Domain functions take a ``Progress`` and report to it; called from an HTTP handler they get ``SILENT``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TextIO

from rich.console import Console
from rich.filesize import decimal
from rich.progress import BarColumn, Progress as Bar, TaskID, TaskProgressColumn, TextColumn, TimeRemainingColumn

LOG_EVERY_SECONDS = 10.0


class Progress:
    """Where a long piece of work reports how far it is; this one shows nothing."""

    def phase(self, description: str, total: int, unit: str) -> None:
        """A new stage of ``total`` units (rows, bytes, ...); the stage before it is finished."""

    def advance(self, amount: int = 1) -> None:
        """``amount`` more units of the current stage done."""


SILENT = Progress()


def quantity(value: float, unit: str) -> str:
    return decimal(int(value)) if unit == "bytes" else f"{int(value):,} {unit}"


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


class LoggedProgress(Progress):
    """A line when a stage starts, every LOG_EVERY_SECONDS with the estimated time left, and when it ends."""

    def __init__(self, command: str, out: TextIO) -> None:
        self.command, self.out = command, out
        self.description: str | None = None

    def _line(self, text: str) -> None:
        print(f"{datetime.now():%Y-%m-%d %H:%M:%S} {self.command}: {self.description}: {text}", file=self.out,
              flush=True)

    def phase(self, description: str, total: int, unit: str) -> None:
        self.finish()
        self.description, self.total, self.unit, self.done = description, total, unit, 0
        self.started = self.logged = time.monotonic()
        self._line(f"0 of {quantity(total, unit)}")

    def advance(self, amount: int = 1) -> None:
        self.done += amount
        now = time.monotonic()
        if now - self.logged >= LOG_EVERY_SECONDS:
            self.logged = now
            share = self.done / self.total if self.total else 1
            left = (now - self.started) * (1 - share) / share if share else None
            self._line(f"{quantity(self.done, self.unit)} of {quantity(self.total, self.unit)} ({share:.0%})"
                       + (f", about {duration(left)} left" if left is not None else ""))

    def finish(self) -> None:
        if self.description is not None:
            self._line(f"done, {quantity(self.done, self.unit)} in {duration(time.monotonic() - self.started)}")
            self.description = None


class TerminalProgress(Progress):
    """A rich progress bar per stage, with the count and the estimated time left."""

    def __init__(self, command: str, out: TextIO) -> None:
        self.command = command
        self.bar = Bar(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                       TextColumn("{task.fields[amount]}"), TimeRemainingColumn(),
                       console=Console(file=out))
        self.task: TaskID | None = None

    def _show(self) -> None:
        task = self.bar.tasks[-1]
        self.bar.update(self.task, amount=f"{quantity(task.completed, self.unit)} of {quantity(task.total or 0, self.unit)}")

    def phase(self, description: str, total: int, unit: str) -> None:
        self.finish()
        self.unit = unit
        self.task = self.bar.add_task(f"{self.command}: {description}", total=total, amount="")
        self._show()

    def advance(self, amount: int = 1) -> None:
        self.bar.advance(self.task, amount)
        self._show()

    def finish(self) -> None:
        if self.task is not None:
            # An estimated total (lines of a file, bytes on disk) is what was done, in the end.
            self.bar.update(self.task, total=self.bar.tasks[-1].completed)
            self._show()
            self.task = None


@contextmanager
def shown(command: str, out: TextIO = sys.stderr) -> Iterator[Progress]:
    """A ``Progress`` for ``command`` shown on ``out`` (standard error: standard output keeps the result)."""
    if out.isatty():
        progress = TerminalProgress(command, out)
        with progress.bar:
            yield progress
            progress.finish()
    else:
        progress = LoggedProgress(command, out)
        yield progress
        progress.finish()
