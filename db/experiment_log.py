"""The experiment log: one line per event, shared by the controller, dispatcher and console.

    YYYY-MM-DD HH:MM:SS | <experiment> | <component> | <LEVEL> | <message>

Components: `controller`, `interactive-control`, `dispatcher`, `console`.
Times are UTC. The file is `<experiment path>/logs/experiment.log`; writers append
whole lines with O_APPEND, so lines from several processes never interleave.
Readers tail it from the end without reading the whole file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

# The components that write the log (its fourth field); the IC-log route returns the
# INTERACTIVE_CONTROL lines.
CONTROLLER = "controller"
INTERACTIVE_CONTROL = "interactive-control"
DISPATCHER = "dispatcher"
CONSOLE = "console"

LOG_FOLDER = "logs"
LOG_FILE = "experiment.log"
_BLOCK = 64 * 1024


def log_file(experiment_path: str | os.PathLike[str]) -> Path:
    return Path(experiment_path) / LOG_FOLDER / LOG_FILE


def format_line(experiment: str, component: str, level: str, message: str,
                when: datetime | None = None) -> str:
    stamp = (when or datetime.now(timezone.utc)).astimezone(timezone.utc)
    one_line = " ".join(str(message).splitlines())
    return f"{stamp:%Y-%m-%d %H:%M:%S} | {experiment} | {component} | {level.upper()} | {one_line}"


def append(experiment_path: str | os.PathLike[str], experiment: str, component: str,
           level: str, message: str) -> str:
    """Append one event line (returned); creates the logs folder when needed."""
    line = format_line(experiment, component, level, message)
    append_line(log_file(experiment_path), line)
    return line


def append_line(path: str | os.PathLike[str], line: str) -> None:
    """Append one whole line to `path` with a single O_APPEND write (creating its folder)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    try:
        fd = os.open(path, flags, 0o644)
    except FileNotFoundError:  # the folder is made once, not looked up for every line
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
    finally:
        os.close(fd)


def component_of(line: str) -> str | None:
    parts = line.split(" | ", 4)
    return parts[2] if len(parts) == 5 else None


def _lines_backwards(path: Path) -> Iterator[str]:
    """The file's lines, last first, reading fixed-size blocks from the end."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        rest = b""
        while position > 0:
            size = min(_BLOCK, position)
            position -= size
            handle.seek(position)
            chunk = handle.read(size) + rest
            lines = chunk.split(b"\n")
            rest = lines[0]
            for raw in reversed(lines[1:]):
                if raw:
                    yield raw.decode("utf-8", errors="replace")
        if rest:
            yield rest.decode("utf-8", errors="replace")


def tail(path: str | os.PathLike[str], limit: int | None = None,
         component: str | None = None) -> list[str]:
    """The last `limit` lines (all when None), oldest first, optionally of one component.

    A missing file is an empty log.
    """
    path = Path(path)
    if not path.is_file():
        return []
    picked: list[str] = []
    if limit == 0:
        return picked
    for line in _lines_backwards(path):
        if component is not None and component_of(line) != component:
            continue
        picked.append(line)
        if limit is not None and len(picked) >= limit:
            break
    picked.reverse()
    return picked
