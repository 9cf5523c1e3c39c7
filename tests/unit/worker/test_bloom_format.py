"""The filter format is a public contract: a reader written from docs/bloom-format.md alone.

``spec_lookup`` below is deliberately not ``phoenix.worker.bloom``: it follows the document step by
step (header offsets, SHA-256 blocks, bit order), as a client team would. The golden vectors must
hold for it, and it must agree with the worker's own builder and reader.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import struct
from pathlib import Path

import idna
import pytest

from phoenix.worker import bloom

VECTORS = Path(__file__).resolve().parents[3] / "docs" / "bloom-golden-vectors.json"


def spec_normalise(name: str) -> str:
    name = name.strip()
    name = name.removesuffix(".")
    if not name.isascii():
        name = idna.encode(name, uts46=True).decode()
    return name.lower()


def spec_lookup(data: bytes, typed: str) -> bool:
    assert data[0:4] == b"PXBF"
    assert (data[4], data[5]) == (1, 1)  # version 1, hash 1
    k = data[6]
    m = int.from_bytes(data[8:16], "big")
    assert len(data) == 32 + math.ceil(m / 8)
    name = spec_normalise(typed).encode("ascii")
    words: list[int] = []
    j = 0
    while len(words) < k:
        digest = hashlib.sha256(bytes([j]) + name).digest()
        words += [int.from_bytes(digest[4 * w : 4 * w + 4], "big") for w in range(8)]
        j += 1
    for i in range(k):
        index = words[i] % m
        if not data[32 + index // 8] & (1 << (index % 8)):
            return False
    return True


@pytest.fixture(scope="module")
def vectors() -> dict[str, object]:
    loaded: dict[str, object] = json.loads(VECTORS.read_text())
    return loaded


def test_the_golden_filter_matches_its_digest_and_header(vectors: dict) -> None:
    data = base64.b64decode(vectors["filter_base64"])
    assert hashlib.sha256(data).hexdigest() == vectors["filter_sha256"]
    k, m, n = data[6], *struct.unpack(">QQ", data[8:24])
    assert (k, m, n) == (vectors["k"], vectors["m"], vectors["n"])
    assert struct.unpack(">d", data[24:32])[0] == vectors["p"]


def test_a_reader_from_the_spec_gives_every_golden_answer(vectors: dict) -> None:
    data = base64.b64decode(vectors["filter_base64"])
    answers = [[name, spec_lookup(data, name)] for name, _ in vectors["lookups"]]
    assert answers == vectors["lookups"]
    # The vectors must exercise both answers, and false positives too, or they prove little.
    probes = [answer for name, answer in vectors["lookups"] if name.startswith("probe")]
    assert True in probes
    assert False in probes


def test_the_golden_indices_follow_the_spec(vectors: dict) -> None:
    for name, expected in vectors["indices"]:
        assert bloom.indices(name.encode(), vectors["k"], vectors["m"]) == expected
        data = base64.b64decode(vectors["filter_base64"])
        assert spec_lookup(data, name)


def test_the_builder_reproduces_the_golden_filter_byte_for_byte(vectors: dict) -> None:
    rebuilt = bloom.build(vectors["inserted"], vectors["p"])
    assert base64.b64encode(rebuilt).decode() == vectors["filter_base64"]


def test_the_spec_reader_and_the_worker_reader_agree_on_a_large_filter() -> None:
    rng = random.Random(9)
    members = [f"m{rng.getrandbits(40):x}.example.com" for _ in range(3000)]
    data = bloom.build(members, 1e-3)
    reader = bloom.BloomFilter(data)
    probes = members[:500] + [f"x{rng.getrandbits(40):x}.example.net" for _ in range(3000)]
    for name in probes:
        assert spec_lookup(data, name) == (name in reader)
    assert all(spec_lookup(data, name) for name in members)


def test_bits_past_m_are_zero_and_the_length_is_exact() -> None:
    data = bloom.build([f"n{i}.example.com" for i in range(100)], 0.3)
    m = int.from_bytes(data[8:16], "big")
    assert len(data) == 32 + math.ceil(m / 8)
    if m % 8:
        assert data[-1] >> (m % 8) == 0


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: b"XXXX" + d[4:],
        lambda d: d[:4] + b"\x02" + d[5:],
        lambda d: d[:-1],
        lambda d: d[:20],
    ],
    ids=["magic", "version", "length", "header"],
)
def test_the_reader_refuses_bytes_that_are_not_a_version_1_filter(damage) -> None:
    data = bloom.build(["a.example.com"], 0.01)
    with pytest.raises(bloom.FilterFormatError):
        bloom.BloomFilter(damage(data))


def test_sizing_is_the_optimum_rounded_up() -> None:
    params = bloom.size_for(200_000, 1e-6)
    optimum = -200_000 * math.log(1e-6) / math.log(2) ** 2
    assert optimum <= params.m < optimum + 1
    assert params.k == 20


@pytest.mark.parametrize(("n", "p"), [(0, 1e-6), (10, 0.0), (10, 1.0), (10**9, 1e-9)])
def test_sizes_outside_the_format_are_refused(n: int, p: float) -> None:
    with pytest.raises(ValueError, match=r"."):
        bloom.size_for(n, p)
