"""One bounded schemathesis run against a live role's own OpenAPI document (its CLI, so that a
failure prints exactly what schemathesis prints, with a curl line to reproduce it)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

# What must hold of every answer. Not yet: status_code_conformance, positive_data_acceptance and
# content_type_conformance, since the documents list neither the 401/404/415 problem answers nor
# that a 400 is application/problem+json (docs/hardening.md).
CHECKS: Final = os.environ.get(
    "PHOENIX_SCHEMATHESIS_CHECKS",
    "not_a_server_error,response_schema_conformance,response_headers_conformance,"
    "negative_data_rejection,ignored_auth",
)
# Per run, in `make test`; `make soak` and a developer may raise them.
MAX_EXAMPLES: Final = int(os.environ.get("PHOENIX_SCHEMATHESIS_EXAMPLES", "10"))
MAX_SECONDS: Final = int(os.environ.get("PHOENIX_SCHEMATHESIS_SECONDS", "15"))


def schemathesis(
    base_url: str,
    *options: str,
    headers: dict[str, str] | None = None,
    checks: str = CHECKS,
    seed: int = 11,
) -> subprocess.CompletedProcess[str]:
    """Run CHECKS on every operation (or those ``options`` select); exit 0: none failed."""
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{base_url}/schema/openapi.json",
        f"--checks={checks}",
        f"--max-examples={MAX_EXAMPLES}",
        f"--max-time={MAX_SECONDS}",
        f"--seed={seed}",
        "--request-timeout=20",
        "--no-color",
        "--generation-database=none",  # seeded and repeatable; writes no cache into the tree
        *options,
    ]
    for name, value in (headers or {}).items():
        command.append(f"--header={name}: {value}")
    with tempfile.TemporaryDirectory() as scratch:  # its crash cache, not in the source tree
        return subprocess.run(
            command,
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=MAX_SECONDS * 4 + 60,
            check=False,
            env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
        )


def report(result: subprocess.CompletedProcess[str]) -> str:
    """The part of schemathesis's output that says what failed, for an assertion message."""
    return (result.stdout[-12000:] + result.stderr[-2000:]).strip()
