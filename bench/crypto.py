"""Blind signing and token verification in process, against ``openssl speed rsa2048``.

DESIGN §7 and the issuer issue hold us to two ratios, measured in the same run on the same core:

- blind signatures/s (``BlindSigningKey.blind_sign`` on real RFC 9474 blinded messages, with its
  input checks, fresh blinding and self-check, on the backend the issuer uses by default)
  against ``openssl speed -seconds 3 rsa2048`` sign/s: goal >= 0.6x;
- token verifications/s (``privacypass.issuance.verify_token`` on a real type-2 token: RSASSA-PSS
  SHA-384 by ``cryptography``) against the same run's verify/s: goal >= 0.5x.

The gmpy2 fallback's blind signatures/s is reported too, without a goal. ``openssl speed`` and
this process are pinned to the same CPU (with ``taskset`` and ``sched_setaffinity``), both
single-threaded, and each of our figures is the mean over as many seconds as OpenSSL's.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Final

import msgspec
from cryptography.hazmat.primitives.asymmetric import rsa

from bench.report import Goal, Result
from bench.servers import BenchError
from phoenix.crypto import blind_rsa, rsa_raw
from phoenix.crypto.privacypass.issuance import (
    build_token_request,
    finalize_token,
    sign_token_request,
    verify_token,
)
from phoenix.crypto.privacypass.structures import TOKEN_TYPE_BLIND_RSA, Token, TokenChallenge
from phoenix.crypto.privacypass.token_key import VARIANT, TokenKey

SECONDS: Final = 3  # as `openssl speed -seconds 3`, for each of our measurements too
FALLBACK_SECONDS: Final = 1.5
WARMUP_SECONDS: Final = 0.3
MESSAGES: Final = 64
SIGN_GOAL: Final = Goal.ratio_at_least(0.6)
VERIFY_GOAL: Final = Goal.ratio_at_least(0.5)
SIGN_ANCHOR: Final = "openssl speed rsa2048 sign/s"
VERIFY_ANCHOR: Final = "openssl speed rsa2048 verify/s"


class OpenSSLSpeed(msgspec.Struct, frozen=True):
    sign_per_second: float
    verify_per_second: float


_RSA_LINE = re.compile(r"^rsa\s+2048\s+bits\s+(?P<values>.*)$")


def parse_openssl_speed(output: str) -> OpenSSLSpeed:
    """sign/s and verify/s from ``openssl speed rsa2048``'s table.

    OpenSSL 3.0 prints ``sign verify sign/s verify/s``; 3.2 and later add encrypt and decrypt
    columns, so the values are matched to the header line's names rather than to positions.
    """
    lines = output.splitlines()
    for index, line in enumerate(lines):
        match = _RSA_LINE.match(line.strip())
        if match is None or index == 0:
            continue
        names = lines[index - 1].split()
        values = match.group("values").split()
        if len(names) != len(values) or "sign/s" not in names or "verify/s" not in names:
            break
        columns = dict(zip(names, values, strict=True))
        return OpenSSLSpeed(float(columns["sign/s"]), float(columns["verify/s"]))
    raise BenchError(f"cannot read sign/s and verify/s from openssl speed:\n{output}")


def bench_cpu() -> int | None:
    """The CPU both sides run on, or None when this process cannot be pinned."""
    cpus = sorted(os.sched_getaffinity(0))
    if shutil.which("taskset") is None:
        return None
    return cpus[0]


def openssl_speed_rsa2048(cpu: int | None, seconds: int = SECONDS) -> tuple[OpenSSLSpeed, str]:
    """Run ``openssl speed -seconds N rsa2048`` (on ``cpu``); return its rates and version."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise BenchError("the openssl command is not installed (Debian package `openssl`)")
    argv = [openssl, "speed", "-seconds", str(seconds), "rsa2048"]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    completed = subprocess.run(
        argv, capture_output=True, text=True, timeout=4 * seconds + 60, check=False
    )
    if completed.returncode != 0:
        raise BenchError(f"openssl speed failed ({completed.returncode}): {completed.stderr}")
    version = subprocess.run(
        [openssl, "version"], capture_output=True, text=True, timeout=10, check=True
    ).stdout.strip()
    return parse_openssl_speed(completed.stdout), version


