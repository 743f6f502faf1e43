"""Importing the org tree and staff from YAML (tree and staff) or CSV (staff): all rows or none."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.config import SUPPORTED_LOCALES
from bot.domain.errors import DomainError
from bot.domain.org import OrgKind, check_parent, check_role, parse_kind
from bot.domain.phones import normalize_phone
from storage.models import OrgUnit, Staff
from storage.uow import UnitOfWork

STAFF_COLUMNS = ("name", "phone", "role", "org")


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class ImportFailed(Exception):
    def __init__(self, source: str, errors: list[RowError]) -> None:
        super().__init__("\n".join(f"{source} {error}" for error in errors))
        self.errors = errors


@dataclass
class UnitRow:
    line: int
    code: str
    name: str
    kind: OrgKind
    parent: str | None
    province: str | None


@dataclass
class StaffRow:
    line: int
    name: str
    phone: str
    role: str
    org: str
    locale: str | None


@dataclass
class ImportReport:
    units_created: int = 0
    units_updated: int = 0
    staff_created: int = 0
    staff_updated: int = 0
    unchanged: int = 0
    notes: list[str] = field(default_factory=list)


def _yaml_items(text: str, key: str) -> list[tuple[int, Any]]:
    """The items of a top-level list with their 1-based line numbers."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return []
        if not isinstance(root, yaml.MappingNode):
            raise ImportFailed("", [RowError(root.start_mark.line + 1, "expected a mapping with units: and staff:")])
        for key_node, value_node in root.value:
            if key_node.value == key:
                if not isinstance(value_node, yaml.SequenceNode):
                    raise ImportFailed("", [RowError(value_node.start_mark.line + 1, f"{key}: expected a list")])
                return [(item.start_mark.line + 1, loader.construct_object(item, deep=True))
                        for item in value_node.value]
        return []
    finally:
        loader.dispose()


def _text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    return str(value).strip() or None


def parse_units(items: list[tuple[int, Any]], errors: list[RowError]) -> list[UnitRow]:
    rows: list[UnitRow] = []
    for line, item in items:
        if not isinstance(item, dict):
            errors.append(RowError(line, "expected a mapping with code, name, kind"))
            continue
        missing = [name for name in ("code", "name", "kind") if not _text(item, name)]
        if missing:
            errors.append(RowError(line, f"missing {', '.join(missing)}"))
            continue
        try:
            kind = parse_kind(_text(item, "kind") or "")
        except ValueError as error:
            errors.append(RowError(line, str(error)))
            continue
        rows.append(UnitRow(line, _text(item, "code") or "", _text(item, "name") or "", kind,
                            _text(item, "parent"), _text(item, "province")))
    return rows


def parse_staff_items(items: list[tuple[int, Any]], errors: list[RowError]) -> list[StaffRow]:
    rows: list[StaffRow] = []
    for line, item in items:
        if not isinstance(item, dict):
            errors.append(RowError(line, "expected a mapping with name, phone, role, org"))
            continue
        missing = [name for name in STAFF_COLUMNS if not _text(item, name)]
        if missing:
            errors.append(RowError(line, f"missing {', '.join(missing)}"))
            continue
        rows.append(StaffRow(line, _text(item, "name") or "", _text(item, "phone") or "", _text(item, "role") or "",
                             _text(item, "org") or "", _text(item, "locale")))
    return rows


def parse_staff_csv(text: str, errors: list[RowError]) -> list[StaffRow]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in STAFF_COLUMNS if name not in header]
    if missing:
        errors.append(RowError(1, f"header lacks column(s) {', '.join(missing)}"))
        return []
    items = [(reader.line_num, {k.strip(): v for k, v in row.items() if k}) for row in reader]
    return parse_staff_items(items, errors)


def playbook_region_class(province: str) -> str | None:
    """A or B for a province code of the playbook; None for an unknown province."""
    from bot.domain.playbook import default_playbook

    try:
        return default_playbook().region_class(province).code.upper()
    except KeyError:
        return None


