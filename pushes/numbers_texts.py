"""Texts of the managers' numbers: /targets, /coverage, the daily digest, the quarter summary, target nudges.

Each function draws in the current gettext locale; pushes set the recipient's locale around the call."""

from __future__ import annotations

from decimal import Decimal

from aiogram.utils.i18n import gettext as _

from bot.domain.targets import RATE_KPIS, Progress
from bot.i18n import N_
from bot.services.digest import Digest, Nudge, QuarterSummary
from bot.services.export import ExportLabels
from bot.services.numbers import CoverageReport, Evaluation, UnitNumbers
from ui.labels import current_locale, format_day, playbook_label

GAPS_LISTED = 20
LAGGING_LISTED = 8

KPI_SHORT = {
    "information_stations": N_("Stations"),
    "opinion_leaders": N_("Leaders"),
    "organisation_pass_rate": N_("Org. pass rate"),
    "customer_visits": N_("Visits"),
    "organisation_contribution": N_("Unit-customer share"),
    "promotion": N_("Promotion"),
    "relationship": N_("Relationship"),
}


def kpi_name(kpi: str) -> str:
    return playbook_label("kpis", kpi)


def kpi_short(kpi: str) -> str:
    return _(KPI_SHORT[kpi]) if kpi in KPI_SHORT else kpi


def _number(value: Decimal | None) -> str:
    if value is None:
        return "—"
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value.normalize():f}"


def percent(value: Decimal | None) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.0f}%"


def progress_line(row: Progress) -> str:
    name = kpi_name(row.kpi)
    if row.target is None:
        if row.kpi in RATE_KPIS:
            return _("• {kpi}: {actual}% (no number set: optimise)").format(kpi=name, actual=_number(row.actual))
        return _("• {kpi}: {actual} (no number set: optimise)").format(kpi=name, actual=_number(row.actual))
    flag = " ⚠️" if row.lagging else ""
    if row.kpi in RATE_KPIS:
        return _("• {kpi}: {actual}% of a {target}% target{flag}").format(
            kpi=name, actual=_number(row.actual), target=_number(row.target), flag=flag)
    return _("• {kpi}: {actual}/{target}, {done} done, {gone} of the quarter gone{flag}").format(
        kpi=name, actual=_number(row.actual), target=_number(row.target), done=percent(row.share_done),
        gone=percent(row.share_gone), flag=flag)


def lagging_lines(numbers: UnitNumbers) -> list[str]:
    if not numbers.lagging_children:
        return [_("No unit below is behind the quarter's pace.")]
    lines = [_("Behind the quarter's pace ({count}):").format(count=len(numbers.lagging_children))]
    for lag in numbers.lagging_children[:LAGGING_LISTED]:
        parts = "、".join(f"{kpi_short(p.kpi)} {percent(p.share_done)}"  # i18n-ok
                         for p in lag.kpis)
        lines.append(f"• {lag.unit.name}: {parts}")
    if len(numbers.lagging_children) > LAGGING_LISTED:
        lines.append(_("…and {count} more").format(count=len(numbers.lagging_children) - LAGGING_LISTED))
    return lines


def targets_text(numbers: UnitNumbers) -> str:
    lines = [_("🎯 {unit}: Q{quarter} {year} against target").format(
                unit=numbers.unit.name, quarter=numbers.quarter, year=numbers.year),
             _("{days} days left in the quarter.").format(days=numbers.days_left), ""]
    lines += [progress_line(row) for row in numbers.progress]
    if not any(row.target is not None for row in numbers.progress):
        lines += ["", _("No targets are set for this quarter yet (fieldbot targets import).")]
    lines += [""] + lagging_lines(numbers)
    return "\n".join(lines)


def coverage_text(unit_name: str, report: CoverageReport) -> str:
    if report.cities == 0:
        return _("🗺 {unit}: no county-level cities recorded for its dealers yet.").format(unit=unit_name)
    head = _("🗺 {unit}: coverage of {cities} county-level cities, {gaps} below the minimum").format(
        unit=unit_name, cities=report.cities, gaps=len(report.gaps))
    if not report.gaps:
        return head + "\n\n" + _("Every city has its information stations and opinion leaders. Well done!")
    lines = [head, ""]
    for gap in report.gaps[:GAPS_LISTED]:
        missing = []
        if gap.stations_missing:
            missing.append(_("{count} more stations").format(count=gap.stations_missing))
        if gap.leaders_missing:
            missing.append(_("{count} more leaders").format(count=gap.leaders_missing))
        lines.append(_("• {dealer}, {city}: stations {stations}/{min_stations}, leaders {leaders}/{min_leaders} "
                       "(needs {missing})").format(
            dealer=gap.dealer.name, city=gap.city, stations=gap.stations, min_stations=gap.min_stations,
            leaders=gap.leaders, min_leaders=gap.min_leaders, missing=_(", ").join(missing)))
    if len(report.gaps) > GAPS_LISTED:
        lines.append(_("…and {count} more").format(count=len(report.gaps) - GAPS_LISTED))
    return "\n".join(lines)


