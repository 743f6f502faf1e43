import re
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.domain.playbook import (
    DEFAULT_PATH,
    CeremonyTier,
    CustomerNature,
    Label,
    Playbook,
    PlaybookError,
    Stage,
    default_playbook,
    load_playbook,
)

CLASS_A = (
    "heilongjiang liaoning jilin hebei tianjin beijing shanxi henan shandong jiangsu shanghai anhui "
    "guangdong jiangxi zhejiang shaanxi"
).split()
CLASS_B = (
    "xinjiang xizang gansu qinghai guangxi ningxia nei_menggu fujian guizhou hunan hubei hainan sichuan "
    "yunnan chongqing"
).split()
SECTION_6_ACTIVITIES = {
    "roadshow": "promotion",
    "promotion_meeting": "promotion",
    "launch_event": "promotion",
    "exhibition": "promotion",
    "test_drive": "promotion",
    "fixed_point_display": "promotion",
    "door_display": "promotion",
    "thank_you_meeting": "relationship",
    "customer_trip": "relationship",
    "factory_visit": "relationship",
    "delivery_ceremony": "relationship",
    "driver_training": "relationship",
    "customer_contest": "promotion",
    "wall_advertising": "promotion",
}
OPT = "optimise"
SECTION_2_TARGETS = {
    "information_stations": ("3000", ["1200", "1800", OPT, OPT]),
    "opinion_leaders": ("4500", ["1500", "2000", "1000", OPT]),
    "organisation_pass_rate": ("85", ["70", "85", OPT, OPT]),
    "customer_visits": ("200000", ["50000", "50000", "50000", "50000"]),
    "organisation_contribution": ("10.3", ["9", "10", "11", "11.5"]),
    "promotion": ("5500", ["1100", "1500", "1500", "1400"]),
    "relationship": ("3500", ["800", "900", "900", "900"]),
    "marketing_tools": ("100", [None, None, None, None]),
    "trainers_hq": (None, ["2", "2", "1", None]),
    "trainers_market": (None, ["10", "15", "6", None]),
    "trainers_dealer": (None, ["30", "50", "40", None]),
}


def as_target(value: str | None) -> Decimal | str | None:
    return Decimal(value) if value not in (None, OPT) else value


@pytest.fixture(scope="module")
def playbook() -> Playbook:
    return load_playbook()


