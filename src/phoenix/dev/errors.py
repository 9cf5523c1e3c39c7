"""The one error development tooling reports: `phoenix dev` prints it as a single line."""

from __future__ import annotations


class DevError(Exception):
    pass