@contextlib.contextmanager
def pinned(cpu: int | None) -> Iterator[None]:
    """Run this process on ``cpu`` only, for the duration of the block."""
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def rate(operation: Callable[[int], object], count: int, seconds: float) -> float:
    """Operations per second: ``operation(i)`` for i = 0, 1, ... over ``seconds`` (mean)."""
    deadline = time.perf_counter() + WARMUP_SECONDS
    index = 0
    while time.perf_counter() < deadline:
        operation(index % count)
        index += 1
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for index in range(count):
            operation(index)
        done += count
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - started)


def blinded_messages(public_key: rsa.RSAPublicKey, count: int) -> list[bytes]:
    """Real RSABSSA-SHA384-PSS-Deterministic blinded messages, as clients send them."""
    variant = VARIANT
    return [
        blind_rsa.blind(public_key, secrets.token_bytes(98), variant=variant)[0]
        for _ in range(count)
    ]


def signs_per_second(signing_key: blind_rsa.BlindSigningKey, seconds: float) -> float:
    messages = blinded_messages(signing_key.public_key, MESSAGES)
    return rate(lambda index: signing_key.blind_sign(messages[index]), MESSAGES, seconds)


def real_token(
    signing_key: blind_rsa.BlindSigningKey,
) -> tuple[Token, TokenKey]:
    """A type-2 token issued the whole way: challenge, request, BlindSign, finalize."""
    token_key = TokenKey(signing_key.public_key)
    challenge = TokenChallenge(TOKEN_TYPE_BLIND_RSA, "issuer.example", b"", "origin.example")
    request, state = build_token_request(challenge, token_key)
    response = sign_token_request(signing_key, request)
    return finalize_token(response, state), token_key


def verifies_per_second(signing_key: blind_rsa.BlindSigningKey, seconds: float) -> float:
    token, token_key = real_token(signing_key)
    verify_token(token, token_key)  # raises if the token does not verify
    return rate(lambda _: verify_token(token, token_key), MESSAGES, seconds)


def _note(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def run() -> Sequence[Result]:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signing_key = blind_rsa.BlindSigningKey(private_key)
    backend = signing_key.backend
    fallback = blind_rsa.BlindSigningKey(private_key, backend="gmp")
    cpu = bench_cpu()
    libcrypto = rsa_raw.libcrypto_version() if rsa_raw.available() else "no libcrypto"
    _note(
        f"{'cpu ' + str(cpu) if cpu is not None else 'not pinned'}; BlindSign backend {backend}"
        f" ({libcrypto}); load average {os.getloadavg()[0]:.2f}"
    )
    anchor, version = openssl_speed_rsa2048(cpu)
    _note(
        f"{version}: openssl speed -seconds {SECONDS} rsa2048: {anchor.sign_per_second:,.1f} "
        f"sign/s, {anchor.verify_per_second:,.1f} verify/s"
    )
    with pinned(cpu):
        signs = signs_per_second(signing_key, SECONDS)
        verifies = verifies_per_second(signing_key, SECONDS)
        fallback_signs = signs_per_second(fallback, FALLBACK_SECONDS)
    _note(
        f"blind_sign ({backend}) {signs:,.1f}/s; verify_token {verifies:,.1f}/s; "
        f"blind_sign (gmp) {fallback_signs:,.1f}/s"
    )
    return [
        Result(
            figure=f"crypto: blind signatures/s in process ({backend})",
            value=round(signs, 1),
            unit="sign/s",
            anchor=SIGN_ANCHOR,
            anchor_value=anchor.sign_per_second,
            goal=SIGN_GOAL,
        ),
        Result(
            figure="crypto: token verifications/s (verify_token)",
            value=round(verifies, 1),
            unit="verify/s",
            anchor=VERIFY_ANCHOR,
            anchor_value=anchor.verify_per_second,
            goal=VERIFY_GOAL,
        ),
        Result(
            figure="crypto: blind signatures/s in process (gmp fallback)",
            value=round(fallback_signs, 1),
            unit="sign/s",
            anchor=SIGN_ANCHOR,
            anchor_value=anchor.sign_per_second,
        ),
    ]
