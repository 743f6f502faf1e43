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
PROGRESS_EVERY = 500  # rows between progress reports
Progress = Callable[[int, int], None]  # (rows done, rows in all)


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
        kind = None
        if _text(item, "kind"):
            try:
                kind = parse_kind(_text(item, "kind") or "")
            except ValueError as error:
                errors.append(RowError(line, str(error)))
        if missing or kind is None:
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


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without the BOM Excel writes), else GB18030, the superset of the GBK that Excel and WPS
    save on Chinese Windows. Raises UnicodeDecodeError when it is neither."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def parse_staff_xlsx(data: bytes, errors: list[RowError]) -> list[StaffRow]:
    """The first sheet of a workbook, laid out like the CSV: a header row (name, phone, role, org[, locale])."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises several kinds for a file that is not a workbook
        errors.append(RowError(1, f"not a readable .xlsx workbook ({type(error).__name__})"))
        return []
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header_row = next(rows, None) or ()
        header = [str(cell).strip() if cell is not None else "" for cell in header_row]
        missing = [name for name in STAFF_COLUMNS if name not in header]
        if missing:
            errors.append(RowError(1, f"header lacks column(s) {', '.join(missing)}"))
            return []
        items = []
        for line, values in enumerate(rows, start=2):
            if all(value is None or str(value).strip() == "" for value in values):
                continue
            items.append((line, {name: _cell(value) for name, value in zip(header, values, strict=False) if name}))
        return parse_staff_items(items, errors)
    finally:
        workbook.close()


def _cell(value: Any) -> str | None:
    """A cell as text: phones typed as numbers come back as ints (or floats) and must not gain a ".0"."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


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

    async def import_file(self, path: Path, progress: Progress | None = None) -> ImportReport:
        """Imports .yaml/.yml/.csv (UTF-8, UTF-8 with BOM, GBK/GB18030) or .xlsx (first sheet: staff)."""
        data = path.read_bytes()  # noqa: ASYNC240  (read once, parsed in memory)
        if path.suffix.lower() == ".xlsx":
            errors: list[RowError] = []
            staff = parse_staff_xlsx(data, errors)
            return await self._import_rows(path.name, [], staff, errors, progress)
        try:
            text = decode_text(data)
        except UnicodeDecodeError as error:
            raise ImportFailed(path.name, [RowError(1, f"cannot read the file as text: {error.reason}; save it as "
                                                       "UTF-8 (or GBK, or .xlsx)")]) from None
        return await self.import_text(path.name, text, progress)

    async def import_text(self, name: str, text: str, progress: Progress | None = None) -> ImportReport:
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
                raise ImportFailed(path.name, [RowError(1, "expected a .yaml, .yml, .csv or .xlsx file")])
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = mark.line + 1 if mark else 1
            raise ImportFailed(path.name, [RowError(line, f"not valid YAML: {error}")]) from None
        except ImportFailed as failed:
            raise ImportFailed(path.name, failed.errors) from None
        return await self._import_rows(path.name, units, staff, errors, progress)

    async def _import_rows(self, name: str, units: list[UnitRow], staff: list[StaffRow], errors: list[RowError],
                           progress: Progress | None) -> ImportReport:
        path = Path(name)
        # Rows that parsed are still checked against the tree, so one run lists every problem.
        report = ImportReport()
        units_by_code = await self._apply_units(units, errors, report)
        await self._apply_staff(staff, units_by_code, errors, report, progress)
        await self.uow.session.flush()
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
            # Every problem of the row is reported, not only the first, so one run lists all there is to fix.
            problems: list[str] = []
            parent = known.get(row.parent) if row.parent else None
            if row.parent and parent is None:
                problems.append(f"parent {row.parent} is not defined above this line")
            else:
                try:
                    check_parent(row.kind, parse_kind(parent.kind) if parent else None)
                except ValueError as error:
                    problems.append(str(error))
            region_class = None
            if row.province:
                region_class = self.region_class_of(row.province)
                if region_class is None:
                    problems.append(f"unknown province {row.province}")
            if problems:
                errors.extend(RowError(row.line, problem) for problem in problems)
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
                           report: ImportReport, progress: Progress | None = None) -> None:
        seen: dict[str, int] = {}
        # One query for everybody on file instead of one per row: 5,000 rows stay a matter of seconds.
        on_file = {staff.phone: staff for staff in await self.uow.staff.all() if staff.phone}
        for done, row in enumerate(rows, start=1):
            if progress is not None and (done % PROGRESS_EVERY == 0 or done == len(rows)):
                progress(done, len(rows))
            # Every problem of the row is reported, not only the first.
            problems: list[str] = []
            unit = units.get(row.org)
            if unit is None:
                problems.append(f"unknown org unit {row.org}")
            else:
                try:
                    check_role(row.role, parse_kind(unit.kind))
                except ValueError as error:
                    problems.append(str(error))
            phone = None
            try:
                phone = normalize_phone(row.phone)
            except DomainError:
                problems.append(f"invalid phone number {row.phone}")
            if row.locale and row.locale not in SUPPORTED_LOCALES:
                problems.append(f"locale must be one of {', '.join(SUPPORTED_LOCALES)}")
            if phone is not None and phone in seen:
                problems.append(f"phone repeats line {seen[phone]}")
            if problems or unit is None or phone is None:
                errors.extend(RowError(row.line, problem) for problem in problems)
                continue
            seen[phone] = row.line
            existing = on_file.get(phone)
            if existing is None:
                assert unit.id is not None
                on_file[phone] = await self.uow.staff.add(Staff(
                    name=row.name, phone=phone, role=row.role, org_unit_id=unit.id, locale=row.locale), flush=False)
                report.staff_created += 1
                continue
            new_values = (row.name, row.role, unit.id, row.locale or existing.locale)
            changed = (existing.name, existing.role, existing.org_unit_id, existing.locale) != new_values
            existing.name, existing.role, existing.org_unit_id, existing.locale = new_values  # type: ignore[assignment]
            self.uow.session.add(existing)
            report.staff_updated += changed
            report.unchanged += not changed
