"""One bounded schemathesis run against a live role's own OpenAPI document (its CLI, so that a
failure prints exactly what schemathesis prints, with a curl line to reproduce it). The document
comes from the role's ops port; the requests go to its public port, which it describes."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

from tests.harness.processes import RoleServer

# What must hold of every answer: its status, content type, body and headers as documented, no
# 5xx, invalid data refused, valid data accepted (see `refuses_valid_data` for the exceptions).
CHECKS: Final = os.environ.get(
    "PHOENIX_SCHEMATHESIS_CHECKS",
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,response_headers_conformance,negative_data_rejection,"
    "positive_data_acceptance,ignored_auth",
)
ROOT: Final = Path(__file__).resolve().parents[3]
# Per run, in `make test`; `make soak` and a developer may raise them.
MAX_EXAMPLES: Final = int(os.environ.get("PHOENIX_SCHEMATHESIS_EXAMPLES", "10"))
MAX_SECONDS: Final = int(os.environ.get("PHOENIX_SCHEMATHESIS_SECONDS", "15"))


def schemathesis(
    server: RoleServer,
    *options: str,
    headers: dict[str, str] | None = None,
    checks: str = CHECKS,
    seed: int = 11,
    refuses_valid_data: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run CHECKS on every operation (or those ``options`` select); exit 0: none failed.

    ``refuses_valid_data``: operation ("GET /path") → why schema-valid random data cannot be
    accepted there (a signature, a cursor the server made); positive_data_acceptance skips it.
    """
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file=schemathesis.toml",
        "run",
        f"{server.ops_url}/schema/openapi.json",
        f"--url={server.base_url}",
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
        config = _config(checks.split(","), refuses_valid_data or {})
        (Path(scratch) / "schemathesis.toml").write_text(config)
        return subprocess.run(
            command,
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=MAX_SECONDS * 4 + 60,
            check=False,
            env={
                **os.environ,
                "SCHEMATHESIS_TELEMETRY": "false",
                "SCHEMATHESIS_HOOKS": "tests.integration.hardening.schemathesis_hooks",
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
                ),
            },
        )


def _config(checks: list[str], refuses_valid_data: dict[str, str]) -> str:
    """The checks in the config file, not on the command line: there they would override the
    per-operation exceptions."""
    enabled = "".join(f"checks.{name}.enabled = true\n" for name in checks)
    sections = ["checks.enabled = false\n" + enabled] + [
        f'[[operations]]\n# {why}\ninclude-name = "{name}"\n'
        "checks.positive_data_acceptance.enabled = false\n"
        for name, why in refuses_valid_data.items()
    ]
    return "\n".join(sections)


def report(result: subprocess.CompletedProcess[str]) -> str:
    """The part of schemathesis's output that says what failed, for an assertion message."""
    return (result.stdout[-12000:] + result.stderr[-2000:]).strip()
