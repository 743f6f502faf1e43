"""The sandbox chat page in a real browser: sign up as the newcomer, report a visit with a location, and walk an
activity request through its approval chain by switching personas, moving the sandbox clock on at the end."""

from __future__ import annotations

import struct
import zlib
from datetime import timedelta
from pathlib import Path

from playwright.async_api import Page, expect
from sqlmodel import select

from app.sandbox_mode import CUSTOMER_ID, NEWCOMER_ID_BASE, STAFF_ID_BASE
from bot.domain.playbook import default_playbook
from storage.models import Activity, Staff, Visit
from tests.browser.conftest import RunningSandbox
from tests.flows.test_activities import t

# Demo personas: STAFF_ID_BASE + the staff's line in bot/data/demo_org.yaml.
SALES_REP = STAFF_ID_BASE + 16
DEALER_MARKETING = STAFF_ID_BASE + 14
ACTIVITY_SPECIALIST = STAFF_ID_BASE + 10
MARKETING_MANAGER = STAFF_ID_BASE + 7
REGION_MANAGER = STAFF_ID_BASE + 3
HQ_STAFF = STAFF_ID_BASE + 2


def pb(kind: str, code: str, locale: str = "en") -> str:
    return default_playbook().label(kind, code, locale)


def zh(message: str) -> str:
    return t(message, "zh-hans")


def png(path: Path, width: int = 64, height: int = 48) -> Path:
    """A small valid PNG (a green field) without any imaging library."""
    raw = b"".join(b"\0" + bytes((60, 160, 90)) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))
    return path


def contents(path: str | Path) -> bytes:
    return Path(path).read_bytes()


async def open_page(context, sandbox: RunningSandbox, lang: str = "en") -> Page:  # type: ignore[no-untyped-def]
    page = await context.new_page()
    await page.add_init_script(f"localStorage.setItem('sandbox.lang', '{lang}')")
    await page.goto(sandbox.url)
    await expect(page.locator(".persona").first).to_be_visible()
    return page


async def act_as(page: Page, user_id: int) -> None:
    await page.locator(f'.persona[data-persona="{user_id}"]').click()
    await expect(page.locator(f'.persona.active[data-persona="{user_id}"]')).to_be_visible()


async def say(page: Page, text: str) -> None:
    await page.locator("#text").fill(text)
    await page.locator("#text").press("Enter")
    await expect(page.locator(".msg.out .text").last).to_have_text(text)


def last_bot_message(page: Page):  # type: ignore[no-untyped-def]
    return page.locator(".msg.in").last


async def bot_says(page: Page, text: str) -> None:
    await expect(last_bot_message(page)).to_contain_text(text)


async def tap(page: Page, label: str) -> None:
    """Taps the inline button labelled `label` under the bot's latest message that has one."""
    button = page.locator(".msg.in .ikb-button").filter(has_text=label).last
    await button.click()


async def test_newcomer_signs_up_from_the_invitation(sandbox: RunningSandbox, browser_context, shots) -> None:
    page = await open_page(browser_context, sandbox, lang="zh")
    await act_as(page, NEWCOMER_ID_BASE)
    await expect(page.locator("#invite-open")).to_have_text("打开邀请链接")  # i18n-ok: the page's own words
    await shots(page, "onboarding-1-invitation")
    await page.locator("#invite-open").click()
    contact_button = page.locator("#reply-keyboard .rkb-button").first
    await expect(contact_button).to_contain_text("📱")
    await shots(page, "onboarding-2-asks-for-phone")
    await contact_button.click()
    await expect(page.locator("#dialog")).to_contain_text("+8613922220001")
    await shots(page, "onboarding-3-share-phone")
    await page.locator("#dialog button.primary").click()
    await expect(page.locator(".msg.out .contact")).to_contain_text("+8613922220001")
    await expect(last_bot_message(page)).not_to_contain_text("13922220001")  # masked or absent in the greeting
    await expect(page.locator("#reply-keyboard")).to_be_visible()  # shown again after the one-time contact button
    await expect(page.locator("#reply-keyboard")).to_contain_text("📝")  # the main menu of a salesperson
    await shots(page, "onboarding-4-welcome")

    async with sandbox.sessionmaker() as session:
        staff = (await session.execute(select(Staff).where(Staff.tg_user_id == NEWCOMER_ID_BASE))).scalar_one()
    assert (staff.phone, staff.role) == ("+8613922220001", "sales_rep")


