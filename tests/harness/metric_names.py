"""Which Prometheus series the code exports, which docs/metrics.md documents, which PromQL names.

The code's names are read from its source, not from a running process: every call of a
prometheus_client metric class (``Counter``, ``Gauge``, ``Histogram``, ``Info``, ``Summary``)
whose name is a string literal, anywhere under ``src/phoenix`` and ``daemon/src``. A metric made
only under some setting, or only when a route is first hit, is found all the same, and a name
built at run time is not — which the metric contract forbids anyway (names are fixed; only
label values vary). ``namespace``/``subsystem``/``unit`` literals are applied as
prometheus_client applies them.

A family exports these sample names (prometheus_client's text format):

- Counter ``x`` (or ``x_total``): ``x_total`` (``x_created`` too, which rules never use);
- Gauge ``x``: ``x``;
- Histogram ``x``: ``x_bucket``, ``x_sum``, ``x_count``;
- Summary ``x``: ``x_sum``, ``x_count``;
- Info ``x``: ``x_info``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
SOURCE_ROOTS: Final = (ROOT / "src" / "phoenix", ROOT / "daemon" / "src")
METRICS_DOC: Final = ROOT / "docs" / "metrics.md"

KINDS: Final = frozenset({"Counter", "Gauge", "Histogram", "Info", "Summary"})
# Sample suffixes a histogram or summary adds to its family name.
SERIES_SUFFIXES: Final = ("_bucket", "_sum", "_count")

# A PromQL identifier: metric names, recording-rule names (with ':'), functions, keywords and
# label names alike; string literals are removed before this is applied.
_IDENTIFIER: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
# Range and subquery brackets ([5m], [1h:1m]): a duration is no name.
_RANGE: Final = re.compile(r"\[[^\]]*\]")
_PHOENIX_NAME: Final = re.compile(r"phoenix_[a-z0-9_]+")
# Label names a PromQL expression names: in matchers, and in by/without/on/ignoring/group_*.
_MATCHER: Final = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING: Final = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)", re.IGNORECASE
)
_SELECTOR: Final = re.compile(r"\{([^{}]*)\}")
_LABEL_VALUES: Final = re.compile(r"label_values\s*\((?:[^()]*,)?\s*(\w+)\s*\)")
_LEGEND_LABEL: Final = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
_DOC_ROW: Final = re.compile(r"^\|\s*`(phoenix_[a-z0-9_]+)`\s*\|", re.MULTILINE)


@dataclass(frozen=True, order=True)
class Family:
    """One metric as the code constructs it."""

    kind: str
    name: str  # as prometheus_client names the family (a counter's without `_total`)
    where: str  # path:line of the constructor call

    def samples(self) -> frozenset[str]:
        if self.kind == "Counter":
            return frozenset({f"{self.name}_total"})
        if self.kind == "Histogram":
            return frozenset(self.name + suffix for suffix in SERIES_SUFFIXES)
        if self.kind == "Summary":
            return frozenset({f"{self.name}_sum", f"{self.name}_count"})
        if self.kind == "Info":
            return frozenset({f"{self.name}_info"})
        return frozenset({self.name})


def _kind(call: ast.Call) -> str | None:
    function = call.func
    name = (
        function.id
        if isinstance(function, ast.Name)
        else function.attr
        if isinstance(function, ast.Attribute)
        else None
    )
    return name if name in KINDS else None


def _literal(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _family_name(kind: str, call: ast.Call) -> str | None:
    """The full name prometheus_client gives the family, or None if it is not a literal."""
    keywords = {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg}
    name = _literal(call.args[0]) if call.args else _literal(keywords.get("name"))
    if name is None:
        return None
    parts = [_literal(keywords.get("namespace")) or "", _literal(keywords.get("subsystem")) or ""]
    full = "_".join(part for part in (*parts, name) if part)
    unit = _literal(keywords.get("unit"))
    if unit and not full.endswith(f"_{unit}"):
        full = f"{full}_{unit}"
    if kind == "Counter":
        full = full.removesuffix("_total")
    if kind == "Info":
        full = full.removesuffix("_info")
    return full


def families(roots: Iterable[Path] = SOURCE_ROOTS) -> list[Family]:
    """Every metric family constructed with a literal name under ``roots``, sorted."""
    found: list[Family] = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                kind = _kind(node)
                if kind is None:
                    continue
                name = _family_name(kind, node)
                if name is not None:
                    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                    where = f"{shown}:{node.lineno}"
                    found.append(Family(kind, name, where))
    return sorted(found)


def exported_samples(roots: Iterable[Path] = SOURCE_ROOTS) -> frozenset[str]:
    """Every sample name the code exports (``x_total``, ``x_bucket``, … as scraped)."""
    return frozenset(sample for family in families(roots) for sample in family.samples())


def documented_names(path: Path = METRICS_DOC) -> frozenset[str]:
    """The series names of docs/metrics.md's tables (first column, in backticks)."""
    return frozenset(_DOC_ROW.findall(path.read_text(encoding="utf-8")))


def base_name(sample: str) -> str:
    """A histogram's or summary's family name from one of its samples; others unchanged."""
    for suffix in SERIES_SUFFIXES:
        if sample.endswith(suffix):
            return sample.removesuffix(suffix)
    return sample


def _without_strings(expr: str) -> str:
    return _RANGE.sub("", _STRING.sub('""', expr))


def metric_names(expr: str) -> frozenset[str]:
    """The `phoenix_` metric names a PromQL expression selects, as written (with suffixes).

    Recording-rule names are left out: they contain ':' (``level:metric:operations``), and a
    metric's name inside one (``location:phoenix_config_nodes_active:max``) is not a selection.
    String literals are left out too (``app_name="phoenix_auth"`` names no metric).
    """
    return frozenset(
        token
        for token in _IDENTIFIER.findall(_without_strings(expr))
        if ":" not in token and _PHOENIX_NAME.fullmatch(token)
    )


def recording_names(expr: str) -> frozenset[str]:
    """The recording-rule names (identifiers with ':') a PromQL expression selects."""
    return frozenset(token for token in _IDENTIFIER.findall(_without_strings(expr)) if ":" in token)


def label_names(expr: str) -> frozenset[str]:
    """Label names a PromQL expression (or a Grafana variable query) names."""
    text = _without_strings(expr)
    names: set[str] = set()
    for selector in _SELECTOR.findall(text):
        names.update(_MATCHER.findall(selector))
    for grouping in _GROUPING.findall(text):
        names.update(part.strip() for part in grouping.split(",") if part.strip())
    names.update(_LABEL_VALUES.findall(text))
    return frozenset(names)


def legend_labels(legend: str) -> frozenset[str]:
    """Labels a Grafana legend template shows (``{{location}}``)."""
    return frozenset(_LEGEND_LABEL.findall(legend))
