"""The playbook: the domain's reference lists, from one versioned YAML file, cross-checked at load."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, cast

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

DEFAULT_PATH = Path(__file__).with_name("playbook.yaml")

Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Count = Annotated[int, Field(ge=0)]
# A quarterly KPI target: a number, "optimise" (improve on what was reached, no number) or None (no target).
QuarterTarget = Decimal | Literal["optimise"] | None
Loc = tuple[str | int, ...]


class CustomerNature(StrEnum):
    INDIVIDUAL = "individual"
    INDIVIDUAL_BUSINESS = "individual_business"
    UNIT = "unit"


class Stage(StrEnum):
    """Customer development stages, in cycle order."""

    COLLECT = "collect"
    NEED = "need"
    FOLLOW_UP = "follow_up"
    PURCHASE = "purchase"
    MAINTAIN = "maintain"
    REPURCHASE = "repurchase"


class CeremonyTier(StrEnum):
    SIMPLE = "simple"
    MODERATE = "moderate"
    GRAND = "grand"


class PlaybookError(Exception):
    """A playbook file that cannot be used; each problem reads `file line N: key.path: what is wrong`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(_Model):
    zh_CN: Text
    en: Text

    def text(self, locale: str) -> str:
        """The text for a locale: any zh* locale reads zh_CN, every other locale English."""
        return self.zh_CN if locale.lower().startswith("zh") else self.en


class Item(_Model):
    code: Code
    label: Label


class RegionClass(Item):
    stations_per_city: Count
    leaders_per_city: Count


class Province(Item):
    region_class: Code


class City(Item):
    province: Code


class VehicleType(Item):
    activities_county_level_or_below: bool = False
    advice: Label | None = None


class Industry(Item):
    vehicle_types: list[Code] = Field(min_length=1)
    requirements: list[Item] = []
    max_route_km: Count | None = None
    buying_months: list[Annotated[int, Field(ge=1, le=12)]] = []
    replacement_cycle_years: tuple[Decimal, Decimal] | None = None


class Series(Item):
    vehicle_type: Code
    industry: Code | None = None


class FocusRegion(Item):
    series: list[Code] = Field(min_length=1)
    provinces: list[Code] = []
    cities: list[Code] = []
    activities_per_year: Count


class ProductLine(Item):
    series: list[Series] = Field(min_length=1)
    focus: list[FocusRegion] = []
    launch_min_attendees: Count | None = None
    county_channel_min_activities_per_month: Count | None = None


class Nature(Item):
    decision_mode: Code
    typical_needs: Label | None = None


class SalesMode(Item):
    typical_level: Code | None = None
    description: Label | None = None


class VisitKind(Item):
    checks_location: bool


class Action(Item):
    activity_type: Code | None = None
    visit_kind: Code | None = None
    script: Code | None = None


class Play(_Model):
    actions: list[Code] = Field(min_length=1)
    script: Code | None = None


class DevelopmentStage(Item):
    plays: dict[Code, Play]
    tools: list[Code] = []


class CeremonyTierSpec(Item):
    checklist: list[Code] = Field(min_length=1)


class InformationSource(Item):
    industries: list[Code] = []


class ActivityType(Item):
    kpi: Code


class Quarter(Item):
    number: Annotated[int, Field(ge=1, le=4)]


class Kpi(Item):
    system: Code
    unit: Literal["count", "percent"]
    annual: Decimal | None
    quarters: tuple[QuarterTarget, QuarterTarget, QuarterTarget, QuarterTarget]


class ReferralMultiplier(_Model):
    vehicle_type: Code
    multiplier: Decimal = Field(gt=0)


class ReferralRewards(_Model):
    payout: Literal["quarterly"]
    default_multiplier: Decimal = Field(gt=0)
    multipliers: list[ReferralMultiplier] = []


# --- The schedule of pushes (bot/domain/reminders.py reads it) ---------------------------------------------
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class QuietHours(_Model):
    send_from: ClockTime
    send_until: ClockTime


class FrequencyCap(_Model):
    pushes: Annotated[int, Field(ge=1)]
    days: Annotated[int, Field(ge=1)]


class Festival(Item):
    holiday: Text


class GreetingRule(_Model):
    send_at: ClockTime
    expire_hours: Annotated[int, Field(ge=1)]
    festivals: list[Festival]


class MaintenanceRule(_Model):
    first_after_months: Annotated[int, Field(ge=0)]
    every_months: Annotated[int, Field(ge=1)]
    services: Annotated[int, Field(ge=1, le=100)]
    remind_days_before: Annotated[int, Field(ge=0)]
    catch_up_days: Annotated[int, Field(ge=0)]
    send_at: ClockTime


