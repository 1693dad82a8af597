"""Turning tracing on: an OpenTelemetry SDK tracer provider configured by the standard ``OTEL_*``
variables (exporter endpoint, headers, sampler, resource, batch sizes: the SDK reads them
itself), exported over OTLP/HTTP through a ``BatchSpanProcessor``.

Off unless asked for, so a gateway nobody traces pays nothing: ``TRACER`` stays ``None`` and
the one check a request makes (gateway/tracing/middleware.py) finds it so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_SDK_DISABLED,
)
from opentelemetry.trace import Tracer

from warehouse.settings import Settings

if TYPE_CHECKING:  # the SDK is imported only when tracing is turned on
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

SERVICE = "onevault-gateway"  # service.name unless OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES say otherwise
SCOPE = "onevault.gateway"  # the instrumentation scope of every span the gateway makes

TRACER: Tracer | None = None  # None: tracing is off


def wanted(settings: Settings, environ: Mapping[str, str] = os.environ) -> bool:
    """``ONEVAULT_TRACING`` when set; else on when an exporter or an OTLP endpoint is configured
    (``OTEL_TRACES_EXPORTER=none`` and ``OTEL_SDK_DISABLED=true`` keep it off)."""
    if environ.get(OTEL_SDK_DISABLED, "").strip().lower() == "true":
        return False
    if settings.tracing is not None:
        return settings.tracing
    exporters = _exporter_names(environ)
    if exporters:
        return exporters != ["none"]
    return bool(environ.get(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or environ.get(OTEL_EXPORTER_OTLP_ENDPOINT))


def provider_from_environment(environ: Mapping[str, str] = os.environ) -> TracerProvider:
    """A tracer provider exporting where ``OTEL_TRACES_EXPORTER`` says (``otlp``, the default, or
    ``console``); a value this gateway cannot honour is refused at start-up, not ignored."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: SERVICE}))
    provider = TracerProvider(resource=resource)  # sampler and span limits: OTEL_TRACES_SAMPLER, ...
    for name in _exporter_names(environ) or ["otlp"]:
        if name != "none":
            provider.add_span_processor(BatchSpanProcessor(_exporter(name, environ)))
    return provider


def _exporter_names(environ: Mapping[str, str]) -> list[str]:
    return [n.strip().lower() for n in environ.get(OTEL_TRACES_EXPORTER, "").split(",") if n.strip()]


def _exporter(name: str, environ: Mapping[str, str]) -> SpanExporter:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        raise ValueError(f"{OTEL_TRACES_EXPORTER}={name!r} is not supported here; use otlp, console or none")
    protocol = environ.get(OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) or environ.get(OTEL_EXPORTER_OTLP_PROTOCOL)
    if protocol and protocol.strip() != "http/protobuf":
        raise ValueError(f"OTLP protocol {protocol!r} is not supported here; use http/protobuf")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout, compression: OTEL_EXPORTER_OTLP_*


def enable(provider: TracerProvider) -> None:
    """Trace every request from now on with ``provider`` (its owner shuts it down)."""
    global TRACER
    TRACER = provider.get_tracer(SCOPE)


def disable() -> None:
    global TRACER
    TRACER = None


def start(settings: Settings) -> TracerProvider | None:
    """At gateway start-up: the provider the environment asks for, enabled; None when off."""
    if not wanted(settings):
        return None
    provider = provider_from_environment()
    enable(provider)
    return provider


def stop(provider: TracerProvider | None) -> None:
    """At shutdown: flush what is batched, and stop tracing."""
    if provider is None:
        return
    disable()
    provider.shutdown()
