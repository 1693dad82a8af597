"""Test-only (tests/security/first_boot/test_secret_race.py): holds the first-boot race at its worst.

With this directory on PYTHONPATH and ``OV_SECRET_RACE=<dir>:<n>:<secret>``, each process checks
in under ``<dir>`` when it asks for the secret file named ``<secret>`` (``master-key``), and
generating it waits until all ``n`` processes have asked — so every racer that can be between
"the file is not there" and "I wrote mine" is there at once, every time. The code under test is
unchanged: only the generator it is given is held.
"""

from __future__ import annotations

import os

if os.environ.get("OV_SECRET_RACE"):
    import time
    from collections.abc import Callable
    from pathlib import Path

    from warehouse.embedded import files

    _where, _count, _name = os.environ["OV_SECRET_RACE"].rsplit(":", 2)
    _real = files.read_or_create_secret

    def _all_asked() -> None:
        deadline = time.monotonic() + 20
        while len(list(Path(_where).glob(f"{_name}.*"))) < int(_count) and time.monotonic() < deadline:
            time.sleep(0.02)

    def _racing(path: Path, factory: Callable[[], str]) -> str:
        if path.name != _name:
            return _real(path, factory)
        (Path(_where) / f"{_name}.{os.getpid()}").touch()

        def held() -> str:
            _all_asked()
            return factory()

        return _real(path, held)

    files.read_or_create_secret = _racing
