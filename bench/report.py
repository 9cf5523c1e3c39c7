"""Result records, goals, the printed table and ``bench/results.json``.

A benchmark returns :class:`Result` records. Each names one figure of ours, its value, and the
anchor it is compared with — measured in the same run on the same machine, so that the ratio
(``value / anchor_value``) means something across machines. A :class:`Goal` says which ratio
(or, rarely, which absolute value) we hold ourselves to; a figure without a goal is informational.

The JSON file is a list of objects with exactly the keys of :data:`JSON_KEYS`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final, Literal

import msgspec

Op = Literal[">=", "<="]
Target = Literal["ratio", "value"]

JSON_KEYS: Final[tuple[str, ...]] = (
    "figure",
    "value",
    "unit",
    "anchor",
    "anchor_value",
    "ratio",
    "goal",
    "pass",
)
RATIO_DIGITS: Final = 3


class Goal(msgspec.Struct, frozen=True, kw_only=True):
    """``op`` ``threshold``, applied to the ratio (default) or to the value itself."""

    op: Op
    threshold: float
    on: Target = "ratio"
    unit: str = ""

    @classmethod
    def ratio_at_least(cls, threshold: float) -> Goal:
        return cls(op=">=", threshold=threshold)

    @classmethod
    def ratio_at_most(cls, threshold: float) -> Goal:
        return cls(op="<=", threshold=threshold)

    @classmethod
    def value_at_least(cls, threshold: float, unit: str) -> Goal:
        return cls(op=">=", threshold=threshold, on="value", unit=unit)

    @classmethod
    def value_at_most(cls, threshold: float, unit: str) -> Goal:
        return cls(op="<=", threshold=threshold, on="value", unit=unit)

    def describe(self) -> str:
        """Human-readable, e.g. ``>= 0.6x`` (a ratio) or ``<= 1000 ms`` (a value)."""
        number = f"{self.threshold:g}"
        if self.on == "ratio":
            return f"{self.op} {number}x"
        return f"{self.op} {number} {self.unit}".rstrip()

    def met_by(self, quantity: float | None) -> bool:
        """Whether ``quantity`` meets the goal; a missing or NaN quantity never does."""
        if quantity is None or math.isnan(quantity):
            return False
        if self.op == ">=":
            return quantity >= self.threshold
        return quantity <= self.threshold


class Result(msgspec.Struct, frozen=True, kw_only=True):
    """One measured figure, as a benchmark returns it."""

    figure: str
    value: float
    unit: str
    anchor: str | None = None
    anchor_value: float | None = None
    goal: Goal | None = None

    @property
    def ratio(self) -> float | None:
        """``value / anchor_value``; None without an anchor, or when the anchor measured 0."""
        if self.anchor_value is None or self.anchor_value == 0:
            return None
        return self.value / self.anchor_value

    @property
    def passed(self) -> bool | None:
        """None when the figure has no goal."""
        if self.goal is None:
            return None
        quantity = self.ratio if self.goal.on == "ratio" else self.value
        return self.goal.met_by(quantity)

    def to_json(self) -> dict[str, object]:
        ratio = self.ratio
        row: dict[str, object] = {
            "figure": self.figure,
            "value": self.value,
            "unit": self.unit,
            "anchor": self.anchor,
            "anchor_value": self.anchor_value,
            "ratio": None if ratio is None else round(ratio, RATIO_DIGITS),
            "goal": None if self.goal is None else self.goal.describe(),
            "pass": self.passed,
        }
        assert tuple(row) == JSON_KEYS
        return row


def to_json(results: Iterable[Result]) -> str:
    return json.dumps([result.to_json() for result in results], indent=2) + "\n"


def write_json(results: Iterable[Result], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(to_json(results), encoding="utf-8")
    tmp.replace(path)


HEADERS: Final[tuple[str, ...]] = (
    "figure",
    "value",
    "unit",
    "anchor",
    "anchor value",
    "ratio",
    "goal",
    "pass",
)
MISSING: Final = "-"


def format_number(number: float | None) -> str:
    """Four significant figures, without exponent for everyday magnitudes."""
    if number is None:
        return MISSING
    if math.isnan(number):
        return "nan"
    magnitude = abs(number)
    if magnitude >= 1000 or magnitude == 0:
        return f"{number:,.0f}"
    digits = max(0, 3 - math.floor(math.log10(magnitude)))
    return f"{number:.{digits}f}"


def _verdict(passed: bool | None) -> str:
    if passed is None:
        return "info"
    return "PASS" if passed else "FAIL"


def table_rows(results: Iterable[Result]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for result in results:
        ratio = result.ratio
        rows.append(
            (
                result.figure,
                format_number(result.value),
                result.unit,
                result.anchor or MISSING,
                format_number(result.anchor_value),
                MISSING if ratio is None else f"{ratio:.{RATIO_DIGITS - 1}f}x",
                MISSING if result.goal is None else result.goal.describe(),
                _verdict(result.passed),
            )
        )
    return rows


def format_table(results: Sequence[Result]) -> str:
    """A plain-text table; numbers right-aligned, everything else left-aligned."""
    rows = [HEADERS, *table_rows(results)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(HEADERS))]
    right = {1, 4, 5}

    def line(row: tuple[str, ...]) -> str:
        cells = (
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(HEADERS), rule, *(line(row) for row in rows[1:])])