async def test_visit_report_with_a_location_and_a_photo(sandbox: RunningSandbox, browser_context, shots,
                                                        tmp_path: Path) -> None:
    page = await open_page(browser_context, sandbox)
    await act_as(page, SALES_REP)
    await page.locator("#menu-button").click()  # the bot's command menu, from setMyCommands
    await expect(page.locator('#command-menu [data-command="visit"]')).to_contain_text("Report a customer visit")
    await shots(page, "visit-1-command-menu")
    await page.locator('#command-menu [data-command="visit"]').click()
    await bot_says(page, "Which customer did you visit?")
    await say(page, "13911110001")  # part of the demo customer's phone: a search
    await bot_says(page, "Choose the customer:")
    await page.locator(".msg.in").last.locator(".ikb-button").first.click()
    await bot_says(page, "What kind of visit?")
    await tap(page, pb("visit_kinds", "door_visit"))
    await bot_says(page, "What came of it?")
    await tap(page, "Reached, has a need")
    await bot_says(page, "Which stage after this visit?")
    await tap(page, pb("stages", "need"))
    await bot_says(page, "Notes on the visit")
    await say(page, "Needs two dump trucks before March")
    await bot_says(page, "When is the next follow-up?")
    await tap(page, "In 3 days")
    location_button = page.locator('#reply-keyboard .rkb-button[data-label="📍 Send my location"]')
    await expect(location_button).to_be_visible()
    await shots(page, "visit-2-location-step")
    await location_button.click()
    await expect(page.locator("#dialog .preset").first).to_be_visible()
    await shots(page, "visit-3-location-picker")
    await page.locator("#dialog .preset").first.click()  # the customer's own town: within range
    await expect(page.locator(".msg.out .location").last).to_contain_text("38.04280, 114.51490")
    await bot_says(page, "A photo of the visit")
    await page.locator("#photo-input").set_input_files(str(png(tmp_path / "site.png")))
    await expect(page.locator(".msg.out img.photo")).to_be_visible()
    await bot_says(page, "Please check the visit report:")
    await tap(page, "✅ Submit")
    await bot_says(page, "Location verified")
    await shots(page, "visit-4-verified")

    async with sandbox.sessionmaker() as session:
        [visit] = (await session.execute(select(Visit))).scalars().all()
    assert visit.location_status == "verified" and visit.photo_file_id
    assert (visit.lat, visit.lon, visit.notes) == (38.0428, 114.5149, "Needs two dump trucks before March")
    # the photo the persona sent is kept and served, byte for byte
    src = await page.locator(".msg.out img.photo").get_attribute("src")
    served = await page.request.get(f"{sandbox.url.rstrip('/')}{src}")
    assert served.ok and (await served.body()) == (tmp_path / "site.png").read_bytes()


async def badge(page: Page, user_id: int):  # type: ignore[no-untyped-def]
    return page.locator(f'.persona[data-persona="{user_id}"] .badge')


async def test_activity_request_walks_the_approval_chain(sandbox: RunningSandbox, browser_context, shots) -> None:
    # In Chinese: pushes reach each approver in their stored language, zh_CN unless they chose another.
    page = await open_page(browser_context, sandbox, lang="zh")
    app = sandbox.app
    tomorrow = (app.clock() + timedelta(days=1)).astimezone(app.settings.tz).date()

    await act_as(page, DEALER_MARKETING)
    await say(page, "/menu")
    await page.locator(f'#reply-keyboard .rkb-button[data-label="{zh("🎪 Request activity")}"]').click()
    await tap(page, pb("activity_types", "launch_event", "zh_CN"))
    await tap(page, pb("product_lines", "vt", "zh_CN"))
    await tap(page, pb("series", "vt_tractor_new_5", "zh_CN"))
    await say(page, f"{tomorrow.isoformat()} 14:00")
    await say(page, "Zhengding")
    await say(page, "No. 8 Hengshan Road")
    await tap(page, pb("natures", "unit", "zh_CN"))
    await tap(page, zh("Done"))
    await say(page, "60")
    await say(page, "Venue 3000\nGifts 2,500")
    await say(page, "Launch of the new 5-series tractor for fleets")
    await expect(page.locator(".msg.in .ikb-button").filter(has_text=zh("📨 Submit"))).to_be_visible()
    await tap(page, zh("📨 Submit"))
    await bot_says(page, "#1")
    await shots(page, "approval-1-submitted")

    # Both market approvers are told: an unread badge on their personas; the region waits its turn.
    await expect(await badge(page, ACTIVITY_SPECIALIST)).to_have_text("1")
    await expect(await badge(page, MARKETING_MANAGER)).to_have_text("1")
    await expect(await badge(page, REGION_MANAGER)).to_have_count(0)
    await act_as(page, ACTIVITY_SPECIALIST)
    await expect(await badge(page, ACTIVITY_SPECIALIST)).to_have_count(0)  # read now
    await bot_says(page, "#1")
    await shots(page, "approval-2-market-card")
    await tap(page, zh("✅ Approve"))
    await expect(await badge(page, REGION_MANAGER)).to_have_text("1")

    await act_as(page, REGION_MANAGER)
    await tap(page, zh("✅ Approve"))
    await expect(await badge(page, HQ_STAFF)).to_have_text("1")
    await act_as(page, HQ_STAFF)
    await shots(page, "approval-3-hq-card")
    await tap(page, zh("✅ Approve"))
    await expect(await badge(page, DEALER_MARKETING)).not_to_have_count(0)

    await act_as(page, DEALER_MARKETING)
    await bot_says(page, zh("🎉 Activity #{id} is fully approved ({level}, {name}). After the activity, report its "
                            "results with the button below.").split("（")[0].format(id=1))  # i18n-ok: zh bracket
    await shots(page, "approval-4-fully-approved")
    async with sandbox.sessionmaker() as session:
        [activity] = (await session.execute(select(Activity))).scalars().all()
    assert activity.state == "approved" and activity.results_asked_at is None

    # The sandbox clock: two mornings on, the activity is over and the scheduler's approval watch (which reads
    # the same clock) asks the requester for its results.
    before = await page.locator(".msg.in").count()
    for _ in range(2):
        await page.locator("#clock-button").click()
        await page.locator('#clock-menu [data-target="tomorrow_morning"]').click()
        # Every job due by then runs (the digest, the staff morning too): give it time on a busy machine.
        await expect(page.locator("#toast")).to_contain_text("approval_watch", timeout=30_000)
    await expect(page.locator(".msg.in")).to_have_count(before + 1)
    await shots(page, "approval-5-clock-asks-for-results")
    async with sandbox.sessionmaker() as session:
        [activity] = (await session.execute(select(Activity))).scalars().all()
    assert activity.results_asked_at is not None


