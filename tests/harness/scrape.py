"""Reading a role's ``/metrics`` as Prometheus would, and the checks every exposition passes.

``label_leaks`` is the privacy sweep (docs/metrics.md): every label of every series is one of
the names the project uses for aggregates, and no label value looks like an address, a key, a
UUID, a token, or equals one of the test's own secrets.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from collections.abc import Iterable
from typing import Any, Final

from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from phoenix.common.web import ops_app
from tests.conftest import require

# Our aggregates' labels, and those of prometheus_client's process, platform and GC collectors.
LABEL_NAMES: Final = frozenset(
    {
        "app_name", "method", "path", "status_code", "role", "version", "signing_backend",
        "outcome", "reason", "status", "location", "task", "actor", "op", "what", "le",
        "generation", "implementation", "major", "minor", "patchlevel",
    }
)  # fmt: skip
_KEY: Final = re.compile(r"[A-Za-z0-9+/_-]{43}=?")  # 32 bytes in (url-safe) base64
_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_LONG_HEX: Final = re.compile(r"[0-9a-f]{24,}", re.I)  # digests, nonces, ids


async def scrape(app: Litestar) -> str:
    """The ``/metrics`` text of ``app``'s operations app."""
    async with AsyncTestClient(ops_app(app), timeout=30) as ops:
        answer = await ops.get("/metrics")
    assert answer.status_code == 200, answer.text
    return answer.text


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the sample ``name`` with exactly these labels (``le`` included), or 0."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return 0.0


def label_values(text: str) -> list[tuple[str, str, str]]:
    """(series, label, value) of every sample."""
    return [
        (found.name, label, value)
        for family in text_string_to_metric_families(text)
        for found in family.samples
        for label, value in found.labels.items()
    ]


def label_leaks(text: str, secrets: Iterable[str] = ()) -> list[Any]:
    """Every label that is not an aggregate's, or whose value could identify someone."""
    secrets = [s for s in secrets if s]
    leaks: list[Any] = []
    for series, label, value in label_values(text):
        if label not in LABEL_NAMES:
            leaks.append((series, label, value, "label name"))
        elif _address(value) or _KEY.search(value) or _UUID.search(value):
            leaks.append((series, label, value, "identifier"))
        elif _LONG_HEX.search(value) or any(s in value for s in secrets):
            leaks.append((series, label, value, "secret"))
    return leaks


def _address(value: str) -> bool:
    for word in re.split(r"[\s/\[\]]+", value):
        try:
            ipaddress.ip_address(word)
        except ValueError:
            continue
        return True
    return False


def promtool_problems(text: str) -> str:
    """What ``promtool check metrics`` says of ``text``: empty when it passes."""
    promtool = shutil.which("promtool")
    require("promtool", promtool is not None, "apt-get install prometheus (make deps does)")
    assert promtool is not None
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    return "" if done.returncode == 0 else (done.stdout + done.stderr).strip()