class AppointmentRule(_Model):
    remind_at: ClockTime
    slots: list[ClockTime] = Field(min_length=1)
    book_days_ahead: Annotated[int, Field(ge=1, le=60)]


class ReplacementRule(_Model):
    cycle_from_months: Annotated[int, Field(ge=1)]
    cycle_to_months: Annotated[int, Field(ge=1)]
    buying_months: list[Annotated[int, Field(ge=1, le=12)]] = Field(min_length=1)
    lead_days: Annotated[int, Field(ge=0, le=120)]
    send_at: ClockTime


class StaffMorningRule(_Model):
    send_at: ClockTime
    untouched_days: Annotated[int, Field(ge=1)]
    max_listed: Annotated[int, Field(ge=1)]


class SmsTexts(_Model):
    opt_out_line: Text
    templates: dict[Code, Text]


class Schedule(_Model):
    quiet_hours: QuietHours
    frequency_cap: FrequencyCap
    greetings: GreetingRule
    maintenance: MaintenanceRule
    appointments: AppointmentRule
    replacement: ReplacementRule
    staff_morning: StaffMorningRule
    sms: SmsTexts


class Playbook(_Model):
    version: Literal[1]
    region_classes: list[RegionClass]
    provinces: list[Province]
    cities: list[City]
    vehicle_types: list[VehicleType]
    industries: list[Industry]
    product_lines: list[ProductLine]
    decision_modes: list[Item]
    natures: list[Nature]
    levels: list[Item]
    sales_modes: list[SalesMode]
    scripts: list[Item]
    tools: list[Item]
    visit_kinds: list[VisitKind]
    actions: list[Action]
    stages: list[DevelopmentStage]
    ceremony_checklist_items: list[Item]
    ceremony_tiers: list[CeremonyTierSpec]
    information_sources: list[InformationSource]
    station_kinds: list[Item]
    activity_types: list[ActivityType]
    quarters: list[Quarter]
    kpi_systems: list[Item]
    kpis: list[Kpi]
    referral_rewards: ReferralRewards
    schedule: Schedule

    @functools.cached_property
    def _index(self) -> dict[str, dict[str, Item]]:
        index: dict[str, dict[str, Item]] = {}
        for kind in type(self).model_fields:
            value = getattr(self, kind)
            if isinstance(value, list):
                index[kind] = {item.code: item for item in value}
        index["series"] = {s.code: s for line in self.product_lines for s in line.series}
        index["focus_regions"] = {f.code: f for line in self.product_lines for f in line.focus}
        index["festivals"] = {f.code: f for f in self.schedule.greetings.festivals}
        return index

    @property
    def kinds(self) -> list[str]:
        """Kinds `label`, `choices` and `item` accept: the playbook's lists, `series` and `focus_regions`."""
        return list(self._index)

    def _items(self, kind: str) -> dict[str, Item]:
        try:
            return self._index[kind]
        except KeyError:
            raise KeyError(f"unknown playbook kind {kind!r}") from None

    def item(self, kind: str, code: str) -> Item:
        """The item of a kind by code; KeyError names an unknown kind or code."""
        items = self._items(kind)
        try:
            return items[code]
        except KeyError:
            raise KeyError(f"unknown {kind} code {code!r}") from None

    def label(self, kind: str, code: str, locale: str) -> str:
        """The label of an item in a locale."""
        return self.item(kind, code).label.text(locale)

    def choices(self, kind: str, locale: str) -> list[tuple[str, str]]:
        """(code, label) pairs of a kind in file order, for keyboards."""
        return [(code, item.label.text(locale)) for code, item in self._items(kind).items()]

    def province(self, code: str) -> Province:
        return cast(Province, self.item("provinces", code))

    def region_class(self, province_code: str) -> RegionClass:
        """The coverage class of a province."""
        return cast(RegionClass, self.item("region_classes", self.province(province_code).region_class))

    def vehicle_type(self, code: str) -> VehicleType:
        return cast(VehicleType, self.item("vehicle_types", code))

    def stage(self, code: str) -> DevelopmentStage:
        return cast(DevelopmentStage, self.item("stages", code))

    def ceremony_tier(self, code: str) -> CeremonyTierSpec:
        return cast(CeremonyTierSpec, self.item("ceremony_tiers", code))

    def activity_type(self, code: str) -> ActivityType:
        return cast(ActivityType, self.item("activity_types", code))

    def kpi(self, code: str) -> Kpi:
        return cast(Kpi, self.item("kpis", code))