async def test_every_persona_is_listed_and_the_customer_has_a_chat(sandbox: RunningSandbox, browser_context) -> None:
    page = await open_page(browser_context, sandbox)
    personas = page.locator(".persona")
    assert await personas.count() == 24  # 22 demo staff, the customer, the newcomer
    await act_as(page, CUSTOMER_ID)
    await expect(page.locator("#who-title")).to_contain_text("Customer")
    await page.locator("#lang-button").click()  # the page speaks Chinese too
    await expect(page.locator("#who-title")).to_contain_text("客户")  # i18n-ok: a translated persona title


async def test_a_phone_sized_window(sandbox: RunningSandbox, browser_context, shots) -> None:
    page = await open_page(browser_context, sandbox, lang="zh")
    await page.set_viewport_size({"width": 390, "height": 780})
    await expect(page.locator("#people")).not_to_be_in_viewport()  # a drawer on phones
    await page.locator("#open-people").click()
    await expect(page.locator(f'.persona[data-persona="{SALES_REP}"]')).to_be_in_viewport()
    await shots(page, "phone-1-personas")
    await act_as(page, SALES_REP)
    await expect(page.locator("#people")).not_to_be_in_viewport()
    await say(page, "/menu")
    await expect(page.locator("#reply-keyboard .rkb-button").first).to_be_visible()
    await shots(page, "phone-2-main-menu")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # nothing overflows


async def test_what_the_bot_sends_is_drawn(sandbox: RunningSandbox, browser_context, shots, tmp_path: Path) -> None:
    """Formatting, an edit, a chart and an Excel file, sent over the Bot API as the digests will send them."""
    from io import BytesIO

    from aiogram.types import BufferedInputFile
    from openpyxl import Workbook

    bot = sandbox.app.bot
    assert bot is not None
    page = await open_page(browser_context, sandbox)
    await act_as(page, SALES_REP)
    chart = png(tmp_path / "chart.png", 320, 200).read_bytes()
    book = Workbook()
    book.active.append(["customer", "visits"])
    buffer = BytesIO()
    book.save(buffer)
    await bot.send_message(SALES_REP, "<b>Weekly digest</b> for <i>Hebei</i>: <code>12</code> visits",
                           parse_mode="HTML")
    await bot.send_photo(SALES_REP, BufferedInputFile(chart, "visits.png"), caption="Visits per day")
    await bot.send_document(SALES_REP, BufferedInputFile(buffer.getvalue(), "visits 2026-12.xlsx"))
    draft = await bot.send_message(SALES_REP, "Counting…")
    await bot.edit_message_text("Counted: 12 visits", chat_id=SALES_REP, message_id=draft.message_id)

    await expect(page.locator(".msg.in .text b").filter(has_text="Weekly digest")).to_be_visible()
    await expect(page.locator(".msg.in .text i")).to_have_text("Hebei")
    await expect(page.locator(".msg.in .text code")).to_have_text("12")
    image = page.locator(".msg.in img.photo")
    await expect(image).to_be_visible()
    assert await image.evaluate("img => img.complete && img.naturalWidth") == 320  # the bytes the bot sent
    await expect(page.locator(".msg.in .document .doc-name")).to_have_text("visits 2026-12.xlsx")
    await expect(page.locator(".msg.in").last).to_contain_text("Counted: 12 visits")
    await expect(page.locator(".msg.in").last.locator(".meta")).to_contain_text("edited")
    await shots(page, "bot-sends-files")
    async with page.expect_download() as info:
        await page.locator(".msg.in .document").click()
    download = await info.value
    assert download.suggested_filename == "visits 2026-12.xlsx"
    assert contents(await download.path()) == buffer.getvalue()
