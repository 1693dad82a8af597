"""Screenshots for eyes, not for the test suite: the Dagster UI's billing asset page (headless
Chromium) and page 1 of an invoice PDF (pdftoppm), written to ``screenshots/`` (git-ignored).

Run after ``onevault demo`` with the same ``ONEVAULT_*`` environment, so the page has a run:

    .venv/bin/python tests/dagster/screenshot_billing_ui.py [yyyy-mm]

Needs ``apt-get install -y chromium poppler-utils``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from dagster_pipelines import instance
from warehouse.billing import Period
from warehouse.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "screenshots"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1500,1100",
    "--virtual-time-budget=20000",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def screenshot(url: str, target: Path) -> None:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        sys.exit("chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={target}", url],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main() -> None:
    settings = Settings()
    month = sys.argv[1] if len(sys.argv) > 1 else None
    period = Period.of(month) if month else Period.of(time.strftime("%Y-%m-01")).previous()
    OUT.mkdir(exist_ok=True)
    port = free_port()
    procs = instance.start(settings, port=port, daemon=False)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                sys.exit("dagster-webserver did not start")
            time.sleep(0.5)
        time.sleep(10)  # the code location loads in its own process
        # The community sign-up dialog would cover the page; "seen" is kept in the instance.
        httpx.post(f"{url}/graphql", json={"query": "mutation { setNuxSeen }"}, timeout=30).raise_for_status()
        for name, path in (
            ("billing-asset", f"/assets/billing/finalised_invoices?partition={period.start}"),
            ("billing-job", "/jobs/billing_run"),
        ):
            target = OUT / f"dagster-{name}.png"
            screenshot(url + path, target)
            print(target)
    finally:
        instance.stop(procs)
    pdfs = sorted((settings.home_dir / "invoices" / period.key).glob("*.pdf"))
    if pdfs:
        stem = OUT / pdfs[0].stem
        subprocess.run(
            ["pdftoppm", "-png", "-r", "90", "-f", "1", "-l", "1", str(pdfs[0]), str(stem)], check=True
        )
        print(next(OUT.glob(f"{pdfs[0].stem}*.png")))


if __name__ == "__main__":
    main()
