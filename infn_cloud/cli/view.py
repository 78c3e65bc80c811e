"""Terminal rendering shared by the commands: the progress view options, aligned tables.

Tables are drawn with `rich`: on a terminal the status column is coloured (NO_COLOR honoured);
elsewhere (pipes, CI) the same aligned columns come out without any escape code and without
wrapping, so ``infn-cloud list | grep`` and ``awk`` keep working.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from infn_cloud.deploy.progress import ProgressView

STATUS_STYLES = {
    "COMPLETE": "green",
    "IN_PROGRESS": "cyan",
    "FAILED": "bold red",
    "ok": "green",
    "running": "cyan",
    "failed": "bold red",
    "cancelled": "yellow",
    "interrupted": "yellow",
    "forced": "yellow",
}


def add_view_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quiet", action="store_true", help="no progress output")
    group.add_argument(
        "--plain",
        action="store_true",
        help="one line per phase event, no live view and no ANSI codes (the default when stderr "
        "is not a terminal)",
    )
    group.add_argument("--verbose", action="store_true", help="also one line per task and host")


def make_view(args: argparse.Namespace, stream: TextIO | None = None) -> ProgressView:
    mode = None
    if getattr(args, "quiet", False):
        mode = "quiet"
    elif getattr(args, "verbose", False):
        mode = "verbose"
    elif getattr(args, "plain", False):
        mode = "plain"
    return ProgressView(stream=stream, mode=mode)


def status_style(status: str | None) -> str:
    for suffix, style in STATUS_STYLES.items():
        if status and (status == suffix or status.endswith(suffix)):
            return style
    return ""


def console(stream: TextIO | None = None):
    from rich.console import Console

    stream = stream or sys.stdout
    tty = hasattr(stream, "isatty") and stream.isatty()
    # Not a terminal: never wrap or truncate (rich would assume 80 columns), no colours.
    return Console(
        file=stream,
        width=None if tty else 1000,
        color_system="auto" if tty else None,
        force_terminal=tty,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=not tty,
    )


def table(columns: list[str], rows: list[list], status_column: str | None = None, indent: int = 0):
    """An aligned table without borders; ``status_column`` cells are coloured by status."""
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    grid = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 2, 0, 0), show_edge=False)
    for name in columns:
        grid.add_column(name, no_wrap=True, overflow="fold")
    index = columns.index(status_column) if status_column in columns else None
    for row in rows:
        cells = ["-" if v is None or v == "" else str(v) for v in row]
        rendered = [Text(c, style=status_style(c) if i == index else "") for i, c in enumerate(cells)]
        grid.add_row(*rendered)
    return Padding(grid, (0, 0, 0, indent), expand=False) if indent else grid


def print_table(
    columns: list[str], rows: list[list], status_column: str | None = None, stream: TextIO | None = None
) -> None:
    print_renderable(table(columns, rows, status_column), stream)


def print_renderable(renderable, stream: TextIO | None = None) -> None:
    """Print a rich renderable; off a terminal without the trailing spaces that pad table cells."""
    out = console(stream)
    if out.is_terminal:
        out.print(renderable)
        return
    with out.capture() as captured:
        out.print(renderable)
    out.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
