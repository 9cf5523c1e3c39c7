"""How much one stored event can say about who sent it: at most 16 bits.

The capacity is log2 of the number of different events a client can make land. It is computed
here from the event Structs themselves, by this test's own reading of their annotations (not by
``schemas.identifying_bits``, which it checks): a Literal counts its values, a bounded int its
range, a patterned string the strings its pattern accepts (a ``$`` also accepts a trailing
newline, so it doubles them) unless the server coarsens that column, in which case the values
the column can be given; anything else is unbounded. One event type or another: the sum.

So adding a field, widening an enumeration or a pattern, or listing more regions or versions
moves the number, and past 16 this fails. Against the schema before issue #20 (regions any
``[a-z]{2}-[a-z]{3}``, versions any ``[0-9]{1,3}.[0-9]{1,3}``, both with ``$``) it computed
55.0 bits; now 15.0 with the default settings.
"""

from __future__ import annotations

import math
import re
import re._parser as sre  # type: ignore[import-not-found]  # re's own parser: counts a pattern's strings
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from phoenix.analytics import schemas
from phoenix.analytics.api import decode_batch
from phoenix.analytics.coarse import Coarsening
from phoenix.analytics.service import InvalidEvents, to_columns
from phoenix.analytics.settings import FLEET_LOCATIONS, AnalyticsSettings
from phoenix.analytics.store import EVENT_COLUMNS, check_identifier
from phoenix.settings import SettingsError, load

BUDGET = 16.0
# The columns a client fills with a string of its own choosing, which the server maps onto a
# few stored values (phoenix.analytics.coarse).
COARSENED = ("region", "app_version")


def pattern_strings(pattern: str) -> float:
    """How many strings ``re.search(pattern, s)`` accepts, for an anchored pattern of classes,
    literals and bounded repeats; ``inf`` for anything it cannot bound."""

    def count(items: Any) -> float:
        total = 1.0
        for op, arg in items:
            name = str(op)
            if name == "LITERAL":
                continue
            if name == "IN":
                size = 0
                for kind, value in arg:
                    if str(kind) == "RANGE":
                        size += value[1] - value[0] + 1
                    elif str(kind) == "LITERAL":
                        size += 1
                    else:
                        return math.inf  # a category (\d, \w) or a negated class: Unicode-wide
                total *= size
            elif name == "MAX_REPEAT":
                low, high, inner = arg
                if high == sre.MAXREPEAT:
                    return math.inf
                one = count(inner)
                total *= sum(one**n for n in range(low, high + 1))
            elif name == "SUBPATTERN":
                total *= count(arg[-1])
            elif name == "AT":
                # re.search lets `$` match before a final newline: "1.4" and "1.4\n" both pass.
                total *= 2 if str(arg) == "AT_END" else 1
            elif name == "ASSERT_NOT":
                continue  # our end anchor, "no character follows"
            else:
                return math.inf
        return total

    parsed = sre.parse(pattern)
    first = list(parsed)[:1]
    if first != [(sre.AT, sre.AT_BEGINNING)]:
        return math.inf  # unanchored: any prefix goes
    return count(parsed)


def field_values(name: str, annotation: Any, stored: dict[str, int]) -> float:
    """How many different values one field of an event can land as."""
    if name in stored:
        return stored[name]
    meta = None
    if get_origin(annotation) is Annotated:
        annotation, *extras = get_args(annotation)
        meta = next((e for e in extras if isinstance(e, msgspec.Meta)), None)
    if get_origin(annotation) is Literal:
        return len(get_args(annotation))
    if annotation is bool:
        return 2
    if annotation is int and meta is not None and meta.ge is not None and meta.le is not None:
        return meta.le - meta.ge + 1
    if annotation is str and meta is not None and meta.pattern is not None:
        return pattern_strings(meta.pattern)
    return math.inf


def event_kinds(stored: dict[str, int]) -> float:
    total = 0.0
    for struct in get_args(schemas.Event):
        kinds = 1.0
        for name, annotation in get_type_hints(struct, include_extras=True).items():
            kinds *= field_values(name, annotation, stored)
        total += kinds
    return total


def bits(settings: AnalyticsSettings) -> float:
    coarsening = settings.coarsening
    stored = {"region": len(coarsening.regions), "app_version": len(coarsening.app_versions)}
    return math.log2(event_kinds(stored))


def test_one_event_carries_at_most_16_identifying_bits_with_the_default_settings() -> None:
    computed = bits(AnalyticsSettings())
    assert computed <= BUDGET, f"{computed:.1f} identifying bits per event"
    assert computed == pytest.approx(14.98, abs=0.01)  # 5 platforms x 6 versions x (...)
    # The role's own guard (settings refuse lists over the budget) counts the same way.
    assert AnalyticsSettings().coarsening.bits() == pytest.approx(computed)


def test_a_wire_field_the_server_does_not_coarsen_would_be_counted_whole() -> None:
    """The counter itself: what region and app_version would weigh if stored as sent."""
    region = 26**2 * sum(36**n for n in range(2, 21))
    assert pattern_strings(schemas.REGION_CODE) == pytest.approx(region, rel=1e-12)
    assert pattern_strings(schemas.APP_VERSION) == 1110**2
    assert pattern_strings(r"^[0-9]{1,3}\.[0-9]{1,3}$") == 2 * 1110**2  # "1.4" and "1.4\n"
    assert pattern_strings(r"[a-z]{3}") == math.inf  # unanchored
    assert field_values("note", str, {}) == math.inf
    uncoarsened = event_kinds({})
    assert math.log2(uncoarsened) > 100


