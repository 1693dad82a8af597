"""A real headless browser for the console tests: Playwright (PyPI) driving Debian's Chromium.

Playwright's own browser download is not reachable from CI, so the browser is the distribution's
``chromium`` package, installed here with apt-get when it is missing (CI runs as root on a clean
Debian machine with the package mirrors reachable).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path() -> str:
    """The Chromium executable, installed from the Debian archive on first need."""
    configured = os.environ.get("ONEVAULT_TEST_CHROMIUM")
    if configured:
        return configured
    for path in CANDIDATES:
        if Path(path).exists():
            return path
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip("no Chromium here and no apt-get as root to install it (set ONEVAULT_TEST_CHROMIUM)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True, timeout=600)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
        check=True,
        env=env,
        capture_output=True,
        timeout=900,
    )
    for path in CANDIDATES:
        if Path(path).exists():
            return path
    raise RuntimeError("apt-get installed chromium but no executable was found")


LAPTOP = {"width": 1440, "height": 900}
