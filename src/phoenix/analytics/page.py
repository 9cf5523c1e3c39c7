"""The operator page: one server-rendered HTML document, charts as inline SVG, no JavaScript.

Each heatmap cell carries its numbers as data- attributes, so a test (and a curious operator)
can check what is drawn against the JSON report it was drawn from.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Final

from phoenix.analytics.schemas import (
    BucketCount,
    FailureCell,
    FailureReport,
    MedianCell,
    MedianHeatmap,
    PerformanceReport,
    UsageReport,
    ValueReport,
)

CELL: Final = 18
LABEL_WIDTH: Final = 90
MIN_WIDTH: Final = 480  # room for the axis caption under a short window
BAR_WIDTH: Final = 320

_STYLE: Final = """
body { font: 14px system-ui, sans-serif; margin: 24px; color: #1d2330; background: #fff; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
.note { color: #5a6272; } table { border-collapse: collapse; }
td, th { padding: 4px 10px; text-align: left; border-bottom: 1px solid #dde1e8; }
"""


def _rate_colour(rate: float) -> str:
    # White-ish at 0 % failures to deep red at 50 % or more.
    share = min(1.0, rate / 0.5)
    green = round(235 - 190 * share)
    return f"rgb(240,{green},{round(225 - 190 * share)})"


# The two ends of a median heatmap's scale, best to worst: darker is worse on every heatmap, so
# the three read the same way side by side. Colours are spread between the ends by a bucket's
# rank rather than listed per bucket, so a bucket added to an enumeration gets one.
LATENCY_SCALE: Final = ((218, 218, 235), (84, 39, 143))
THROUGHPUT_SCALE: Final = ((198, 219, 239), (8, 81, 156))
SWATCH: Final = 10
LEGEND_STEP: Final = 96

Place = tuple[str, datetime]


class Grid:
    """The regions and hours the heatmaps are drawn over: those of any shown cell of any of them,
    so the three line up column for column. A region or hour with no shown cell anywhere gets no
    row or column: drawing it would name a place that only suppressed cells could justify."""

    def __init__(self, failures: FailureReport, performance: PerformanceReport) -> None:
        cells: list[FailureCell | MedianCell] = [*failures.cells]
        cells += performance.latency.cells + performance.throughput.cells
        self.regions = sorted({cell.region for cell in cells})
        self.hours = sorted({cell.hour for cell in cells})


def _grid(
    name: str,
    label: str,
    grid: Grid,
    shown: dict[Place, tuple[str, str, str]],
    legend: str = "",
    legend_width: int = 0,
) -> str:
    """One heatmap over ``grid``; ``shown`` gives a place's fill, data- attributes and tooltip.

    Every other place is hatched and says only that it had too few events or none.
    """
    legend_height = 2 * CELL if legend else 0
    width = max(MIN_WIDTH, LABEL_WIDTH + CELL * len(grid.hours) + 10, LABEL_WIDTH + legend_width)
    height = CELL * len(grid.regions) + 40 + legend_height
    hatch = f"{name}-hatch"  # one pattern per SVG: an id is the whole document's
    parts = [
        f'<svg id="{name}" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(label)}">',
        f'<defs><pattern id="{hatch}" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#e4e6eb"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#b8bdc7" stroke-width="2"/></pattern></defs>',
    ]
    for index, region in enumerate(grid.regions):
        y = index * CELL + CELL - 5
        parts.append(f'<text x="0" y="{y}" font-size="12">{escape(region)}</text>')
    for y_index, region in enumerate(grid.regions):
        for x_index, hour in enumerate(grid.hours):
            common = (
                f'class="cell" x="{LABEL_WIDTH + x_index * CELL}" y="{y_index * CELL}" '
                f'width="{CELL - 1}" height="{CELL - 1}" '
                f'data-region="{escape(region)}" data-hour="{_iso(hour)}"'
            )
            cell = shown.get((region, hour))
            if cell is None:  # fewer than k events, or none: the report does not say which
                parts.append(f'<rect {common} data-suppressed="true" fill="url(#{hatch})">'
                             f"<title>{escape(region)} {_iso(hour)}: too few events or none"
                             "</title></rect>")  # fmt: skip
            else:
                fill, data, title = cell
                parts.append(
                    f'<rect {common} {data} fill="{fill}"><title>{escape(region)} '
                    f"{_iso(hour)}: {escape(title)}</title></rect>"
                )
    axis_y = CELL * len(grid.regions) + 16
    parts.append(
        f'<text x="{LABEL_WIDTH}" y="{axis_y}" font-size="11">{_iso(grid.hours[0])}</text>'
        f'<text x="{LABEL_WIDTH}" y="{axis_y + 16}" font-size="11">to {_iso(grid.hours[-1])} '
        "(one column an hour, UTC)</text>"
    )
    if legend:
        parts.append(f'<g transform="translate({LABEL_WIDTH},{axis_y + 28})">{legend}</g>')
    parts.append("</svg>")
    return "".join(parts)


def heatmap(report: FailureReport, grid: Grid) -> str:
    if not grid.regions:
        return (
            '<p class="note">No region and hour with at least '
            f"{report.min_events} connection attempts in this window.</p>"
        )
    shown = {
        (cell.region, cell.hour): (
            _rate_colour(cell.failure_rate),
            f'data-rate="{cell.failure_rate}" data-attempts="{cell.attempts}"',
            f"{cell.failure_rate:.1%} of {cell.attempts}",
        )
        for cell in report.cells
    }
    return _grid("heatmap", "Connection failure rate by region and hour", grid, shown)


def median_heatmap(
    name: str,
    label: str,
    what: str,
    report: MedianHeatmap,
    scale: tuple[tuple[int, int, int], tuple[int, int, int]],
    grid: Grid,
    *,
    best_first: bool,
    min_events: int,
) -> str:
    """``report``'s median buckets over ``grid``; ``what`` names the events a cell counts."""
    if not grid.regions:
        return (
            f'<p class="note" id="{name}">No region and hour with at least {min_events} '
            f"{what} in this window.</p>"
        )
    fills = _scale(report.buckets, scale, best_first=best_first)
    shown = {
        (cell.region, cell.hour): (
            fills.get(cell.median_bucket, "#000"),
            f'data-median="{escape(cell.median_bucket)}" data-events="{cell.events}"',
            f"median {cell.median_bucket} of {cell.events} {what}",
        )
        for cell in report.cells
    }
    legend = "".join(
        f'<rect x="{index * LEGEND_STEP}" y="0" width="{SWATCH}" height="{SWATCH}" '
        f'fill="{fill}" data-legend="{escape(bucket)}"/>'
        f'<text x="{index * LEGEND_STEP + SWATCH + 4}" y="{SWATCH}" font-size="11">'
        f"{escape(bucket)}</text>"
        for index, (bucket, fill) in enumerate(fills.items())
    )
    return _grid(name, label, grid, shown, legend, LEGEND_STEP * len(fills))


def _scale(
    buckets: list[str],
    ends: tuple[tuple[int, int, int], tuple[int, int, int]],
    *,
    best_first: bool,
) -> dict[str, str]:
    """A fill per bucket, from the light (best) end to the dark (worst) one."""
    ranked = buckets if best_first else buckets[::-1]
    steps = max(1, len(ranked) - 1)
    (r0, g0, b0), (r1, g1, b1) = ends
    fills = {}
    for rank, bucket in enumerate(ranked):
        t = rank / steps
        fills[bucket] = f"rgb({round(r0 + (r1 - r0) * t)},{round(g0 + (g1 - g0) * t)},"
        fills[bucket] += f"{round(b0 + (b1 - b0) * t)})"
    return {bucket: fills[bucket] for bucket in buckets}


def bars(name: str, buckets: list[BucketCount]) -> str:
    shown = [b.events or 0 for b in buckets]
    top = max(shown, default=0) or 1
    height = CELL * len(buckets) + 4
    parts = [
        f'<svg id="{name}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{LABEL_WIDTH + BAR_WIDTH + 80}" height="{height}">'
    ]
    for index, bucket in enumerate(buckets):
        y = index * CELL
        parts.append(f'<text x="0" y="{y + 13}" font-size="12">{escape(bucket.bucket)}</text>')
        if bucket.suppressed:
            parts.append(
                f'<text x="{LABEL_WIDTH}" y="{y + 13}" font-size="12" fill="#5a6272" '
                f'data-bucket="{escape(bucket.bucket)}" data-suppressed="true">too few</text>'
            )
            continue
        events = bucket.events or 0
        length = round(BAR_WIDTH * events / top)
        parts.append(
            f'<rect x="{LABEL_WIDTH}" y="{y + 2}" width="{length}" height="{CELL - 5}" '
            f'fill="#3a6fd8" data-bucket="{escape(bucket.bucket)}" data-events="{events}"/>'
            f'<text x="{LABEL_WIDTH + length + 6}" y="{y + 13}" font-size="12">{events}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def value_table(report: ValueReport) -> str:
    if report.suppressed:
        return '<p class="note" id="value">Too few blocking summaries in this window.</p>'
    return (
        '<table id="value">'
        f"<tr><th>summaries</th><td>{report.summaries}</td></tr>"
        f"<tr><th>MB blocked (estimate)</th><td>{report.blocked_mb}</td></tr>"
        f"<tr><th>requests blocked (estimate)</th><td>{report.blocked_requests}</td></tr>"
        f"<tr><th>time saved, seconds (estimate)</th><td>{report.time_saved_seconds}</td></tr>"
        "</table>"
    )


def render(
    failures: FailureReport,
    performance: PerformanceReport,
    usage: UsageReport,
    value: ValueReport,
) -> str:
    window = f"{_iso(failures.from_hour)} to {_iso(failures.to_hour)}"
    grid = Grid(failures, performance)
    latency = median_heatmap(
        "latency",
        "Median connection latency by region and hour",
        "successful connection attempts",
        performance.latency,
        LATENCY_SCALE,
        grid,
        best_first=True,
        min_events=performance.min_events,
    )
    throughput = median_heatmap(
        "throughput",
        "Median session throughput by region and hour",
        "session summaries",
        performance.throughput,
        THROUGHPUT_SCALE,
        grid,
        best_first=False,
        min_events=performance.min_events,
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>Phoenix analytics</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>Phoenix analytics</h1>"
        f'<p class="note">{escape(window)} (UTC). Cells built from fewer than '
        f"{failures.min_events} events are hatched: their numbers are not shown, and a hatched "
        "heatmap cell may as well have had none. On every heatmap, darker is worse.</p>"
        "<h2>Connection failures by region and hour</h2>"
        f"{heatmap(failures, grid)}"
        "<h2>Connection latency by region and hour</h2>"
        '<p class="note">The median latency bucket of the successful attempts: the buckets are '
        "ranges, so the page shows the range the middle attempt fell in, not a number.</p>"
        f"{latency}"
        "<h2>Throughput by region and hour</h2>"
        '<p class="note">The median throughput bucket of the sessions reported in that hour.'
        "</p>"
        f"{throughput}"
        "<h2>Session duration</h2>"
        f"{bars('duration', usage.duration)}"
        "<h2>Data per session</h2>"
        f"{bars('data', usage.data)}"
        "<h2>What the blocklist saved</h2>"
        f"{value_table(value)}"
        "</body></html>"
    )


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ")
