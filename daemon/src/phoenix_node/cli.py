"""`phoenix-node` command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from phoenix_node import __version__


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="phoenix-node", description="The Phoenix exit-node daemon."
    )
    parser.add_argument("--version", action="version", version=f"phoenix-node {__version__}")
    parser.parse_args(argv)
    parser.print_help()
    return 0
