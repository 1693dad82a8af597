"""Running the billing job from Python (``onevault demo``, tests): in this process, recorded in
the same Dagster instance the UI reads, with step-by-step progress for a terminal."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from dagster import DagsterEventType, DagsterInstance, EventLogEntry, RunsFilter

PROGRESS_EVENTS = {
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_SKIPPED,
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.ASSET_CHECK_EVALUATION,
}


@dataclass(slots=True)
class BillingRun:
    run_id: str
    success: bool
    events: list[EventLogEntry] = field(default_factory=list)

    def materializations(self) -> dict[str, dict]:
        """Asset key → metadata of its materialisation in this run."""
        found = {}
        for e in self.events:
            if e.dagster_event and e.dagster_event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                m = e.dagster_event.event_specific_data.materialization  # type: ignore[union-attr]
                found[m.asset_key.to_user_string()] = {k: v.value for k, v in m.metadata.items()}
        return found

    def failures(self) -> list[str]:
        return [
            e.user_message or e.message
            for e in self.events
            if e.dagster_event and e.dagster_event.event_type == DagsterEventType.STEP_FAILURE
        ]


def run_billing(
    month: str,
    *,
    instance: DagsterInstance | None = None,
    on_event: Callable[[EventLogEntry], None] | None = None,
    poll_s: float = 0.25,
    console_log_level: str = "INFO",
) -> BillingRun:
    """Run ``billing_run`` for ``month`` (``YYYY-MM``) and report its events as they happen."""
    from dagster_pipelines.definitions import defs

    instance = instance or DagsterInstance.get()
    token = uuid.uuid4().hex
    job = defs.resolve_job_def("billing_run")
    outcome: dict[str, object] = {}

    def execute() -> None:
        try:
            result = job.execute_in_process(
                partition_key=f"{month}-01",
                instance=instance,
                tags={"onevault/invoked-by": token},
                run_config={"loggers": {"console": {"config": {"log_level": console_log_level}}}},
                raise_on_error=False,
            )
            outcome["result"] = result
        except BaseException as exc:  # reported to the caller below
            outcome["error"] = exc

    worker = threading.Thread(target=execute, name="billing-run", daemon=True)
    worker.start()
    seen = 0
    run_id: str | None = None
    while True:
        alive = worker.is_alive()
        if run_id is None:
            runs = instance.get_runs(RunsFilter(tags={"onevault/invoked-by": token}), limit=1)
            run_id = runs[0].run_id if runs else None
        if run_id is not None and on_event is not None:
            logs = instance.all_logs(run_id)
            for entry in logs[seen:]:
                if entry.dagster_event and entry.dagster_event.event_type in PROGRESS_EVENTS:
                    on_event(entry)
            seen = len(logs)
        if not alive:
            break
        time.sleep(poll_s)
    worker.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    result = outcome["result"]
    run_id = result.run_id  # type: ignore[attr-defined]
    return BillingRun(run_id, result.success, list(instance.all_logs(run_id)))  # type: ignore[attr-defined]