def load_playbook(path: Path | None = None) -> Playbook:
    """Reads and checks a playbook file (default: the one beside this module); raises PlaybookError."""
    path = path or DEFAULT_PATH
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlaybookError([f"{path.name} line {line}: invalid YAML: {problem}"]) from None
    if root is None or not isinstance(root, yaml.MappingNode):
        raise PlaybookError([f"{path.name} line 1: the file must be a mapping with `version: 1` at the top"])
    duplicates = [
        f"{path.name} line {line}: {key_path}: {message}"
        for line, key_path, message in _duplicate_keys(root, ())
    ]
    if duplicates:
        raise PlaybookError(duplicates)
    try:
        playbook = Playbook.model_validate(data)
    except ValidationError as exc:
        problems = [(tuple(error["loc"]), _lower_first(error["msg"])) for error in exc.errors()]
    else:
        problems = list(_cross_check(playbook))
    if problems:
        raise PlaybookError(_describe(path.name, root, problems))
    return playbook


@functools.lru_cache(maxsize=1)
def default_playbook() -> Playbook:
    """The playbook shipped beside this module, loaded once."""
    return load_playbook()


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _describe(file_name: str, root: yaml.Node, problems: list[tuple[Loc, str]]) -> list[str]:
    described: dict[tuple[int, str], list[str]] = {}
    for loc, message in problems:
        line, path = _locate(root, loc)
        messages = described.setdefault((line, path), [])
        if message not in messages:
            messages.append(message)
    return [
        f"{file_name} line {line}: {path + ': ' if path else ''}{'; '.join(messages)}"
        for (line, path), messages in described.items()
    ]


