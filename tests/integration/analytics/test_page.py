"""The operator page, rendered by headless Chromium against the running role.

Chromium opens /reports with the operator password (HTTP Basic, as an operator's browser would
after the 401 challenge). The screenshot must not be blank, every heatmap cell of the DOM
Chromium rendered must say what the JSON report says for that region and hour, and the shown
latency and throughput cells must be painted in the screenshot.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

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
FILL = re.compile(r' fill="([^"]*)"')


def attempts(region: str, hour: int, ok: int, failed: int, latency: str = "<100ms") -> list[Row]:
    def row(outcome: str, bucket: str) -> Row:
        return (hour, "connection_attempt", "ios", "1.4", region, outcome, bucket,
                "", "", "", "", "", "")  # fmt: skip

    return [row("ok", latency)] * ok + [row("timeout", ">3s")] * failed


def sessions(region: str, hour: int, count: int, throughput: str) -> list[Row]:
    return [(hour, "session_summary", "ios", "1.4", region, "", "", "10-60min", "<100MB",
             throughput, "", "", "")] * count  # fmt: skip


@pytest.fixture
def role(clickhouse_url: str, tmp_path: Path) -> Iterator[RoleServer]:
    store = ServerStore(clickhouse_url)
    migrate(store)
    # de-fra 14:00: 30 successful attempts, 20 of them at 100-300ms: that is the median.
    rows = attempts("de-fra", H, 10, 10) + attempts("de-fra", H, 20, 0, latency="100-300ms")
    rows += attempts("de-fra", H + 3600, 12, 0, latency="1-3s")
    # nl-ams 14:00: 20 attempts, a failure cell; 5 successful ones, too few for a latency cell.
    rows += attempts("nl-ams", H, 5, 15) + attempts("us-nyc", H + 7200, 2, 1)  # us-nyc: < k
    rows += sessions("de-fra", H, 14, "1-10Mbps") + sessions("nl-ams", H + 3600, 12, ">200Mbps")
    rows += sessions("se-sto", H, 4, "<1Mbps")  # < k: neither the report nor the page names it
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


def cells(dom: str, heatmap: str) -> dict[tuple[str, str], dict[str, str]]:
    """The data- attributes and the fill of every cell of one heatmap's SVG, by region and hour."""
    svg = dom[dom.index(f'<svg id="{heatmap}"') :]
    svg = svg[: svg.index("</svg>")]
    found = {}
    for match in CELL.finditer(svg):
        # Chromium writes < and > in an attribute as &lt; and &gt; (">200Mbps").
        attributes = {k: unescape(v) for k, v in ATTRIBUTE.findall(match[1] + match[2])}
        attributes["fill"] = FILL.findall(match[0])[0]
        found[(attributes["region"], attributes["hour"])] = attributes
    return found


def shown(drawn: dict[tuple[str, str], dict[str, str]], key: str) -> dict[tuple[str, str], str]:
    return {
        place: "suppressed" if attributes.get("suppressed") == "true" else attributes[key]
        for place, attributes in drawn.items()
    }


def place(cell: dict[str, Any]) -> tuple[str, str]:
    return cell["region"], cell["hour"].replace(":00:00Z", ":00Z")


