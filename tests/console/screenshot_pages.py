"""Screenshots for eyes, not for the test suite: every console page at 1440×900 (a laptop
screen), taken by Playwright driving Debian's Chromium, written to ``screenshots/console/``
(git-ignored; never committed).

Run against a running console, e.g. after ``onevault demo`` with ``onevault up`` serving:

    .venv/bin/python -m tests.console.screenshot_pages [--url http://127.0.0.1:8000/console]
        [--email admin@demo.example] [--password-file .onevault/secrets/console-password]
        [--operator-email ops@example.com --operator-password-file FILE] [--out DIR]

The customer pages are taken as the given user; the operator pages too when operator
credentials are given. Needs ``apt-get install -y chromium``.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from playwright.async_api import Page, async_playwright

from tests.console.browser import LAPTOP, chromium_path

ROOT = Path(__file__).resolve().parents[2]
CUSTOMER_PAGES = (
    ("overview", "/overview"),
    ("spend", "/spend?grain=day&by=model"),
    ("requests", "/requests"),
    ("performance", "/performance?window=30d"),
    ("keys", "/keys"),
    ("provider-keys", "/provider-keys"),
    ("rules", "/rules"),
    ("budgets", "/budgets"),
    ("invoices", "/invoices"),
    ("audit-exports", "/audit-exports"),
    ("settings", "/settings"),
    ("users", "/users"),
)
OPERATOR_PAGES = (
    ("operator", "/operator"),
    ("operator-overview", "/overview"),
    ("operator-spend", "/spend?by=customer"),
)


async def log_in(page: Page, base: str, email: str, password: str) -> None:
    await page.goto(f"{base}/login")
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"{base}/overview")


async def shoot(
    page: Page, base: str, pages: tuple[tuple[str, str], ...], out: Path, prefix: str = ""
) -> list[Path]:
    written = []
    for name, path in pages:
        await page.goto(f"{base}{path}")
        target = out / f"{prefix}{name}.png"
        await page.screenshot(path=str(target), full_page=False)
        written.append(target)
    return written


async def details(page: Page, base: str, out: Path) -> list[Path]:
    """The first request's and the first invoice's own pages, when there are any."""
    written = []
    for listing, link_in, name in (
        ("/requests", "main table a[href*='/requests/']", "request-detail"),
        ("/invoices", "main table a[href*='/invoices/view']", "invoice"),
    ):
        await page.goto(f"{base}{listing}")
        link = page.locator(link_in).first
        if await link.count():
            await link.click()
            target = out / f"{name}.png"
            await page.screenshot(path=str(target))
            written.append(target)
    return written


async def take(
    base: str,
    email: str,
    password: str,
    out: Path,
    operator: tuple[str, str] | None = None,
) -> list[Path]:
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            context = await browser.new_context(viewport=LAPTOP)
            page = await context.new_page()
            await page.goto(f"{base}/login")
            written = [out / "login.png"]
            await page.screenshot(path=str(written[0]))
            await log_in(page, base, email, password)
            written += await shoot(page, base, CUSTOMER_PAGES, out)
            written += await details(page, base, out)
            await context.close()
            if operator is not None:
                context = await browser.new_context(viewport=LAPTOP)
                page = await context.new_page()
                await log_in(page, base, *operator)
                written += await shoot(page, base, OPERATOR_PAGES, out)
                await context.close()
        finally:
            await browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000/console")
    parser.add_argument("--email", default="admin@demo.example")
    parser.add_argument("--password-file", type=Path, default=Path(".onevault/secrets/console-password"))
    parser.add_argument("--operator-email")
    parser.add_argument("--operator-password-file", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots" / "console")
    args = parser.parse_args()
    operator = None
    if args.operator_email and args.operator_password_file:
        operator = (args.operator_email, args.operator_password_file.read_text().strip())
    written = asyncio.run(
        take(args.url.rstrip("/"), args.email, args.password_file.read_text().strip(), args.out, operator)
    )
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