def digest_text(digest: Digest) -> str:
    y = digest.yesterday
    lines = [_("📊 Daily digest for {unit}, {day}").format(unit=digest.unit.name, day=format_day(digest.day)), "",
             _("Yesterday:"),
             _("• Visits: {visits} ({verified} verified, {field} face to face)").format(
                 visits=y.visits, verified=y.verified, field=y.field_visits),
             _("• New customers: {count}").format(count=y.new_customers),
             _("• New opinion leaders: {count}").format(count=y.leaders),
             _("• New information stations: {count}").format(count=y.stations),
             "",
             _("Activities waiting for your approval: {count}").format(count=digest.waiting_approval),
             _("Overdue follow-ups: {count}").format(count=digest.overdue)]
    for customer in digest.overdue_customers:
        lines.append(f"• {customer.name} {customer.phone}: {format_day(customer.next_follow_up)}")
    numbers = digest.numbers
    lines += ["", _("Q{quarter} so far ({days} days left):").format(quarter=numbers.quarter,
                                                                    days=numbers.days_left)]
    lines += [progress_line(row) for row in numbers.progress if row.target is not None or row.actual]
    lines += [""] + lagging_lines(numbers)
    return "\n".join(lines)


def quarter_summary_text(summary: QuarterSummary) -> str:
    numbers = summary.numbers
    lines = [_("🏁 Q{quarter} {year} is over: {unit} against target").format(
        quarter=summary.quarter, year=summary.year, unit=summary.unit.name), ""]
    lines += [progress_line(row) for row in numbers.progress]
    lines += [""] + lagging_lines(numbers)
    return "\n".join(lines)


def nudge_text(nudge: Nudge) -> str:
    kpi = nudge.kpi
    return _("⏰ {unit} is behind on {kpi} this quarter: {actual} of {target} done ({done}), {left} to go in "
             "{days} days. Your part so far: {mine}. Every visit counts!").format(
        unit=nudge.unit.name, kpi=kpi_name(kpi.kpi), actual=_number(kpi.actual), target=_number(kpi.target),
        done=percent(kpi.share_done), left=_number(kpi.left), days=nudge.days_left, mine=nudge.mine)


def evaluation_text(evaluation: Evaluation) -> str:
    lines = [_("📐 Evaluation of {unit}, {first} – {last}").format(
        unit=evaluation.unit.name, first=format_day(evaluation.period.first_day),
        last=format_day(evaluation.period.last_day)),
        _("• Organisation pass rate: {rate} ({passing} of {dealers} dealers)").format(
            rate=_pct(evaluation.pass_rate), passing=evaluation.dealers_passing, dealers=evaluation.dealers),
        _("• Information completeness: {rate} ({complete} of {customers} customers)").format(
            rate=_pct(evaluation.completeness), complete=evaluation.complete_customers,
            customers=evaluation.customers),
        _("• Revisit rate: {rate} ({got} of {due} due)").format(
            rate=_pct(evaluation.revisit_rate), got=evaluation.revisited, due=evaluation.due_revisits)]
    return "\n".join(lines)


def _pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{value}%"


def progress_chart_png(numbers: UnitNumbers) -> bytes:
    """The digest's chart in the current language: share of target done per KPI with a target this quarter."""
    from pushes.charts import Bar, progress_chart

    bars = [Bar(kpi_short(row.kpi), float(row.share_done or 0)) for row in numbers.progress
            if row.target is not None and row.kpi not in RATE_KPIS]
    gone = float(numbers.progress[0].share_gone) if numbers.progress else 0.0
    return progress_chart(
        _("{unit}: Q{quarter} progress against target").format(unit=numbers.unit.name, quarter=numbers.quarter),
        bars, gone, _("quarter gone"), _("share of target done (%)"))


def export_labels() -> ExportLabels:
    """The workbook's sheet titles and column headers in the current language."""
    locale = current_locale()  # codes are named later, outside this gettext context
    return ExportLabels(
        sheets={"visits": _("Visits"), "customers": _("Customers"), "activities": _("Activities"),
                "progress": _("Progress")},
        headers={
            "visits": [_("Visit #"), _("Time"), _("Dealer"), _("Staff"), _("Customer"), _("Kind"), _("Outcome"),
                       _("Stage after"), _("Location check"), _("Distance (m)"), _("Next follow-up"), _("Notes")],
            "customers": [_("Customer #"), _("Name"), _("Contact phone"), _("Dealer"), _("Owner"), _("Nature"),
                          _("Level"), _("Vehicle type"), _("Industry"), _("Fleet size"), _("Province"),
                          _("County-level city"), _("Stage"), _("Next follow-up"), _("Created")],
            "activities": [_("Activity #"), _("Starts"), _("Dealer"), _("Requester"), _("Type"), _("KPI"),
                           _("City"), _("State"), _("Expected attendance"), _("Budget (CNY)"), _("Attendance"),
                           _("Leads"), _("Orders"), _("Actual expenses (CNY)"), _("Score")],
            "progress": [_("Unit"), _("KPI"), _("Done"), _("Target"), _("Share done")],
        },
        code=lambda kind, code: playbook_label(kind, code, locale) if code else "")
