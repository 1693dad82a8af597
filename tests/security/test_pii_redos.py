"""PII screening is linear in the text and never silently stops looking: a request of 2,000,000
characters cannot freeze a worker (the e-mail pattern used to re-read a run of word characters
from every position), findings are resolved in n log n, libphonenumber's 65,535-try limit no
longer hides the numbers after it, and the per-request cap refuses what redact/block cannot see.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import pytest

from gateway.privacy import policy
from gateway.privacy.pii import scan
from gateway.privacy.policy import screen
from gateway.providers.types import ChatMessage

TWO_MILLION = 2_000_000


def _send(fn: Callable[[], Any], out: Connection) -> None:
    out.send(fn())


def finishes_within(seconds: float, fn: Callable[[], Any]) -> Any:
    """``fn()``'s result, computed in a forked process that is killed if it runs longer: a regex
    stuck backtracking holds the GIL, so no thread (nor signal handler) of ours could stop it."""
    ctx = multiprocessing.get_context("fork")
    result, out = ctx.Pipe(duplex=False)
    worker = ctx.Process(target=_send, args=(fn, out), daemon=True)
    worker.start()
    out.close()
    try:
        if not result.poll(seconds):
            pytest.fail(f"still scanning after {seconds}s")
        return result.recv()
    finally:
        worker.kill()
        worker.join()


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a" * TWO_MILLION + "@", id="word-run-then-at"),
        pytest.param("a." * (TWO_MILLION // 2) + "@x", id="dotted-run-then-at"),
        pytest.param("a@" + "b." * (TWO_MILLION // 2), id="at-then-dotted-labels"),
        pytest.param("1" * 200_000, id="digit-run"),
    ],
)
def test_worst_case_texts_scan_in_linear_time(text: str) -> None:
    started = time.perf_counter()
    assert finishes_within(20, lambda: scan(text)) == []
    assert time.perf_counter() - started < 20


def test_thousands_of_findings_are_resolved_without_comparing_every_pair() -> None:
    text = "x@y.com " * 25_000
    findings = finishes_within(10, lambda: scan(text))
    assert len(findings) == 25_000 and {f.kind for f in findings} == {"email"}


def test_a_phone_number_after_sixty_five_thousand_candidates_is_still_found() -> None:
    text = "a1 " * 70_000 + "call +1 415-555-2671"
    found = [(f.kind, text[f.start : f.end]) for f in finishes_within(20, lambda: scan(text))]
    assert found == [("phone", "+1 415-555-2671")]


def test_redact_and_block_refuse_more_text_than_the_cap_rather_than_pass_it_unscreened() -> None:
    messages = [ChatMessage("user", "x" * 600), ChatMessage("user", "mail bob@corp.io " + "y" * 400)]
    for mode in ("redact", "block"):
        with pytest.raises(policy.ScanLimitExceeded) as refused:
            screen(messages, mode, max_chars=1000)
        assert (refused.value.size, refused.value.limit) == (1017, 1000)
    assert screen(messages, "redact", max_chars=1017).found == ("email",)


def test_flag_mode_scans_up_to_the_cap_and_records_that_the_rest_was_not() -> None:
    messages = [ChatMessage("user", "mail bob@corp.io " + "y" * 2000 + " and ann@corp.io")]
    result = screen(messages, "flag", max_chars=100)
    assert result.found == ("email",) and result.messages is messages
    assert result.compliance_flags == ["pii:email", "pii:unscanned"]
    assert screen(messages, "flag", max_chars=10_000).compliance_flags == ["pii:email"]
