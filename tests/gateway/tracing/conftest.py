"""Traces captured in memory (the SDK's ``InMemorySpanExporter``) from a real gateway over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from gateway.tracing import setup
from tests.gateway.e2e.conftest import gateway  # noqa: F401  (the e2e gateway fixture, reused)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test, every span kept in memory as soon as it ends."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    setup.enable(provider)
    yield exporter
    setup.disable()
    provider.shutdown()


async def wait_for_server_spans(
    exporter: InMemorySpanExporter, n: int = 1, timeout: float = 10.0
) -> list[ReadableSpan]:
    """The server spans once ``n`` have ended: a span ends after its response's last byte is
    sent, which may be just after the client has read it."""
    deadline = time.monotonic() + timeout
    while True:
        done = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
        if len(done) >= n or time.monotonic() > deadline:
            return done
        await asyncio.sleep(0.02)
