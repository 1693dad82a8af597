"""Tracing is configured by the standard OTEL_* variables (the SDK reads them), off by default,
and exports over OTLP/HTTP: a real export to a loopback receiver, decoded."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from gateway.tracing import setup
from warehouse.settings import Settings

ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"


@pytest.mark.parametrize(
    ("tracing", "environ", "on"),
    [
        (None, {}, False),  # the default: off
        (None, {ENDPOINT: "http://127.0.0.1:4318"}, True),
        (None, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        (None, {"OTEL_TRACES_EXPORTER": "otlp"}, True),
        (None, {"OTEL_TRACES_EXPORTER": "none", ENDPOINT: "http://127.0.0.1:4318"}, False),
        (None, {"OTEL_SDK_DISABLED": "true", ENDPOINT: "http://127.0.0.1:4318"}, False),
        (True, {}, True),  # ONEVAULT_TRACING=true: on, exporting to the OTLP default
        (False, {ENDPOINT: "http://127.0.0.1:4318"}, False),
        (True, {"OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_when_tracing_is_on(tracing: bool | None, environ: dict[str, str], on: bool) -> None:
    assert setup.wanted(Settings(tracing=tracing), environ) is on


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_TRACES_EXPORTER": "zipkin"},
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"},
    ],
)
def test_an_exporter_it_cannot_honour_is_refused_at_start(environ: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="not supported"):
        setup.provider_from_environment(environ)


class Receiver(BaseHTTPRequestHandler):
    """A stand-in OTLP/HTTP collector: keeps each POST's path, content type and body."""

    received: list[tuple[str, str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received.append((self.path, self.headers["content-type"], body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    received: list[tuple[str, str, bytes]] = []
    handler = type("Handler", (Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_spans_are_exported_over_otlp_http_as_the_environment_says(
    collector: tuple[str, list[tuple[str, str, bytes]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = collector
    monkeypatch.setenv(ENDPOINT, url)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    provider = setup.start(Settings())
    assert provider is not None and setup.TRACER is not None
    setup.TRACER.start_span("probe").end()
    setup.stop(provider)  # flushes the batch
    assert setup.TRACER is None

    [(path, content_type, body)] = received
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    [resource_spans] = ExportTraceServiceRequest.FromString(body).resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == setup.SERVICE  # unless OTEL_SERVICE_NAME names another
    assert resource["deployment.environment.name"] == "test"
    [scope_spans] = resource_spans.scope_spans
    assert scope_spans.scope.name == setup.SCOPE
    assert [s.name for s in scope_spans.spans] == ["probe"]


def test_the_service_name_is_the_operators_when_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "gateway-eu-1")
    provider = setup.provider_from_environment({"OTEL_TRACES_EXPORTER": "console"})
    try:
        assert provider.resource.attributes["service.name"] == "gateway-eu-1"
    finally:
        provider.shutdown()