@pytest.mark.parametrize(
    ("regions", "versions", "refused"),
    [
        (FLEET_LOCATIONS, (), False),
        ([f"aa-r{n:02d}" for n in range(15)], (), False),  # 16 stored values: 15.995 bits
        ([f"aa-r{n:02d}" for n in range(16)], (), True),
        (["de-fra"], [f"0.{n}" for n in range(25)], False),
        (FLEET_LOCATIONS, [f"1.{n}" for n in range(11)], False),
        (FLEET_LOCATIONS, [f"1.{n}" for n in range(12)], True),
    ],
)
def test_settings_refuse_region_and_version_lists_that_would_carry_more_than_16_bits(
    regions: list[str], versions: list[str], refused: bool
) -> None:
    env = {"PHOENIX_ANALYTICS_REGIONS": ",".join(regions)}
    if versions:
        env["PHOENIX_ANALYTICS_APP_VERSIONS"] = ",".join(versions)
    if refused:
        with pytest.raises(SettingsError) as error:
            load(AnalyticsSettings, env)
        assert error.value.variable == "PHOENIX_ANALYTICS_REGIONS"
        assert "identifying bits" in str(error.value)
    else:
        assert bits(load(AnalyticsSettings, env)) <= BUDGET


def test_lists_of_malformed_or_no_regions_and_versions_are_refused_by_name() -> None:
    for env, variable in [
        ({"PHOENIX_ANALYTICS_REGIONS": ""}, "PHOENIX_ANALYTICS_REGIONS"),
        ({"PHOENIX_ANALYTICS_REGIONS": "de-fra,DE-FRA"}, "PHOENIX_ANALYTICS_REGIONS"),
        ({"PHOENIX_ANALYTICS_APP_VERSIONS": "1.4,1.4.2"}, "PHOENIX_ANALYTICS_APP_VERSIONS"),
    ]:
        with pytest.raises(SettingsError) as error:
            load(AnalyticsSettings, env)
        assert error.value.variable == variable


# --- the counted values are the only ones that land ----------------------------------------

EVENT = {"type": "session_summary", "platform": "ios", "duration_bucket": "<1min",
         "data_bucket": ">5GB", "throughput_bucket": "<1Mbps"}  # fmt: skip
SETTINGS = [
    AnalyticsSettings(),
    AnalyticsSettings(analytics_regions=("de-fra",), analytics_app_versions=("1.4", "2.0")),
]


@given(
    regions=st.lists(st.from_regex(schemas.REGION_CODE) | st.sampled_from(FLEET_LOCATIONS),
                     min_size=5, max_size=5),
    versions=st.lists(st.from_regex(schemas.APP_VERSION) | st.sampled_from(["1.4", "2.0", "04.1"]),
                      min_size=5, max_size=5),
    which=st.sampled_from(SETTINGS),
)  # fmt: skip
def test_whatever_a_client_sends_region_and_app_version_land_as_counted_values(
    regions: list[str], versions: list[str], which: AnalyticsSettings
) -> None:
    coarsening = which.coarsening
    pairs = zip(regions, versions, strict=True)
    events = [{**EVENT, "region": region, "app_version": version} for region, version in pairs]
    batch = decode_batch("application/json", msgspec.json.encode({"events": events}))
    columns = dict(zip(EVENT_COLUMNS, to_columns(batch.events, 3600, coarsening), strict=True))
    assert set(columns["region"]) <= coarsening.regions
    assert set(columns["app_version"]) <= coarsening.app_versions


def test_listed_values_land_as_sent_and_others_as_other_or_their_major() -> None:
    listed = Coarsening(["de-fra"], ["1.4"])
    assert [listed.region(r) for r in ("de-fra", "nl-ams")] == ["de-fra", "other"]
    assert [listed.app_version(v) for v in ("1.4", "1.5")] == ["1.4", "other"]
    default = Coarsening(["de-fra"])
    assert [default.app_version(v) for v in ("0.24", "1.4", "04.1", "5.0", "999.9")] == [
        "0.x", "1.x", "4.x", "other", "other",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value"),
    [("region", "de-fra\n"), ("app_version", "1.4\n"), ("region", "\nde-fra"),
     ("app_version", "1.4\n\n")],
)  # fmt: skip
def test_a_pattern_matches_the_whole_value_not_a_value_and_a_trailing_newline(
    field: str, value: str
) -> None:
    event = {**EVENT, "region": "de-fra", "app_version": "1.4", field: value}
    data = msgspec.json.encode({"events": [event]})
    with pytest.raises(InvalidEvents):
        decode_batch("application/json", data)
    with pytest.raises(msgspec.ValidationError):  # the published schema's own decoder too
        msgspec.json.decode(data, type=schemas.EventBatch)
    assert not re.search(schemas.REGION_CODE if field == "region" else schemas.APP_VERSION, value)


def test_a_database_name_is_matched_whole_too() -> None:
    assert check_identifier("phoenix_analytics") == "phoenix_analytics"
    for name in ("events\n", "events;", "1events"):
        with pytest.raises(ValueError, match="not a plain ClickHouse identifier"):
            check_identifier(name)
