"""``onevault up`` stopped with SIGTERM — what ``timeout``, systemd and container runtimes send to
the main process — stops everything it started: the Dagster webserver and daemon (and their code
servers), the embedded PostgreSQL and Redis. It used to die on the spot, leaving Dagster's
schedules firing against a warehouse that was gone. SIGHUP and SIGINT take the same path
(``gateway.cli.stopping``; the mechanism is checked for each of them in test_stop_signals.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.faults.faultkit import env_for
from warehouse.embedded import stop_servers
from warehouse.settings import Settings

# ``up`` parses the dbt project into dbt_project/target, which Dagster's tests read: one worker.
pytestmark = pytest.mark.xdist_group("dbt_target")

PORTS = ("pg_port", "redis_port", "gateway_port", "simulator_port", "dagster_port")


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
    return alive


def _pid_in(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class Up:
    """``onevault up`` on a fresh home, as a user (or a unit file) runs it."""

    def __init__(self, tmp_path: Path, port_picker: Callable[[], int]) -> None:
        self.home = tmp_path / "home"
        self.ports = {name: port_picker() for name in PORTS}
        self.env = env_for(home=str(self.home), **{k: str(v) for k, v in self.ports.items()})
        self.log = tmp_path / "up.log"
        self.proc: subprocess.Popen | None = None
        self.started: list[psutil.Process] = []

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).with_name("onevault")), "up"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.home.parent,
                start_new_session=True,  # only so the teardown can reach everything if the test fails
            )

    def wait_until_up(self, timeout: float = 240.0) -> None:
        """The gateway answers and the Dagster webserver and daemon have their code servers."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            if self._gateway_answers() and self._dagster_has_code_servers():
                return
            time.sleep(0.5)
        pytest.fail(f"onevault up did not come up:\n{self.log.read_text()[-3000:]}")

    def _gateway_answers(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.ports['gateway_port']}/health"
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def dagster_jobs(self, timeout: float = 60.0) -> set[str]:
        """The jobs the Dagster webserver lists once its code location has loaded."""
        url = f"http://127.0.0.1:{self.ports['dagster_port']}/graphql"
        query = "{ repositoriesOrError { ... on RepositoryConnection { nodes { jobs { name } } } } }"
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                data = httpx.post(url, json={"query": query}, timeout=5).json()["data"]
                nodes = data["repositoriesOrError"].get("nodes") or []
                if nodes or time.monotonic() > deadline:
                    return {job["name"] for node in nodes for job in node["jobs"]}
            if time.monotonic() > deadline:
                return set()
            time.sleep(0.5)

    def _dagster_has_code_servers(self) -> bool:
        assert self.proc is not None
        children = psutil.Process(self.proc.pid).children()
        dagster = [c for c in children if "dagster" in _cmdline(c)]
        try:
            return len(dagster) == 2 and all(c.children() for c in dagster)
        except psutil.Error:  # one exited meanwhile (a short-lived helper process): not up yet
            return False

    def snapshot(self) -> list[psutil.Process]:
        """Every process ``up`` started: its descendants, and the daemonised servers."""
        assert self.proc is not None
        procs = psutil.Process(self.proc.pid).children(recursive=True)
        for pidfile in (self.home / "pg" / "postmaster.pid", self.home / "redis" / "redis.pid"):
            pid = _pid_in(pidfile)
            assert pid is not None, f"{pidfile} names no server"
            server = psutil.Process(pid)
            procs += [server, *server.children(recursive=True)]
        self.started = procs
        return procs

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        with contextlib.suppress(Exception):  # what a failed run left: the servers first, gracefully
            stop_servers(Settings(home=self.home, **{k: self.ports[k] for k in ("pg_port", "redis_port")}))
        for p in _alive(self.started):
            with contextlib.suppress(psutil.Error):
                p.kill()


@pytest.fixture
def up(tmp_path: Path, port_picker: Callable[[], int]) -> Iterator[Up]:
    command = Up(tmp_path, port_picker)
    yield command
    command.cleanup()


def test_sigterm_stops_everything_up_started(up: Up) -> None:
    up.start()
    up.wait_until_up()
    started = up.snapshot()
    names = {p.pid: _cmdline(p) for p in started}  # whole: a long checkout path comes first
    assert any("dagster-daemon" in n for n in names.values()) and len(started) >= 6, names
    assert "billing_run" in up.dagster_jobs()  # the UI serves the billing run

    assert up.proc is not None
    os.kill(up.proc.pid, signal.SIGTERM)  # to the main process only, as systemd/docker/timeout do
    up.proc.wait(timeout=120)
    psutil.wait_procs(_alive(started), timeout=15)
    survivors = {p.pid: names[p.pid] for p in _alive(started)}
    assert survivors == {}, f"still running after `onevault up` got SIGTERM: {survivors}"
    others = [
        p.info["pid"]
        for p in psutil.process_iter(["pid", "cmdline"])
        if str(up.home) in " ".join(p.info["cmdline"] or ()) and p.info["pid"] != os.getpid()
    ]
    assert _alive([psutil.Process(pid) for pid in others if psutil.pid_exists(pid)]) == []


def _cmdline(proc: psutil.Process) -> str:
    """The whole command line ('' for a process that is gone or a zombie: a short-lived child)."""
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""
