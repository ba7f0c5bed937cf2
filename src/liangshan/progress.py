"""Progress bars for long CLI steps; services take a plain ``(message, fraction)`` callback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

ProgressCallback = Callable[[str, float], None]


@contextmanager
def progress_bar(title: str) -> Iterator[ProgressCallback]:
    """A rich progress bar; yields a callback ``report(message, fraction 0–1)``."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                  TextColumn("{task.fields[step]}")) as bar:
        task = bar.add_task(title, total=1.0, step="")

        def report(message: str, fraction: float) -> None:
            bar.update(task, completed=max(0.0, min(1.0, fraction)), step=message)

        yield report
        bar.update(task, completed=1.0)