def _locate(root: yaml.Node, loc: Loc) -> tuple[int, str]:
    """The 1-based line and the key path of a location; a missing key is reported at its parent's line."""
    node, line = root, root.start_mark.line + 1
    parts: list[str | int] = []
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            entry = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            parts.append(str(part))
            if entry is None:
                break  # a missing key: name it, report the mapping's line
            line, node = entry[0].start_mark.line + 1, entry[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            parts.append(part)
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break  # pydantic's union-member tags and the like below a scalar
    return line, _format_path(parts)


def _format_path(parts: Iterable[str | int]) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


def _duplicate_keys(node: yaml.Node, loc: Loc) -> Iterator[tuple[int, str, str]]:
    """(line, key path, message) for each repeated mapping key: PyYAML would silently keep the last one."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if key.value in seen:
                yield key.start_mark.line + 1, _format_path((*loc, key.value)), f"duplicate key {key.value!r}"
            seen.add(key.value)
            yield from _duplicate_keys(value, (*loc, key.value))
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            yield from _duplicate_keys(child, (*loc, index))


def _unique(items: Iterable[tuple[Loc, str]]) -> Iterator[tuple[Loc, str]]:
    first_seen: dict[str, Loc] = {}
    for loc, code in items:
        if code in first_seen:
            yield (*loc, "code"), f"duplicate code {code!r} (first at {_format_path(first_seen[code])})"
        else:
            first_seen[code] = loc


def _refs(
    loc: Loc, codes: Iterable[str | None], known: Iterable[str], kind: str
) -> Iterator[tuple[Loc, str]]:
    known_codes = set(known)
    for index, code in enumerate(codes):
        if code is not None and code not in known_codes:
            yield (*loc, index), f"unknown {kind} code {code!r}"


def _ref(loc: Loc, code: str | None, known: Iterable[str], kind: str) -> Iterator[tuple[Loc, str]]:
    if code is not None and code not in set(known):
        yield loc, f"unknown {kind} code {code!r}"


def _codes(items: Iterable[Item]) -> list[str]:
    return [item.code for item in items]


def _cross_check(pb: Playbook) -> Iterator[tuple[Loc, str]]:
    """Unique codes, resolvable references, and the codes the rules rely on."""
    for kind in type(pb).model_fields:
        value = getattr(pb, kind)
        if isinstance(value, list):
            yield from _unique(((kind, i), item.code) for i, item in enumerate(value))
    yield from _unique(
        (("product_lines", i, "series", j), s.code)
        for i, line in enumerate(pb.product_lines)
        for j, s in enumerate(line.series)
    )
    yield from _unique(
        (("product_lines", i, "focus", j), f.code)
        for i, line in enumerate(pb.product_lines)
        for j, f in enumerate(line.focus)
    )
    for i, industry in enumerate(pb.industries):
        yield from _unique(
            (("industries", i, "requirements", j), r.code) for j, r in enumerate(industry.requirements)
        )

    provinces, cities = _codes(pb.provinces), _codes(pb.cities)
    vehicle_types, industries = _codes(pb.vehicle_types), _codes(pb.industries)
    for i, province in enumerate(pb.provinces):
        yield from _ref(
            ("provinces", i, "region_class"),
            province.region_class,
            _codes(pb.region_classes),
            "region_classes",
        )
    for i, city in enumerate(pb.cities):
        yield from _ref(("cities", i, "province"), city.province, provinces, "provinces")
    for i, industry in enumerate(pb.industries):
        yield from _refs(
            ("industries", i, "vehicle_types"), industry.vehicle_types, vehicle_types, "vehicle_types"
        )
    for i, line in enumerate(pb.product_lines):
        for j, series in enumerate(line.series):
            loc = ("product_lines", i, "series", j)
            yield from _ref((*loc, "vehicle_type"), series.vehicle_type, vehicle_types, "vehicle_types")
            yield from _ref((*loc, "industry"), series.industry, industries, "industries")
        for j, focus in enumerate(line.focus):
            loc = ("product_lines", i, "focus", j)
            yield from _refs((*loc, "series"), focus.series, _codes(line.series), f"{line.code} series")
            yield from _refs((*loc, "provinces"), focus.provinces, provinces, "provinces")
            yield from _refs((*loc, "cities"), focus.cities, cities, "cities")
    for i, nature in enumerate(pb.natures):
        yield from _ref(
            ("natures", i, "decision_mode"), nature.decision_mode, _codes(pb.decision_modes), "decision_modes"
        )
    for i, mode in enumerate(pb.sales_modes):
        yield from _ref(("sales_modes", i, "typical_level"), mode.typical_level, _codes(pb.levels), "levels")
    scripts = _codes(pb.scripts)
    for i, action in enumerate(pb.actions):
        yield from _ref(
            ("actions", i, "activity_type"), action.activity_type, _codes(pb.activity_types), "activity_types"
        )
        yield from _ref(
            ("actions", i, "visit_kind"), action.visit_kind, _codes(pb.visit_kinds), "visit_kinds"
        )
        yield from _ref(("actions", i, "script"), action.script, scripts, "scripts")
    yield from _check_stages(pb)
    for i, tier in enumerate(pb.ceremony_tiers):
        yield from _refs(
            ("ceremony_tiers", i, "checklist"),
            tier.checklist,
            _codes(pb.ceremony_checklist_items),
            "ceremony_checklist_items",
        )
    missing_tiers = [tier.value for tier in CeremonyTier if tier not in _codes(pb.ceremony_tiers)]
    if missing_tiers:
        yield ("ceremony_tiers",), f"missing ceremony tiers {missing_tiers}"
    for i, source in enumerate(pb.information_sources):
        yield from _refs(
            ("information_sources", i, "industries"), source.industries, industries, "industries"
        )
    for i, activity in enumerate(pb.activity_types):
        yield from _ref(("activity_types", i, "kpi"), activity.kpi, _codes(pb.kpis), "kpis")
    if [q.number for q in pb.quarters] != [1, 2, 3, 4]:
        yield ("quarters",), "quarters must be numbered 1, 2, 3, 4 in order"
    for i, kpi in enumerate(pb.kpis):
        yield from _ref(("kpis", i, "system"), kpi.system, _codes(pb.kpi_systems), "kpi_systems")
    for i, multiplier in enumerate(pb.referral_rewards.multipliers):
        yield from _ref(
            ("referral_rewards", "multipliers", i, "vehicle_type"),
            multiplier.vehicle_type,
            vehicle_types,
            "vehicle_types",
        )


def _check_stages(pb: Playbook) -> Iterator[tuple[Loc, str]]:
    natures = _codes(pb.natures)
    if sorted(natures) != sorted(CustomerNature):
        yield ("natures",), f"natures must be exactly {[n.value for n in CustomerNature]}"
    expected = [stage.value for stage in Stage]
    found = _codes(pb.stages)
    if found != expected:
        at = next((i for i, (a, b) in enumerate(zip(found, expected, strict=False)) if a != b), len(found))
        loc: Loc = ("stages", at, "code") if at < len(found) else ("stages",)
        yield loc, f"stages must be, in this order, {expected}"
    actions, scripts, tools = _codes(pb.actions), _codes(pb.scripts), _codes(pb.tools)
    for i, stage in enumerate(pb.stages):
        stage_loc: Loc = ("stages", i)
        yield from _refs((*stage_loc, "tools"), stage.tools, tools, "tools")
        missing = [nature for nature in natures if nature not in stage.plays]
        if missing:
            yield (*stage_loc, "plays"), f"no play for natures {missing}"
        for nature, play in stage.plays.items():
            if nature not in natures:
                yield (*stage_loc, "plays", nature), f"unknown natures code {nature!r}"
            yield from _refs((*stage_loc, "plays", nature, "actions"), play.actions, actions, "actions")
            yield from _ref((*stage_loc, "plays", nature, "script"), play.script, scripts, "scripts")
