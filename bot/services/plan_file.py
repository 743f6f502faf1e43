"""Reading a plan file (YAML, CSV or .xlsx) into plan rows, and a coverage-area file into dealer cities.

YAML:
    year: 2026                      # optional: the current year when left out
    targets:
      - unit: hq                    # any org level, by unit code
        allocate: dealers           # dealers | even | {child-code: share, ...} | left out: no allocation
        kpis:
          customer_visits: {annual: 200000, quarters: [50000, 50000, 50000, 50000]}
          opinion_leaders: {quarters: [1500, 2000, 1000, optimise]}
CSV / .xlsx (first sheet), one row per unit and KPI, a header row:
    year,unit,kpi,annual,q1,q2,q3,q4,allocate       (allocate: dealers, even or "mkt-a=3;mkt-b=2")
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from bot.domain.targets import PlanRow, TargetError

OPTIMISE = ("optimise", "optimize", "")


def _figure(value: Any, where: str) -> Decimal | None:
    if value is None:
        return None
    text = str(value).strip().rstrip("%").replace(",", "")
    if text.lower() in OPTIMISE:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise TargetError(f"{where}: {value!r} is not a number (or 'optimise')") from None
    if not number.is_finite() or number < 0:
        raise TargetError(f"{where}: {value!r} must be a number of zero or more")
    return number


def _allocate(value: Any, where: str) -> str | dict[str, Decimal] | None:
    if value in (None, ""):
        return None
    if isinstance(value, dict):
        return {str(code): _figure(share, f"{where}: allocate.{code}") or Decimal(0) for code, share in value.items()}
    text = str(value).strip()
    if "=" in text:
        shares: dict[str, Decimal] = {}
        for part in text.split(";"):
            code, _, share = part.partition("=")
            shares[code.strip()] = _figure(share, f"{where}: allocate {code.strip()}") or Decimal(0)
        return shares
    if text not in ("dealers", "even"):
        raise TargetError(f"{where}: allocate must be dealers, even or shares like mkt-a=3;mkt-b=2")
    return text


def _quarters(values: Any, where: str) -> tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None]:
    values = list(values or [None] * 4)
    if len(values) != 4:
        raise TargetError(f"{where}: quarters needs four figures (a number or 'optimise' each)")
    q1, q2, q3, q4 = (_figure(v, f"{where}: Q{i}") for i, v in enumerate(values, start=1))
    return q1, q2, q3, q4


def read_plan(path: Path) -> tuple[int | None, list[PlanRow]]:
    """(the year the file names, or None; its rows). Raises TargetError naming the row."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return _read_yaml(path.read_text(encoding="utf-8"), path.name)
    if suffix == ".csv":
        return _read_table(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))), path.name)
    if suffix == ".xlsx":
        return _read_table(_xlsx_rows(path), path.name)
    raise TargetError(f"{path.name}: use a .yaml, .csv or .xlsx file")


def _read_yaml(text: str, name: str) -> tuple[int | None, list[PlanRow]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise TargetError(f"{name}: invalid YAML: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("targets"), list):
        raise TargetError(f"{name}: expected a mapping with a `targets:` list")
    year = data.get("year")
    if year is not None and not isinstance(year, int):
        raise TargetError(f"{name}: year must be a number like 2026")
    rows: list[PlanRow] = []
    for index, entry in enumerate(data["targets"], start=1):
        where = f"{name} targets[{index}]"
        if not isinstance(entry, dict) or "unit" not in entry:
            raise TargetError(f"{where}: each entry needs a unit code")
        allocate = _allocate(entry.get("allocate"), where)
        kpis = entry.get("kpis")
        if kpis is None and "kpi" in entry:
            kpis = {entry["kpi"]: entry}
        if not isinstance(kpis, dict) or not kpis:
            raise TargetError(f"{where}: give `kpis:` (KPI: figures) or one `kpi:`")
        for kpi, figures in kpis.items():
            figures = figures or {}
            if not isinstance(figures, dict):
                raise TargetError(f"{where}.{kpi}: expected annual: and/or quarters:")
            rows.append(PlanRow(unit=str(entry["unit"]), kpi=str(kpi),
                                quarters=_quarters(figures.get("quarters"), f"{where}.{kpi}"),
                                annual=_figure(figures.get("annual"), f"{where}.{kpi}: annual"),
                                allocate=allocate))
    return year, rows


def _xlsx_rows(path: Path) -> Iterator[dict[str, Any]]:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = [str(cell).strip().lower() if cell is not None else "" for cell in next(rows, ())]
        for values in rows:
            if any(v not in (None, "") for v in values):
                yield dict(zip(header, values, strict=False))
    finally:
        book.close()


def _read_table(rows: Iterable[dict[str, Any]], name: str) -> tuple[int | None, list[PlanRow]]:
    years: set[int] = set()
    plan: list[PlanRow] = []
    for index, raw in enumerate(rows, start=2):
        row = {str(k).strip().lower(): v for k, v in raw.items() if k is not None}
        where = f"{name} row {index}"
        if not row.get("unit") or not row.get("kpi"):
            raise TargetError(f"{where}: unit and kpi are required")
        if row.get("year") not in (None, ""):
            try:
                years.add(int(str(row["year"]).strip()))
            except ValueError:
                raise TargetError(f"{where}: year must be a number like 2026") from None
        plan.append(PlanRow(unit=str(row["unit"]).strip(), kpi=str(row["kpi"]).strip(),
                            quarters=_quarters([row.get(f"q{i}") for i in range(1, 5)], where),
                            annual=_figure(row.get("annual"), f"{where}: annual"),
                            allocate=_allocate(row.get("allocate"), where)))
    if len(years) > 1:
        raise TargetError(f"{name}: one year per file, found {sorted(years)}")
    return (years.pop() if years else None), plan


def read_areas(path: Path) -> dict[str, list[str]]:
    """A YAML mapping `areas: {dealer-code: [county-level city, ...]}`."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    areas = data.get("areas") if isinstance(data, dict) else None
    if not isinstance(areas, dict):
        raise TargetError(f"{path.name}: expected `areas:` mapping dealer codes to lists of cities")
    result: dict[str, list[str]] = {}
    for code, cities in areas.items():
        if not isinstance(cities, list) or not all(isinstance(c, str) for c in cities):
            raise TargetError(f"{path.name}: areas.{code}: expected a list of city names")
        result[str(code)] = cities
    return result
