"""The operator page, rendered by headless Chromium against the running role.

Chromium opens /reports with the operator password (HTTP Basic, as an operator's browser would
after the 401 challenge). The screenshot must not be blank, and every heatmap cell of the DOM
Chromium rendered must say what the JSON report says for that region and hour.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from PIL import Image

from phoenix.analytics.store import ServerStore, migrate
from tests.conftest import require
from tests.harness.processes import RoleServer
from tests.integration.analytics.conftest import OPERATOR, OPERATOR_HEADERS, Row, columns

H = int(datetime(2026, 3, 10, 14, tzinfo=UTC).timestamp())
WINDOW = "from=2026-03-10T00:00:00Z&to=2026-03-11T00:00:00Z"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
)
CELL = re.compile(r"<rect ([^>]*)class=\"cell\"([^>]*)>")
ATTRIBUTE = re.compile(r'data-([a-z]+)="([^"]*)"')


def attempts(region: str, hour: int, ok: int, failed: int) -> list[Row]:
    def row(outcome: str) -> Row:
        return (hour, "connection_attempt", "ios", "1.4", region, outcome, "<100ms",
                "", "", "", "", "", "")  # fmt: skip

    return [row("ok")] * ok + [row("timeout")] * failed


@pytest.fixture
def role(clickhouse_url: str, tmp_path: Path) -> Iterator[RoleServer]:
    store = ServerStore(clickhouse_url)
    migrate(store)
    rows = attempts("de-fra", H, 30, 10) + attempts("de-fra", H + 3600, 12, 0)
    rows += attempts("nl-ams", H, 5, 15) + attempts("us-nyc", H + 7200, 2, 1)  # us-nyc: < k
    rows += [(H, "session_summary", "ios", "1.4", "de-fra", "", "", "10-60min", "<100MB",
              "1-10Mbps", "", "", "")] * 14  # fmt: skip
    store.insert(columns(rows), marker=1)
    store.close()
    env = {"PHOENIX_ENV": "test", "PHOENIX_CLICKHOUSE_URL": clickhouse_url}
    env["PHOENIX_OPERATOR_TOKEN"] = OPERATOR
    server = RoleServer("analytics", env, tmp_path / "role.log").start()
    yield server
    server.stop()


def chromium(tmp_path: Path, *arguments: str) -> str:
    binary = shutil.which("chromium")
    require("Chromium", binary is not None, "Debian package chromium")
    assert binary is not None
    result = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *arguments],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    return result.stdout


def test_the_page_renders_and_its_heatmap_matches_the_report(
    role: RoleServer, tmp_path: Path
) -> None:
    url = f"http://operator:{OPERATOR}@127.0.0.1:{role.port}/reports?{WINDOW}"
    dom = chromium(tmp_path, "--dump-dom", url)
    assert "Phoenix analytics" in dom, dom[:500]  # the page itself, not a 401 problem

    report = httpx.get(
        f"{role.base_url}/v1/reports/connection-failures?{WINDOW}", headers=OPERATOR_HEADERS
    ).json()
    expected = {
        (cell["region"], cell["hour"].replace(":00:00Z", ":00Z")): str(cell["failure_rate"])
        for cell in report["cells"]
    }
    drawn = {}
    for match in CELL.finditer(dom):
        attributes = dict(ATTRIBUTE.findall(match[1] + match[2]))
        shown = "suppressed" if attributes.get("suppressed") == "true" else attributes["rate"]
        drawn[(attributes["region"], attributes["hour"])] = shown
    # Every cell of the report is drawn with its rate; every other place of the grid is hatched.
    assert {place: rate for place, rate in drawn.items() if rate != "suppressed"} == expected
    assert drawn[("de-fra", "2026-03-10T14:00Z")] == "0.25"
    assert drawn[("nl-ams", "2026-03-10T14:00Z")] == "0.75"
    assert drawn[("nl-ams", "2026-03-10T15:00Z")] == "suppressed"  # no attempts at all
    # us-nyc's one cell had 3 attempts (< k): neither the report nor the page names it.
    assert "us-nyc" not in dom
    assert all(cell["region"] != "us-nyc" for cell in report["cells"])

    shot = Path(os.environ.get("PHOENIX_TEST_SCREENSHOT", tmp_path / "page.png"))
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1000,900", url)
    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None
    assert len(colours) > 20  # text, bars and heatmap, not a blank or single-colour page
    reddish = sum(n for n, (r, g, b) in colours if r > 200 and g < 150 and b < 150)
    assert reddish > 100  # the 75 % failure cell is drawn in red
