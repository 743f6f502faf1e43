"""The sandbox chat page in a real browser, for the customer persona (linked to its demo customer: /book, /stop,
/start) and the managers' digest, asked for with /digest and pushed by the scheduler when the clock jumps."""

from __future__ import annotations

from playwright.async_api import Page, expect
from sqlmodel import select

from app.sandbox_mode import CUSTOMER_ID, STAFF_ID_BASE
from storage.models import Customer, ServiceBooking
from tests.browser.conftest import RunningSandbox
from tests.browser.test_chat_page import (
    DEALER_MARKETING,
    REGION_MANAGER,
    SALES_REP,
    act_as,
    badge,
    bot_says,
    last_bot_message,
    open_page,
    say,
    zh,
)

DEALER_GM = STAFF_ID_BASE + 13  # 蒋勇 (i18n-ok), GM of the Shijiazhuang dealer: one of the digest's roles


async def tap_first(page: Page) -> None:
    """Taps the first inline button under the bot's latest message."""
    await last_bot_message(page).locator(".ikb-button").first.click()


async def test_the_customer_persona_books_a_service_and_stops_reminders(sandbox: RunningSandbox, browser_context,
                                                                        shots) -> None:
    # The customer answers in the language stored with the link (zh_CN), whatever the page speaks.
    page = await open_page(browser_context, sandbox, lang="zh")
    await act_as(page, CUSTOMER_ID)
    await say(page, "/start")
    await bot_says(page, zh("Reminders are on."))
    await bot_says(page, "/book")  # the customer's own commands, not a stranger's refusal
    await say(page, "/book")
    await bot_says(page, zh("What do you need?"))
    await tap_first(page)  # the kind of appointment
    await bot_says(page, zh("{kind}: please choose a day:").split("{kind}")[1])
    await tap_first(page)  # the first day offered
    await bot_says(page, zh("Please choose a time:"))
    await tap_first(page)  # the first slot
    booked = zh("Booked: {kind} on {day} at {slot}. Your dealer has been told and will see you then. "
                "You will get a reminder the day before.")
    await bot_says(page, booked.split("{")[0])  # up to the first placeholder
    await bot_says(page, booked.rsplit("}", 1)[1][-8:])  # and the end
    await shots(page, "customer-1-booked")
    # The customer's salesperson and the dealer's marketing manager are told.
    await expect(await badge(page, SALES_REP)).not_to_have_count(0)
    await expect(await badge(page, DEALER_MARKETING)).not_to_have_count(0)
    await say(page, "/stop")
    await bot_says(page, zh("Reminders are off. Send /start to turn them on again."))

    async with sandbox.sessionmaker() as session:
        customer = (await session.execute(select(Customer).where(Customer.tg_user_id == CUSTOMER_ID))).scalar_one()
        [booking] = (await session.execute(select(ServiceBooking))).scalars().all()
    assert customer.phone == "+8613911110001" and customer.reminders_off
    assert booking.customer_id == customer.id


async def test_a_region_manager_asks_for_the_digest(sandbox: RunningSandbox, browser_context, shots) -> None:
    page = await open_page(browser_context, sandbox)
    await act_as(page, REGION_MANAGER)
    await say(page, "/digest")
    image = page.locator(".msg.in img.photo")
    await expect(image).to_be_visible(timeout=30_000)  # the chart is drawn in a thread (a CJK font on first use)
    await page.wait_for_function("() => [...document.querySelectorAll('.msg.in img.photo')]"
                                 ".some(img => img.complete && img.naturalWidth > 100)")  # the PNG decoded
    await bot_says(page, "📊 Daily digest for 华北大区")  # i18n-ok: the demo region's name
    await expect(last_bot_message(page)).to_contain_text("Activities waiting for your approval: 0")
    await shots(page, "digest-1-command")


async def test_the_clock_brings_the_daily_digest(sandbox: RunningSandbox, browser_context, shots) -> None:
    # Pushes reach people in their stored language, zh_CN unless they chose another: the page speaks Chinese too.
    page = await open_page(browser_context, sandbox, lang="zh")
    await act_as(page, SALES_REP)
    await expect(await badge(page, REGION_MANAGER)).to_have_count(0)
    await page.locator("#clock-button").click()
    await page.locator('#clock-menu [data-target="tomorrow_morning"]').click()  # DIGEST_TIME is 08:00
    await expect(page.locator("#toast")).to_contain_text("manager_numbers")
    # The digest job fills the outbox; the dispatcher (on the sandbox clock) sends the chart and the text.
    await expect(await badge(page, REGION_MANAGER)).not_to_have_count(0, timeout=30_000)
    await expect(await badge(page, DEALER_GM)).not_to_have_count(0, timeout=30_000)
    await act_as(page, REGION_MANAGER)
    await expect(await badge(page, REGION_MANAGER)).to_have_count(0)  # read now
    title = zh("📊 Daily digest for {unit}, {day}").split("{day}")[0].format(unit="华北大区")  # i18n-ok: a name
    await expect(page.locator(".msg.in").filter(has_text=title)).to_have_count(1)
    await expect(page.locator(".msg.in img.photo")).to_have_count(1)
    await shots(page, "digest-2-clock-morning")