def test_the_page_renders_and_its_heatmaps_match_the_reports(
    role: RoleServer, tmp_path: Path
) -> None:
    url = f"http://operator:{OPERATOR}@127.0.0.1:{role.port}/reports?{WINDOW}"
    dom = chromium(tmp_path, "--dump-dom", url)
    assert "Phoenix analytics" in dom, dom[:500]  # the page itself, not a 401 problem

    report = httpx.get(
        f"{role.base_url}/v1/reports/connection-failures?{WINDOW}", headers=OPERATOR_HEADERS
    ).json()
    performance = httpx.get(
        f"{role.base_url}/v1/reports/performance?{WINDOW}", headers=OPERATOR_HEADERS
    ).json()
    failures = shown(cells(dom, "heatmap"), "rate")
    latency = shown(cells(dom, "latency"), "median")
    throughput = shown(cells(dom, "throughput"), "median")
    # The three heatmaps are drawn over one grid: the regions and hours of any shown cell.
    grid = {(region, f"2026-03-10T{hour}:00Z") for region in ("de-fra", "nl-ams")
            for hour in (14, 15)}  # fmt: skip
    assert set(failures) == set(latency) == set(throughput) == grid

    # Every cell of a report is drawn with its figure; every other place of the grid is hatched.
    expected = {place(cell): str(cell["failure_rate"]) for cell in report["cells"]}
    assert {p: rate for p, rate in failures.items() if rate != "suppressed"} == expected
    assert failures[("de-fra", "2026-03-10T14:00Z")] == "0.25"
    assert failures[("nl-ams", "2026-03-10T14:00Z")] == "0.75"
    assert failures[("nl-ams", "2026-03-10T15:00Z")] == "suppressed"  # no attempts at all
    for medians, measure in ((latency, "latency"), (throughput, "throughput")):
        expected = {place(c): c["median_bucket"] for c in performance[measure]["cells"]}
        assert {p: bucket for p, bucket in medians.items() if bucket != "suppressed"} == expected
    assert latency == {
        ("de-fra", "2026-03-10T14:00Z"): "100-300ms",
        ("de-fra", "2026-03-10T15:00Z"): "1-3s",
        ("nl-ams", "2026-03-10T14:00Z"): "suppressed",  # 5 successful attempts, under k
        ("nl-ams", "2026-03-10T15:00Z"): "suppressed",
    }
    assert throughput == {
        ("de-fra", "2026-03-10T14:00Z"): "1-10Mbps",
        ("de-fra", "2026-03-10T15:00Z"): "suppressed",
        ("nl-ams", "2026-03-10T14:00Z"): "suppressed",
        ("nl-ams", "2026-03-10T15:00Z"): ">200Mbps",
    }
    # A suppressed cell carries no figure of any kind, only its place.
    for name in ("latency", "throughput"):
        for attributes in cells(dom, name).values():
            if attributes.get("suppressed") == "true":
                assert set(attributes) == {"region", "hour", "suppressed", "fill"}
                assert attributes["fill"].startswith("url(#")  # the hatch
    # us-nyc's one cell had 3 attempts and se-sto's 4 sessions (< k): no report or page names them.
    assert "us-nyc" not in dom
    assert "se-sto" not in dom
    assert all(cell["region"] != "us-nyc" for cell in report["cells"])

    shot = Path(os.environ.get("PHOENIX_TEST_SCREENSHOT", tmp_path / "page.png"))
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1000,1300", url)
    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None
    assert len(colours) > 20  # text, bars and heatmaps, not a blank or single-colour page
    reddish = sum(n for n, (r, g, b) in colours if r > 200 and g < 150 and b < 150)
    assert reddish > 100  # the 75 % failure cell is drawn in red
    # Each shown latency and throughput cell is painted in its fill: a cell is 17 x 17 pixels,
    # its legend swatch only 10 x 10, so the swatch alone cannot make up the count.
    painted = {colour: n for n, colour in colours}
    for heatmap in ("latency", "throughput"):
        fills = [a["fill"] for a in cells(dom, heatmap).values() if a.get("suppressed") != "true"]
        assert len(fills) == 2, heatmap
        for fill in fills:
            rgb = tuple(int(v) for v in re.findall(r"\d+", fill))
            near = sum(n for colour, n in painted.items() if _close(colour, rgb))
            assert near >= 17 * 17 * fills.count(fill), (heatmap, fill, near)


def _close(colour: object, target: tuple[int, ...]) -> bool:
    assert isinstance(colour, tuple)  # an RGB image's colours are (r, g, b)
    return all(abs(a - b) <= 3 for a, b in zip(colour, target, strict=True))
