"""The operator page: one server-rendered HTML document, charts as inline SVG, no JavaScript.

Each heatmap cell carries its numbers as data- attributes, so a test (and a curious operator)
can check what is drawn against the JSON report it was drawn from.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Final

from phoenix.analytics.schemas import BucketCount, FailureReport, UsageReport, ValueReport

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


def heatmap(report: FailureReport) -> str:
    regions = sorted({cell.region for cell in report.cells})
    hours = sorted({cell.hour for cell in report.cells})
    if not regions:
        return (
            '<p class="note">No region and hour with at least '
            f"{report.min_events} connection attempts in this window.</p>"
        )
    column = {hour: index for index, hour in enumerate(hours)}
    row = {region: index for index, region in enumerate(regions)}
    width = max(MIN_WIDTH, LABEL_WIDTH + CELL * len(hours) + 10)
    height = CELL * len(regions) + 40
    parts = [
        f'<svg id="heatmap" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" role="img" aria-label="Connection failure rate by region and hour">',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#e4e6eb"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#b8bdc7" stroke-width="2"/></pattern></defs>',
    ]
    for region, index in row.items():
        y = index * CELL + CELL - 5
        parts.append(f'<text x="0" y="{y}" font-size="12">{escape(region)}</text>')
    shown = {(cell.region, cell.hour): cell for cell in report.cells}
    for region, y_index in row.items():
        for hour, x_index in column.items():
            common = (
                f'class="cell" x="{LABEL_WIDTH + x_index * CELL}" y="{y_index * CELL}" '
                f'width="{CELL - 1}" height="{CELL - 1}" '
                f'data-region="{escape(region)}" data-hour="{_iso(hour)}"'
            )
            cell = shown.get((region, hour))
            if cell is None:  # fewer than k attempts, or none: the report does not say which
                parts.append(f'<rect {common} data-suppressed="true" fill="url(#hatch)">'
                             f"<title>{escape(region)} {_iso(hour)}: too few events or none"
                             "</title></rect>")  # fmt: skip
            else:
                parts.append(
                    f'<rect {common} data-rate="{cell.failure_rate}" '
                    f'data-attempts="{cell.attempts}" fill="{_rate_colour(cell.failure_rate)}">'
                    f"<title>{escape(region)} {_iso(hour)}: "
                    f"{cell.failure_rate:.1%} of {cell.attempts}</title></rect>"
                )
    axis_y = CELL * len(regions) + 16
    parts.append(
        f'<text x="{LABEL_WIDTH}" y="{axis_y}" font-size="11">{_iso(hours[0])}</text>'
        f'<text x="{LABEL_WIDTH}" y="{axis_y + 16}" font-size="11">to {_iso(hours[-1])} '
        "(one column an hour, UTC)</text></svg>"
    )
    return "".join(parts)


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


def render(failures: FailureReport, usage: UsageReport, value: ValueReport) -> str:
    window = f"{_iso(failures.from_hour)} to {_iso(failures.to_hour)}"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>Phoenix analytics</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>Phoenix analytics</h1>"
        f'<p class="note">{escape(window)} (UTC). Cells built from fewer than '
        f"{failures.min_events} events are hatched: their numbers are not shown, and a hatched "
        "heatmap cell may as well have had none.</p>"
        "<h2>Connection failures by region and hour</h2>"
        f"{heatmap(failures)}"
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
