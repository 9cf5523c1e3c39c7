"""Byte and text mutations of valid encodings: random bytes rarely get past a length prefix,
a valid message with a few bytes changed reaches every branch of a decoder."""

from __future__ import annotations

from hypothesis import strategies as st

# Values that sit on the edges of length prefixes, varints and ASCII checks.
EDGE_BYTES = (0x00, 0x01, 0x20, 0x22, 0x2C, 0x3D, 0x40, 0x7F, 0x80, 0xC0, 0xFF)


@st.composite
def mutated(draw: st.DrawFn, seeds: st.SearchStrategy[bytes], most: int = 4) -> bytes:
    """A seed with 0 to ``most`` edits: set, insert, delete, truncate or repeat a slice."""
    data = bytearray(draw(seeds))
    for _ in range(draw(st.integers(0, most))):
        edit = draw(st.sampled_from(("set", "insert", "delete", "truncate", "repeat")))
        at = draw(st.integers(0, len(data)))
        value = draw(st.sampled_from(EDGE_BYTES) | st.integers(0, 255))
        if edit == "set" and at < len(data):
            data[at] = value
        elif edit == "insert":
            data.insert(at, value)
        elif edit == "delete" and at < len(data):
            del data[at]
        elif edit == "truncate":
            del data[at:]
        elif edit == "repeat":
            end = draw(st.integers(at, min(len(data), at + 64)))
            data[at:at] = data[at:end]
    return bytes(data)


def mutated_text(seeds: st.SearchStrategy[str], most: int = 4) -> st.SearchStrategy[str]:
    """The same edits on text (latin-1 keeps one character per byte)."""
    as_bytes = seeds.map(lambda text: text.encode("latin-1", "replace"))
    return mutated(as_bytes, most).map(lambda data: data.decode("latin-1"))