class OrgImporter:
    """Validates every row first, then writes; any error leaves the database as it was."""

    def __init__(self, uow: UnitOfWork,
                 region_class_of: Callable[[str], str | None] = playbook_region_class) -> None:
        self.uow = uow
        self.region_class_of = region_class_of

    async def import_file(self, path: Path) -> ImportReport:
        return await self.import_text(path.name, path.read_text(encoding="utf-8"))  # noqa: ASYNC240  (a small file)

    async def import_text(self, name: str, text: str) -> ImportReport:
        """Imports a file's content; `name` gives its format (.yaml, .yml, .csv) and labels the errors."""
        path = Path(name)
        errors: list[RowError] = []
        try:
            if path.suffix.lower() == ".csv":
                units, staff = [], parse_staff_csv(text, errors)
            elif path.suffix.lower() in (".yaml", ".yml"):
                units = parse_units(_yaml_items(text, "units"), errors)
                staff = parse_staff_items(_yaml_items(text, "staff"), errors)
            else:
                raise ImportFailed(path.name, [RowError(1, "expected a .yaml, .yml or .csv file")])
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = mark.line + 1 if mark else 1
            raise ImportFailed(path.name, [RowError(line, f"not valid YAML: {error}")]) from None
        except ImportFailed as failed:
            raise ImportFailed(path.name, failed.errors) from None
        # Rows that parsed are still checked against the tree, so one run lists every problem.
        report = ImportReport()
        units_by_code = await self._apply_units(units, errors, report)
        await self._apply_staff(staff, units_by_code, errors, report)
        if errors:
            await self.uow.rollback()
            raise ImportFailed(path.name, sorted(errors, key=lambda error: error.line))
        await self.uow.audit.record("org.imported", subject=path.name, detail=report.__dict__)
        return report

    async def _apply_units(self, rows: list[UnitRow], errors: list[RowError],
                           report: ImportReport) -> dict[str, OrgUnit]:
        known = {unit.code: unit for unit in await self.uow.org.all()}
        seen: dict[str, int] = {}
        for row in rows:
            if row.code in seen:
                errors.append(RowError(row.line, f"code {row.code} repeats line {seen[row.code]}"))
                continue
            seen[row.code] = row.line
            parent = known.get(row.parent) if row.parent else None
            if row.parent and parent is None:
                errors.append(RowError(row.line, f"parent {row.parent} is not defined above this line"))
                continue
            try:
                check_parent(row.kind, parse_kind(parent.kind) if parent else None)
            except ValueError as error:
                errors.append(RowError(row.line, str(error)))
                continue
            region_class = None
            if row.province:
                region_class = self.region_class_of(row.province)
                if region_class is None:
                    errors.append(RowError(row.line, f"unknown province {row.province}"))
                    continue
            existing = known.get(row.code)
            if existing is not None:
                if existing.kind != row.kind.value or existing.parent_id != (parent.id if parent else None):
                    errors.append(RowError(row.line, f"{row.code} exists as another kind or under another "
                                                     "parent; moving units is not supported by import"))
                    continue
                changed = (existing.name, existing.province) != (row.name, row.province)
                existing.name, existing.province, existing.region_class = row.name, row.province, region_class
                self.uow.session.add(existing)
                report.units_updated += changed
                report.unchanged += not changed
                continue
            unit = OrgUnit(code=row.code, name=row.name, kind=row.kind.value, province=row.province,
                           region_class=region_class)
            known[row.code] = await self.uow.org.add(unit, parent)
            report.units_created += 1
        return known

    async def _apply_staff(self, rows: list[StaffRow], units: dict[str, OrgUnit], errors: list[RowError],
                           report: ImportReport) -> None:
        seen: dict[str, int] = {}
        for row in rows:
            unit = units.get(row.org)
            if unit is None:
                errors.append(RowError(row.line, f"unknown org unit {row.org}"))
                continue
            try:
                check_role(row.role, parse_kind(unit.kind))
                phone = normalize_phone(row.phone)
            except ValueError as error:
                errors.append(RowError(row.line, str(error)))
                continue
            except DomainError:
                errors.append(RowError(row.line, f"invalid phone number {row.phone}"))
                continue
            if row.locale and row.locale not in SUPPORTED_LOCALES:
                errors.append(RowError(row.line, f"locale must be one of {', '.join(SUPPORTED_LOCALES)}"))
                continue
            if phone in seen:
                errors.append(RowError(row.line, f"phone repeats line {seen[phone]}"))
                continue
            seen[phone] = row.line
            existing = await self.uow.staff.by_phone(phone)
            if existing is None:
                await self.uow.staff.add(Staff(name=row.name, phone=phone, role=row.role, org_unit_id=unit.id,
                                               locale=row.locale))
                report.staff_created += 1
                continue
            new_values = (row.name, row.role, unit.id, row.locale or existing.locale)
            changed = (existing.name, existing.role, existing.org_unit_id, existing.locale) != new_values
            existing.name, existing.role, existing.org_unit_id, existing.locale = new_values  # type: ignore[assignment]
            self.uow.session.add(existing)
            report.staff_updated += changed
            report.unchanged += not changed