def all_labels(value: object, path: str = "") -> list[tuple[str, Label]]:
    if isinstance(value, Label):
        return [(path, value)]
    if isinstance(value, BaseModel):
        return [
            found
            for name in type(value).model_fields
            for found in all_labels(getattr(value, name), f"{path}.{name}")
        ]
    if isinstance(value, list | tuple):
        return [found for i, child in enumerate(value) for found in all_labels(child, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [found for key, child in value.items() for found in all_labels(child, f"{path}.{key}")]
    return []


# --- the shipped file -------------------------------------------------------------------------------


def test_default_playbook_is_loaded_once() -> None:
    assert default_playbook() is default_playbook()
    assert default_playbook().version == 1


def test_all_31_provinces_with_their_class(playbook: Playbook) -> None:
    assert len(playbook.provinces) == 31
    assert {p.code for p in playbook.provinces if p.region_class == "a"} == set(CLASS_A)
    assert {p.code for p in playbook.provinces if p.region_class == "b"} == set(CLASS_B)
    assert playbook.region_class("beijing").code == "a"
    assert playbook.region_class("chongqing").code == "b"
    assert playbook.province("shaanxi").label.zh_CN == "陕西"
    assert playbook.province("shanxi").label.zh_CN == "山西"


def test_coverage_minimums_per_class(playbook: Playbook) -> None:
    a, b = playbook.item("region_classes", "a"), playbook.item("region_classes", "b")
    assert (a.stations_per_city, a.leaders_per_city) == (2, 3)
    assert (b.stations_per_city, b.leaders_per_city) == (1, 2)


def test_every_section_6_activity_type_with_its_kpi(playbook: Playbook) -> None:
    assert {a.code: a.kpi for a in playbook.activity_types} == SECTION_6_ACTIVITIES


@pytest.mark.parametrize("kpi_code", SECTION_2_TARGETS)
def test_kpi_targets_match_section_2(playbook: Playbook, kpi_code: str) -> None:
    annual, quarters = SECTION_2_TARGETS[kpi_code]
    kpi = playbook.kpi(kpi_code)
    assert kpi.annual == as_target(annual)
    assert list(kpi.quarters) == [as_target(q) for q in quarters]


def test_no_kpi_beyond_section_2(playbook: Playbook) -> None:
    assert {k.code for k in playbook.kpis} == set(SECTION_2_TARGETS)


def test_ceremony_tiers_and_checklists(playbook: Playbook) -> None:
    assert [t.code for t in playbook.ceremony_tiers] == [t.value for t in CeremonyTier]
    common = {"salesperson_attends", "manager_attends", "service_policy", "group_photo", "see_off"}
    venues = {"simple": "combined_with_meeting", "moderate": "at_dealer_4s_store", "grand": "at_hotel"}
    for tier in playbook.ceremony_tiers:
        assert set(tier.checklist) == common | {venues[tier.code]}


def test_stages_in_cycle_order_with_a_play_per_nature(playbook: Playbook) -> None:
    assert [s.code for s in playbook.stages] == [
        "collect", "need", "follow_up", "purchase", "maintain", "repurchase",
    ]  # fmt: skip
    assert [s.code for s in playbook.stages] == [s.value for s in Stage]
    for stage in playbook.stages:
        assert set(stage.plays) == {n.value for n in CustomerNature}


def test_customer_classification_lists(playbook: Playbook) -> None:
    assert [n.code for n in playbook.natures] == ["individual", "individual_business", "unit"]
    assert [lv.code for lv in playbook.levels] == ["vip", "gold", "silver", "general"]
    assert [m.code for m in playbook.sales_modes] == ["direct", "distribution"]
    assert len(playbook.decision_modes) == 5
    assert {s.code for s in playbook.scripts} == {"phone_follow_up", "complaint_handling", "door_visit"}


def test_vehicle_types_and_industries(playbook: Playbook) -> None:
    assert [v.code for v in playbook.vehicle_types] == ["tractor", "dump", "flatbed", "special"]
    by_type = {
        v.code: {i.code for i in playbook.industries if v.code in i.vehicle_types}
        for v in playbook.vehicle_types
    }
    assert len(by_type["tractor"]) == 8
    assert len(by_type["dump"]) == 5
    assert len(by_type["flatbed"]) == 7
    assert by_type["special"] == {"concrete_mixer", "material_truck", "tanker", "truck_crane"}
    assert playbook.vehicle_type("flatbed").activities_county_level_or_below


def test_product_lines_focus_regions_and_activity_counts(playbook: Playbook) -> None:
    assert [line.code for line in playbook.product_lines] == ["tx", "vt", "special"]
    counts = {f.code: f.activities_per_year for line in playbook.product_lines for f in line.focus}
    assert counts == {
        "tx_tractor_declining": 300,
        "tx_tractor_not_won": 320,
        "tx_dump_mining": 150,
        "tx_flatbed_new_6_cities": 150,
        "tx_flatbed_3_cities": 80,
        "vt_tractor_new_5_regions": 180,
        "vt_dump_9m_regions": 60,
        "vt_dump_new_5_regions": 50,
        "vt_flatbed_new_5_regions": 80,
        "special_mixer_regions": 30,
        "special_material_regions": 20,
        "special_tanker_regions": 20,
        "special_crane_regions": 10,
    }
    declining = playbook.item("focus_regions", "tx_tractor_declining")
    assert len(declining.provinces) == 10
    vt = playbook.item("product_lines", "vt")
    assert (vt.launch_min_attendees, vt.county_channel_min_activities_per_month) == (50, 2)


def test_referral_multiplier_for_flatbed(playbook: Playbook) -> None:
    assert playbook.referral_rewards.payout == "quarterly"
    assert playbook.referral_rewards.default_multiplier == Decimal("1.0")
    assert [(m.vehicle_type, m.multiplier) for m in playbook.referral_rewards.multipliers] == [
        ("flatbed", Decimal("1.3"))
    ]


def test_information_sources_include_muck_bureaus(playbook: Playbook) -> None:
    codes = {s.code for s in playbook.information_sources}
    assert {"vehicle_admin_office", "insurer", "truck_broker", "petrol_station"} <= codes
    muck_only = {s.code for s in playbook.information_sources if s.industries == ["urban_muck"]}
    assert {"landscaping_bureau", "sanitation_bureau", "demolition_office", "traffic_police"} <= muck_only
    assert {"repair_station", "parts_shop", "insurer", "logistics_company"} <= {
        k.code for k in playbook.station_kinds
    }


def test_every_label_has_chinese_and_english(playbook: Playbook) -> None:
    labels = all_labels(playbook)
    assert len(labels) > 250
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for path, label in labels:
        assert label.zh_CN.strip() and label.en.strip(), path
        assert not cjk.search(label.en), path
        if not re.fullmatch(r"[A-Za-z0-9 ]+", label.zh_CN):  # brand names like "TX", "GPS" stay as they are
            assert cjk.search(label.zh_CN), path


def test_codes_are_ascii_snake_case(playbook: Playbook) -> None:
    for kind in playbook.kinds:
        for code, _ in playbook.choices(kind, "en"):
            assert re.fullmatch(r"[a-z][a-z0-9_]*", code), (kind, code)


# --- lookups ----------------------------------------------------------------------------------------


def test_label_picks_the_locale(playbook: Playbook) -> None:
    assert playbook.label("natures", "unit", "zh_CN") == "单位客户"
    assert playbook.label("natures", "unit", "zh") == "单位客户"
    assert playbook.label("natures", "unit", "en") == "Organisation"
    assert playbook.label("series", "tx_tractor_gtl", "en") == "TX tractor GTL"


def test_choices_keep_file_order(playbook: Playbook) -> None:
    assert playbook.choices("levels", "zh_CN") == [
        ("vip", "VIP客户"), ("gold", "金质客户"), ("silver", "银质客户"), ("general", "一般客户"),
    ]  # fmt: skip


def test_unknown_kind_or_code_raises_key_error(playbook: Playbook) -> None:
    with pytest.raises(KeyError, match="unknown playbook kind 'planets'"):
        playbook.choices("planets", "en")
    with pytest.raises(KeyError, match="unknown playbook kind 'planets'"):
        playbook.item("planets", "mars")
    with pytest.raises(KeyError, match="unknown provinces code 'atlantis'"):
        playbook.province("atlantis")


# --- broken files -----------------------------------------------------------------------------------

SOURCE = DEFAULT_PATH.read_text(encoding="utf-8")


def line_of(text: str, fragment: str) -> int:
    index = text.index(fragment)
    return text.count("\n", 0, index) + 1


def write_broken(tmp_path: Path, old: str, new: str) -> tuple[Path, str]:
    assert SOURCE.count(old) == 1, old
    text = SOURCE.replace(old, new)
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    return path, text


def load_error(path: Path) -> str:
    """The first problem reported for a broken file."""
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    assert str(caught.value).startswith(caught.value.problems[0])
    return caught.value.problems[0]


def test_missing_key_names_line_and_path(tmp_path: Path) -> None:
    old = "      - {code: vt_dump_9m, vehicle_type: dump,"
    path, text = write_broken(tmp_path, old, "      - {vehicle_type: dump,")
    line = line_of(text, "      - {vehicle_type: dump,")
    assert load_error(path) == f"broken.yaml line {line}: product_lines[1].series[1].code: field required"


def test_duplicate_code_names_line_and_path(tmp_path: Path) -> None:
    path, text = write_broken(tmp_path, "  - {code: sms, label:", "  - {code: exhibition, label:")
    second = line_of(text, "  - {code: exhibition, activity_type:")
    assert (
        load_error(path)
        == f"broken.yaml line {second}: actions[5].code: duplicate code 'exhibition' (first at actions[4])"
    )


def test_dangling_reference_names_line_and_path(tmp_path: Path) -> None:
    old = "  - {code: equipment, vehicle_types: [tractor],"
    path, text = write_broken(tmp_path, old, "  - {code: equipment, vehicle_types: [tractr],")
    line = line_of(text, "vehicle_types: [tractr]")
    assert (
        load_error(path)
        == f"broken.yaml line {line}: industries[3].vehicle_types[0]: unknown vehicle_types code 'tractr'"
    )


def test_dangling_stage_script(tmp_path: Path) -> None:
    old = "      individual_business: {actions: [phone_check], script: phone_follow_up}"
    path, text = write_broken(tmp_path, old, old.replace("script: phone_follow_up", "script: phone_script"))
    line = line_of(text, "script: phone_script")
    assert load_error(path) == (
        f"broken.yaml line {line}: stages[1].plays.individual_business.script: "
        "unknown scripts code 'phone_script'"
    )


def test_dangling_focus_province(tmp_path: Path) -> None:
    old = "        provinces: [xinjiang, heilongjiang, guangdong,"
    path, text = write_broken(tmp_path, old, "        provinces: [sinkiang, heilongjiang, guangdong,")
    line = line_of(text, "[sinkiang")
    assert (
        f"broken.yaml line {line}: product_lines[2].focus[3].provinces[0]: unknown provinces code 'sinkiang'"
        in (load_error(path))
    )


def test_stages_out_of_order(tmp_path: Path) -> None:
    path, text = write_broken(tmp_path, "  - code: purchase\n", "  - code: maintain_early\n")
    line = line_of(text, "  - code: maintain_early")
    assert load_error(path).startswith(
        f"broken.yaml line {line}: stages[3].code: stages must be, in this order"
    )


def test_bad_quarter_target(tmp_path: Path) -> None:
    old = "quarters: [1200, 1800, optimise, optimise]"
    path, text = write_broken(tmp_path, old, "quarters: [1200, 1800, optimize, optimise]")
    line = line_of(text, "optimize")
    assert load_error(path).startswith(f"broken.yaml line {line}: kpis[0].quarters[2]:")


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    old = "    stations_per_city: 1\n"
    path, text = write_broken(tmp_path, old, old + "    stations_per_city: 4\n")
    line = line_of(text, "    stations_per_city: 4")
    assert load_error(path) == (
        f"broken.yaml line {line}: region_classes[1].stations_per_city: duplicate key 'stations_per_city'"
    )


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    path, text = write_broken(tmp_path, "    launch_min_attendees: 50\n", "    launch_min_atendees: 50\n")
    line = line_of(text, "launch_min_atendees")
    assert load_error(path) == (
        f"broken.yaml line {line}: product_lines[1].launch_min_atendees: extra inputs are not permitted"
    )


def test_empty_label_is_refused(tmp_path: Path) -> None:
    path, text = write_broken(tmp_path, "label: {zh_CN: 西藏, en: Tibet}", "label: {zh_CN: 西藏, en: ' '}")
    line = line_of(text, "en: ' '")
    assert load_error(path).startswith(f"broken.yaml line {line}: provinces[17].label.en:")


def test_wrong_version_and_invalid_yaml(tmp_path: Path) -> None:
    path, text = write_broken(tmp_path, "version: 1\n", "version: 2\n")
    assert load_error(path).startswith(
        f"broken.yaml line {line_of(text, 'version: 2')}: version: input should be 1"
    )
    path, text = write_broken(tmp_path, "  - {code: tianjin,", "  - {code: tianjin")
    assert load_error(path).startswith(f"broken.yaml line {line_of(text, '{code: tianjin')}: invalid YAML:")


def test_broken_playbook_stops_the_bot_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Building the dispatcher loads the playbook: a broken file is reported at start with its line and key,
    not when someone first taps a button that needs it."""
    from app.assembly import build_dispatcher
    from bot.config import load_settings
    from storage.engine import make_engine, make_sessionmaker

    old = "  - {code: equipment, vehicle_types: [tractor],"
    path, text = write_broken(tmp_path, old, "  - {code: equipment, vehicle_types: [tractr],")
    line = line_of(text, "vehicle_types: [tractr]")
    for name in ("BOT_TOKEN", "DATABASE_URL", "REDIS_URL", "DEFAULT_LOCALE", "TIMEZONE", "TELEGRAM_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}", _env_file=None)
    sessionmaker = make_sessionmaker(make_engine(settings.database_url))
    monkeypatch.setattr("bot.domain.playbook.DEFAULT_PATH", path)
    default_playbook.cache_clear()
    try:
        with pytest.raises(PlaybookError) as caught:
            build_dispatcher(settings, sessionmaker)
        assert f"broken.yaml line {line}: industries[3].vehicle_types[0]" in str(caught.value)
    finally:
        default_playbook.cache_clear()
    monkeypatch.undo()
    assert build_dispatcher(settings, sessionmaker) is not None  # the shipped file starts fine


# --- DOMAIN.md sections 4-5, item by item ------------------------------------------------------------

SECTION_5_PLAYS = {
    "collect": {"individual": ["canvassing"], "individual_business": ["door_visit"],
                "unit": ["web_search", "public_relations"]},
    "need": {"individual": ["phone_check"], "individual_business": ["phone_check"],
             "unit": ["phone_check", "door_visit"]},
    "follow_up": {
        "individual": ["sms", "exhibition", "roadshow", "store_test_drive", "new_product_seminar", "site_roadshow"],
        "individual_business": ["door_visit", "promotion_meeting", "exhibition", "fixed_point_display",
                                "thank_you_meeting", "out_of_town_trip"],
        "unit": ["door_visit", "door_display", "launch_event", "exhibition", "thank_you_meeting", "experience_tour",
                 "factory_visit", "joint_meeting"],
    },
    "purchase": {nature: ["delivery_ceremony"] for nature in ("individual", "individual_business", "unit")},
    "maintain": {
        "individual": ["phone_revisit", "service_activity", "holiday_sms", "maintenance_reminder",
                       "complaint_handling"],
        "individual_business": ["door_inspection", "parts_reservation", "repair_appointment", "usage_reminder",
                                "event_tickets", "trip_invitation"],
        "unit": ["driver_training", "scheduled_service", "holiday_gifts", "free_on_site_check",
                 "on_site_service_person"],
    },
}
SECTION_4_INDUSTRIES = {
    "tractor": {"daily_industrial_goods", "iron_ore_steel", "coal", "equipment", "hazardous_goods", "sand_gravel",
                "bulk_tank", "car_carrier"},
    "dump": {"urban_muck", "mining_engineering", "sand_gravel", "coal", "minerals"},
    "flatbed": {"agricultural_products", "building_materials", "coke", "daily_industrial_goods", "refrigerated",
                "bulk_materials", "hazardous_goods"},
    "special": {"concrete_mixer", "material_truck", "tanker", "truck_crane"},
}
SECTION_5_SOURCES = {
    "vehicle_admin_office", "insurer", "coal_association", "transport_association", "cement_association",
    "yellow_pages", "websites", "steel_mill", "mine", "coal_yard", "repair_station", "service_station", "parts_shop",
    "logistics_company", "affiliation_company", "coking_plant", "coal_washing_plant", "competitor_brand", "fleet",
    "parking_lot", "freight_centre", "construction_site", "muck_disposal_site", "petrol_station", "truck_broker",
}
SECTION_5_MUCK_BUREAUS = {
    "landscaping_bureau", "sanitation_bureau", "construction_commission", "demolition_office",
    "construction_waste_office", "land_resources_bureau", "traffic_police",
}


def test_section_5_every_play_per_stage_and_nature(playbook: Playbook) -> None:
    for stage in playbook.stages:
        if stage.code in SECTION_5_PLAYS:
            assert {nature: play.actions for nature, play in stage.plays.items()} == SECTION_5_PLAYS[stage.code]
    collect = next(s for s in playbook.stages if s.code == "collect")
    assert collect.tools == ["collection_guide", "collection_form"]
    action_codes = {a.code for a in playbook.actions}
    assert {code for plays in SECTION_5_PLAYS.values() for codes in plays.values() for code in codes} <= action_codes


def test_section_4_industries_of_each_vehicle_type(playbook: Playbook) -> None:
    by_type = {v.code: {i.code for i in playbook.industries if v.code in i.vehicle_types}
               for v in playbook.vehicle_types}
    assert by_type == SECTION_4_INDUSTRIES
    muck = playbook.item("industries", "urban_muck")
    assert {"transport_licence", "environmental_cover", "roof_light", "gps"} <= {r.code for r in muck.requirements}
    coal = playbook.item("industries", "coal")
    assert (coal.max_route_km, coal.buying_months) == (1000, [3, 4, 5, 6, 7, 9, 10, 11])


def test_section_5_information_sources_complete(playbook: Playbook) -> None:
    general = {s.code for s in playbook.information_sources if not s.industries}
    muck_only = {s.code for s in playbook.information_sources if s.industries == ["urban_muck"]}
    assert SECTION_5_SOURCES <= general
    assert SECTION_5_MUCK_BUREAUS <= muck_only
