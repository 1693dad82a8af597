"""The console in a real headless browser (Playwright driving Debian's Chromium), as its users
meet it: a customer admin creates a key and copies it, sees a request made with it in the
request log with its cost, changes a budget and sees the refusal it causes, downloads an invoice
PDF; a viewer finds every change control absent and every change refused; another customer's
user sees none of the first customer's data, even by guessing URLs."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.console.browser import LAPTOP, chromium_path
from tests.console.conftest import PASSWORD, Console
from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.loader import VaultLoader

pytestmark = pytest.mark.timeout(900)  # the first test may install Chromium (apt-get)
MONTH = "2026-11"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        await launched.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(viewport=LAPTOP, accept_downloads=True)
    yield ctx
    await ctx.close()


@pytest.fixture(scope="module")
async def invoice(console: Console) -> str:
    """A finalised invoice of acme, as the billing run writes it into the vault."""
    invoice_id = f"acme/{MONTH}"
    line = {
        "line_no": 1,
        "line_type": "usage",
        "charge_class": "regular",
        "description": "openai gpt-4o-mini",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "quantity": "1000",
        "unit": "requests",
        "input_tokens": 10000,
        "output_tokens": 5000,
        "provider_cost": "10.00",
        "markup": "2.00",
        "amount_exact": "12.000000000000",
        "amount": "12.00",
        "currency": "USD",
        "correction_of_period": None,
    }
    batch = VaultBatch()
    hk = batch.hub(t.HUB_INVOICE, invoice_id, record_source="billing-run")
    customer = batch.hub(t.HUB_CUSTOMER, "acme", record_source="billing-run")
    batch.link(t.LNK_INVOICE_CUSTOMER, (hk, customer), (invoice_id, "acme"), record_source="billing-run")
    values = {
        "invoice_number": "OV-2026-0001",
        "customer_bk": "acme",
        "period_start": datetime(2026, 11, 1).date(),
        "period_end": datetime(2026, 12, 1).date(),
        "status": "finalised",
        "currency": "USD",
        "subtotal": Decimal("12.00"),
        "tax": Decimal("0.00"),
        "total": Decimal("12.00"),
        "lines": json.dumps([line]),
        "content_hash": bytes(32),
        "issued_ts": datetime(2026, 12, 1, 2, tzinfo=UTC),
        "issuer": "OneVault",
    }
    batch.sat(
        t.SAT_INVOICE_SNAPSHOT,
        hk,
        tuple(values[a] for a in t.SAT_INVOICE_SNAPSHOT.attributes),
        record_source="billing-run",
    )
    await VaultLoader(console.pool).load(batch)
    return invoice_id


async def log_in(page: Page, console: Console, email: str) -> None:
    await page.goto(f"{console.base}/login")
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Overview")


async def chat(console: Console, key: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=console.url, timeout=30) as client:
        return await client.post(
            "/v1/chat/completions",
            headers={"authorization": f"Bearer {key}"},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello, console"}]},
        )


async def wait_for_request(console: Console, request_id: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await console.pool.fetchval(
            "select count(*) from raw_vault.hub_api_request h join raw_vault.lnk_cost_event_api_request l "
            "using (api_request_hk) where h.api_request_bk = $1",
            request_id,
        )
        if found:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"request {request_id} was not loaded into the vault")


async def test_a_customer_admin_creates_a_key_sees_its_request_sets_a_budget_and_gets_an_invoice(
    console: Console, context: BrowserContext, invoice: str
) -> None:
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console.url)
    page = await context.new_page()
    await log_in(page, console, "admin@acme.test")

    # Keys: create one; the secret is shown once, and the copy button puts it on the clipboard.
    await page.get_by_role("link", name="Keys", exact=True).click()
    await page.get_by_label("Label").fill("from-the-browser")
    await page.get_by_role("button", name="Create key").click()
    secret = (await page.get_by_test_id("new-key-secret").inner_text()).strip()
    assert secret.startswith("ov_")
    await page.get_by_role("button", name="Copy key").click()
    await expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    await page.reload()  # shown once: not on the page again
    assert secret not in await page.content()

    # A request made with it appears in the request log, with its cost.
    answer = await chat(console, secret)
    assert answer.status_code == 200, answer.text
    request_id = answer.headers["x-request-id"]
    await wait_for_request(console, request_id)
    await page.get_by_role("link", name="Requests", exact=True).click()
    row = page.get_by_role("row").filter(has_text=request_id)
    await expect(row).to_contain_text("success")
    await row.get_by_role("link", name=request_id).click()
    cost = (await page.get_by_test_id("request-cost").inner_text()).removesuffix(" USD")
    assert Decimal(cost.replace(",", "")) > 0
    await expect(page.get_by_role("heading", name="Attempts (the failover path)")).to_be_visible()

    # A budget too small for any request: the next request is refused, and the log shows it.
    await page.get_by_role("link", name="Budgets", exact=True).click()
    await page.get_by_label("Scope").select_option("customer")
    await page.get_by_label("Period").select_option("day")
    await page.get_by_label("Limit (USD)").fill("0.000001")
    await page.get_by_role("button", name="Set budget").click()
    await expect(page.get_by_role("status")).to_contain_text("set to 0.000001 USD")
    refused = await chat(console, secret)
    assert refused.status_code == 402 and refused.json()["error"]["code"] == "budget_exceeded"
    await page.get_by_role("link", name="Requests", exact=True).click()
    await page.get_by_label("Status").select_option("rejected")
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_role("row").filter(has_text="budget_exceeded").first).to_be_visible(
        timeout=20_000
    )
    await page.get_by_role("link", name="Budgets", exact=True).click()
    await page.get_by_role("button", name="Remove").click()  # let the other tests spend again
    await expect(page.get_by_role("status")).to_contain_text("removed")

    # Invoices: the finalised one, as a PDF.
    await page.get_by_role("link", name="Invoices", exact=True).click()
    async with page.expect_download() as pending:
        await page.get_by_role("row").filter(has_text="OV-2026-0001").get_by_role("link", name="PDF").click()
    download = await pending.value
    assert download.suggested_filename == f"acme-{MONTH}.pdf"
    assert (await download.path()).read_bytes().startswith(b"%PDF")


async def test_a_viewer_finds_every_change_control_absent_and_every_change_refused(
    console: Console, context: BrowserContext
) -> None:
    page = await context.new_page()
    await log_in(page, console, "viewer@acme.test")
    for link in ("Keys", "Provider keys", "Routing rules", "Budgets", "Audit exports", "Settings"):
        async with page.expect_navigation():
            await (
                page.get_by_role("navigation", name="Main").get_by_role("link", name=link, exact=True).click()
            )
        # The only POST forms a viewer sees: log out, and the routing dry run (which changes nothing).
        actions = await page.locator("form[method=post]").evaluate_all("fs => fs.map(f => f.action)")
        assert all(a.endswith(("/console/logout", "/console/rules-dry-run")) for a in actions), (
            link,
            actions,
        )
        for word in (
            "Create",
            "Revoke",
            "Rotate",
            "Remove",
            "Save",
            "Add",
            "Disable",
            "Export",
            "Set budget",
        ):
            assert await page.get_by_role("button", name=word).count() == 0, (link, word)
    assert await page.get_by_role("link", name="Users").count() == 0
    # Forged changes with a valid session and CSRF token are refused all the same.
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    for path, form in (
        ("/keys", {"label": "forged"}),
        (f"/keys/{console.key_id}/revoke", {}),
        ("/budgets", {"scope": "customer", "period": "day", "limit": "1"}),
        ("/rules", {"name": "forged", "target": "openai/gpt-4o"}),
        ("/users", {"email": "evil@acme.test", "role": "admin"}),
        ("/settings/data", {"cache_mode": "off"}),
    ):
        answer = await page.request.post(f"{console.base}{path}", form={**form, "csrf_token": token or ""})
        assert answer.status == 403, path
    await page.goto(f"{console.base}/users")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")


async def test_another_customers_user_sees_none_of_the_first_customers_data(
    console: Console, context: BrowserContext, invoice: str
) -> None:
    answer = await chat(console, console.key)
    request_id = answer.headers["x-request-id"]
    await wait_for_request(console, request_id)
    page = await context.new_page()
    await log_in(page, console, "admin@globex.test")
    for link in ("Overview", "Requests", "Keys", "Invoices", "Budgets", "Spend"):
        async with page.expect_navigation():
            await (
                page.get_by_role("navigation", name="Main").get_by_role("link", name=link, exact=True).click()
            )
        html = await page.content()
        assert request_id not in html and console.key_id not in html and "OV-2026-0001" not in html, link
        assert "admin@acme.test" not in html
    for guessed in (
        f"/requests/{request_id}",
        f"/invoices/view?id={invoice}",
        f"/invoices/download.pdf?id={invoice}",
        f"/requests?request_id={request_id}",
        "/keys?customer=acme",
        "/overview?customer=acme",
    ):
        response = await page.request.get(f"{console.base}{guessed}")
        body = await response.text()
        assert response.status in (200, 404), guessed
        assert request_id not in body.split("<main", 1)[-1].replace(f'value="{request_id}"', ""), guessed
        assert console.key_id not in body and "OV-2026-0001" not in body, guessed


NAV_PAGES = (
    "Overview",
    "Spend",
    "Requests",
    "Providers",
    "Keys",
    "Provider keys",
    "Routing rules",
    "Budgets",
    "Invoices",
    "Audit exports",
    "Settings",
    "Users",
)

# A visible form control without a label, aria-label or aria-labelledby (buttons: without text).
UNLABELLED = """
() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter(e => e.offsetParent !== null)
  .filter(e => e.tagName === 'BUTTON' ? !e.textContent.trim() && !e.getAttribute('aria-label')
                                      : !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
  .map(e => e.outerHTML)
"""


async def test_every_page_is_labelled_and_keyboard_reachable_at_1440x900(
    console: Console, context: BrowserContext
) -> None:
    page = await context.new_page()
    await log_in(page, console, "admin@acme.test")
    for name in NAV_PAGES:
        nav = page.get_by_role("navigation", name="Main")
        async with page.expect_navigation():
            await nav.get_by_role("link", name=name, exact=True).click()
        assert await page.evaluate(UNLABELLED) == [], name
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= LAPTOP["width"], (name, width)  # no sideways scrolling on a laptop screen
    await page.keyboard.press("Tab")  # the first stop is the skip link
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
    await page.keyboard.press("Enter")
    assert await page.evaluate("location.hash") == "#main"
    # The login form works from the keyboard alone.
    fresh = await context.browser.new_context(viewport=LAPTOP)
    try:
        keyboard = await fresh.new_page()
        await keyboard.goto(f"{console.base}/login")
        await keyboard.keyboard.type("viewer@acme.test")  # the e-mail field has the focus
        await keyboard.keyboard.press("Tab")
        await keyboard.keyboard.type(PASSWORD)
        await keyboard.keyboard.press("Enter")
        await expect(keyboard.get_by_role("heading", level=1)).to_contain_text("Overview")
    finally:
        await fresh.close()
