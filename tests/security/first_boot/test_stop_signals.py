"""Every way of stopping a foreground command (SIGTERM, SIGHUP, SIGINT; during start-up or while
uvicorn serves) runs its clean-up: the children it started are stopped. This is the mechanism
``onevault up`` stops through (``gateway.cli.stopping``) — driven by real signals at a small
command that has one child process and one uvicorn server, so each case takes a second, not a
full first boot (test_up_stops_everything.py runs the real ``onevault up`` once, with SIGTERM).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import psutil
import pytest

COMMAND = """
import contextlib, subprocess, sys, time
import uvicorn
from gateway.cli.stopping import Stopping, StopSignals

async def app(scope, receive, send):
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

phase, port = sys.argv[1], int(sys.argv[2])
with StopSignals() as stops:
    started = contextlib.ExitStack()
    try:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        started.callback(child.wait, 10)
        started.callback(child.terminate)
        print(child.pid, flush=True)
        if phase == "starting":
            time.sleep(600)  # a long start-up step (initdb, dbt parse)
        else:
            stops.serve(uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning")))
    except Stopping as stop:
        print("stopping on", stop, flush=True)
    finally:
        stops.quiet()
        started.close()
print("clean", flush=True)
"""


@pytest.mark.parametrize(
    ("sig", "phase"),
    [
        (signal.SIGTERM, "serving"),
        (signal.SIGHUP, "serving"),
        (signal.SIGINT, "serving"),
        (signal.SIGTERM, "starting"),
        (signal.SIGHUP, "starting"),
    ],
    ids=["sigterm-serving", "sighup-serving", "sigint-serving", "sigterm-starting", "sighup-starting"],
)
def test_a_stop_signal_stops_what_was_started(
    sig: signal.Signals, phase: str, port_picker: Callable[[], int]
) -> None:
    port = port_picker()
    proc = subprocess.Popen(
        [sys.executable, "-c", COMMAND, phase, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        child = psutil.Process(int(proc.stdout.readline()))
        if phase == "serving":
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.05)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
        assert "clean" in out, out
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, "the child survived"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
