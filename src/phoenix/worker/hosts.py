"""The hosts-file format of the StevenBlack lists, parsed into normalised, unique names.

Only blocking lines count (``0.0.0.0 name`` or ``127.0.0.1 name``, several names allowed); the
header's ``localhost``/``broadcasthost``/``::1`` entries and anything else are skipped. A file that
does not look like a hosts file at all fails loudly instead of publishing a broken filter.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final

import idna

BLOCKING_ADDRESSES: Final = frozenset({"0.0.0.0", "127.0.0.1"})  # noqa: S104 - file content
# Names every hosts file maps to itself; blocking them would break the device, not an ad.
LOCAL_NAMES: Final = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "local",
        "broadcasthost",
        "ip6-localhost",
        "ip6-loopback",
        "ip6-localnet",
        "ip6-mcastprefix",
        "ip6-allnodes",
        "ip6-allrouters",
        "ip6-allhosts",
        "0.0.0.0",  # noqa: S104 - file content
    }
)
# Matched whole (fullmatch: "$" would let a label end in a newline), so every name published is
# plain ASCII labels joined by dots: safe as a line of the names file and of a resolver config.
_LABEL: Final = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
MAX_NAME: Final = 253
# Share of non-comment lines that may be something other than "address name…" (the odd typo)
# before the file counts as not a hosts file at all.
MAX_FOREIGN_SHARE: Final = 0.1


class NotAHostsFile(ValueError):
    """The body is empty, truncated, HTML or otherwise not a hosts file."""


@dataclass(frozen=True)
class Parsed:
    names: frozenset[str]
    entries: int  # blocking entries seen, duplicates and skipped names included
    skipped: int  # localhost-type or invalid names


def normalise(raw: str) -> str | None:
    """The form a name is stored and looked up in: punycode, lowercase, no trailing dot.

    Only labels of ``[a-z0-9_-]`` (no hyphen at either end, 1-63 characters) joined by dots, at
    most 253 characters, come out; None for a localhost-type name, an address, or anything else.
    """
    name = raw.strip().rstrip(".").lower()
    if not name or name in LOCAL_NAMES:
        return None
    if not name.isascii():
        try:
            # UTS #46 mapping, as browsers do, then IDNA 2008 to the xn-- form.
            name = idna.encode(name, uts46=True).decode("ascii")
        except idna.IDNAError:
            return None
    if len(name) > MAX_NAME:
        return None
    labels = name.split(".")
    # One label (a bare TLD or "router") is no public name; an all-digit last label is an address.
    if len(labels) < 2 or labels[-1].isdigit():
        return None
    if not all(_LABEL.fullmatch(label) for label in labels):
        return None
    return name


def _is_address(field: str) -> bool:
    try:
        ipaddress.ip_address(field.split("%", 1)[0])
    except ValueError:
        return False
    return True


def parse(text: str) -> Parsed:
    if not text.strip():
        raise NotAHostsFile("the file is empty")
    if text.lstrip()[:1] == "<":
        raise NotAHostsFile("the file is markup (HTML or XML), not a hosts file")
    if not text.endswith("\n"):
        # A cut-off download would otherwise add a truncated last name.
        raise NotAHostsFile("the file is truncated: its last line has no newline")
    names: set[str] = set()
    entries = skipped = foreign = content_lines = 0
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        content_lines += 1
        if fields[0] not in BLOCKING_ADDRESSES or len(fields) < 2:
            # Other addresses (the header's ::1, fe80::1%lo0) are hosts lines that block nothing.
            foreign += not _is_address(fields[0]) or len(fields) < 2
            continue
        for raw in fields[1:]:
            entries += 1
            name = normalise(raw)
            if name is None:
                skipped += 1
            else:
                names.add(name)
    if foreign > MAX_FOREIGN_SHARE * content_lines:
        raise NotAHostsFile(f"{foreign} of {content_lines} lines are not hosts entries")
    if not names:
        raise NotAHostsFile("the file names no blockable host")
    return Parsed(names=frozenset(names), entries=entries, skipped=skipped)
