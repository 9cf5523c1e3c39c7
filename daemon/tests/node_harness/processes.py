"""Running processes found by their program's name, as /proc lists them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def running(program: str) -> Iterator[tuple[int, list[str]]]:
    """The pid and arguments of each process whose argv[0] names ``program``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        argv = [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]
        if argv and Path(argv[0]).name == program:
            yield int(entry.name), argv
