"""Every name the parser keeps is a plain host name: one line of the names file exit nodes load.

Each name becomes an NXDOMAIN zone in the node's resolver configuration, so nothing but lowercase
ASCII labels of letters, digits, ``_`` and ``-`` joined by dots may come out of the parser.
"""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from phoenix.worker.hosts import NotAHostsFile, normalise, parse

# Labels of 1-63 characters, no hyphen at either end; at least two labels; at most 253 in all.
HOST_NAME = re.compile(
    r"(?=.{1,253}\Z)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
    r"(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)+\Z"
)
# Near-names: the pieces of real names with the characters that must never get through.
labels = st.text(alphabet="aZ9_-ü.\n\r\t \x00*/\\", min_size=0, max_size=8)
near_names = st.lists(labels, min_size=1, max_size=5).map(".".join)


@given(near_names | st.text(max_size=40))
@example("a\n.example.com")
@example("ads.example.com\n")
@example("x" * 63 + "." + "y" * 63 + "." + "z" * 63 + "." + "w" * 61 + ".com")
def test_a_normalised_name_is_a_plain_lowercase_host_name(raw: str) -> None:
    name = normalise(raw)
    assert name is None or HOST_NAME.match(name), repr(name)


def test_a_label_ending_in_a_newline_is_refused_not_kept() -> None:
    assert normalise("a\n.example.com") is None
    assert normalise("ads.example.com\n") == "ads.example.com"  # outer whitespace is stripped


@given(st.lists(near_names, min_size=1, max_size=20))
def test_every_parsed_name_is_one_valid_line(names: list[str]) -> None:
    text = "".join(f"0.0.0.0 {name}\n" for name in [*names, "kept.example.com"])
    try:
        parsed = parse(text)
    except NotAHostsFile:  # too many broken lines: refused whole, which is safe too
        return
    for name in parsed.names:
        assert HOST_NAME.match(name), repr(name)
        assert name.splitlines() == [name]
