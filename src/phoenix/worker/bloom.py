"""The blocklist's Bloom filter: sizing, building, the binary format and lookups.

The format is a public contract (``docs/bloom-format.md``): every client platform reads it with
nothing but SHA-256 and integer arithmetic below 2**53, so a JavaScript, Swift or Kotlin reader
needs no extra library. Pure functions over bytes, no I/O.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from phoenix.worker.hosts import normalise

MAGIC: Final = b"PXBF"
VERSION: Final = 1
HASH_SHA256_BLOCKS: Final = 1
HEADER = struct.Struct(">4sBBBBQQd")  # magic, version, hash, k, reserved(1), m, n, p
HEADER_SIZE: Final = HEADER.size  # 32 bytes
# Indices are 32-bit words taken mod m; m stays below 2**31 so the modulo bias is negligible and
# a reader without 64-bit integers (JavaScript numbers) never overflows.
MAX_BITS: Final = 2**31 - 1
MAX_K: Final = 64
WORDS_PER_BLOCK: Final = 8  # a SHA-256 digest is eight 32-bit words
_WORDS = struct.Struct(">8I")


class FilterFormatError(ValueError):
    """Bytes that are not a filter this reader understands."""


@dataclass(frozen=True)
class Parameters:
    n: int
    p: float
    m: int  # bits
    k: int  # indices per name


def optimal_bits(n: int, p: float) -> float:
    """The optimum size of a Bloom filter for n names at false-positive rate p, in bits."""
    return -n * math.log(p) / (math.log(2) ** 2)


def size_for(n: int, p: float) -> Parameters:
    """m and k for ``n`` names at false-positive rate ``p`` (m is the optimum rounded up)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"the false-positive rate must be between 0 and 1, not {p}")
    if n < 1:
        raise ValueError("a filter needs at least one name")
    m = max(8, math.ceil(optimal_bits(n, p)))
    if m > MAX_BITS:
        raise ValueError(f"{n} names at p={p} need {m} bits, above the format's {MAX_BITS}")
    k = min(MAX_K, max(1, round(m / n * math.log(2))))
    return Parameters(n=n, p=p, m=m, k=k)


def indices(name: bytes, k: int, m: int) -> list[int]:
    """The k bit positions of a normalised name (ASCII bytes), as the format specifies.

    Block j is SHA-256(byte j || name); index i is the i-th big-endian 32-bit word of the
    concatenated blocks, modulo m. Independent words, not double hashing: the false-positive rate
    then matches the textbook formula even for large k.
    """
    out: list[int] = []
    block = 0
    while len(out) < k:
        words = _WORDS.unpack(hashlib.sha256(bytes((block,)) + name).digest())
        out.extend(word % m for word in words[: k - len(out)])
        block += 1
    return out


def build(names: Iterable[str], p: float) -> bytes:
    """The filter file (header, bit array) holding every name of ``names`` (normalised, unique)."""
    encoded = [name.encode("ascii") for name in names]
    parameters = size_for(len(encoded), p)
    m, k = parameters.m, parameters.k
    bits = bytearray((m + 7) // 8)
    for name in encoded:
        for index in indices(name, k, m):
            bits[index >> 3] |= 1 << (index & 7)
    header = HEADER.pack(MAGIC, VERSION, HASH_SHA256_BLOCKS, k, 0, m, len(encoded), p)
    return header + bytes(bits)


class BloomFilter:
    """A reader of the binary format: ``name in filter``."""

    def __init__(self, data: bytes) -> None:
        if len(data) < HEADER_SIZE:
            raise FilterFormatError("shorter than the header")
        magic, version, hash_id, k, _, m, n, p = HEADER.unpack_from(data)
        if magic != MAGIC:
            raise FilterFormatError("not a Phoenix Bloom filter (bad magic)")
        if version != VERSION or hash_id != HASH_SHA256_BLOCKS:
            raise FilterFormatError(f"unsupported version {version} / hash {hash_id}")
        if not 1 <= k <= MAX_K or not 1 <= m <= MAX_BITS:
            raise FilterFormatError(f"k={k} or m={m} out of range")
        if len(data) != HEADER_SIZE + (m + 7) // 8:
            raise FilterFormatError("the bit array's length does not match m")
        self.parameters = Parameters(n=n, p=p, m=m, k=k)
        self._bits = memoryview(data)[HEADER_SIZE:]

    def __contains__(self, name: object) -> bool:
        """Whether ``name`` may be listed (normalised first, as clients must do too)."""
        normal = normalise(name) if isinstance(name, str) else None
        if normal is None:
            return False
        return self.contains_normalised(normal)

    def contains_normalised(self, name: str) -> bool:
        bits, m, k = self._bits, self.parameters.m, self.parameters.k
        return all(bits[index >> 3] & (1 << (index & 7)) for index in indices(name.encode(), k, m))
