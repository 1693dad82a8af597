"""A request's spans, named and attributed per the OpenTelemetry GenAI semantic conventions
(latest experimental set: ``gen_ai.provider.name``, ``gen_ai.usage.input_tokens``, ...), plus
OneVault's own ``onevault.*``: one SERVER span per request, one CLIENT span ``{operation} {model}``
per upstream attempt. Attributes are set in one call where a span starts and one where it ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes import error_attributes, http_attributes, server_attributes
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, set_span_in_context

if TYPE_CHECKING:
    from gateway.providers.base import ProviderEndpoint
    from gateway.routing.catalog import ProviderRoute
    from warehouse.events import AttemptEvent, RequestEvent

# OneVault's attributes (docs/operations/tracing-and-dashboards.md lists them).
REQUEST_ID: Final = "onevault.request_id"
CUSTOMER: Final = "onevault.customer"
GATEWAY_KEY: Final = "onevault.gateway_key_id"
ROUTE: Final = "onevault.route"  # the catalog's provider route that served (or was tried)
ROUTE_REASON: Final = "onevault.route_reason"
RULE: Final = "onevault.rule"  # the customer's routing rule id
STATUS: Final = "onevault.status"  # success | error | rejected, as recorded in the vault
COST: Final = "onevault.cost"  # what the customer is billed, fixed-point text (never a float)
CURRENCY: Final = "onevault.cost_currency"
CACHE: Final = "onevault.cache_status"
ATTEMPT: Final = "onevault.attempt_no"
PROVIDER_KEY: Final = "onevault.provider_key_id"  # the customer's own key's id (never the key)

# api_style -> the conventions' well-known gen_ai.provider.name; an OpenAI-compatible route keeps
# the operator's name for it (groq, deepseek, a vLLM box...), as the conventions allow.
_PROVIDERS: Final = {
    "openai": gen_ai.GenAiProviderNameValues.OPENAI.value,
    "azure_openai": gen_ai.GenAiProviderNameValues.AZURE_AI_OPENAI.value,
    "anthropic": gen_ai.GenAiProviderNameValues.ANTHROPIC.value,
    "gemini": gen_ai.GenAiProviderNameValues.GCP_GEMINI.value,
    "cohere": gen_ai.GenAiProviderNameValues.COHERE.value,
}
# The gateway endpoint -> gen_ai.operation.name (every other door is a chat).
_OPERATIONS: Final = {
    "/v1/completions": gen_ai.GenAiOperationNameValues.TEXT_COMPLETION.value,
    "/v1/embeddings": gen_ai.GenAiOperationNameValues.EMBEDDINGS.value,
    "/v1/ai/embeddings": gen_ai.GenAiOperationNameValues.EMBEDDINGS.value,
    "/v1/images/generations": gen_ai.GenAiOperationNameValues.GENERATE_CONTENT.value,
}
_CHAT: Final = gen_ai.GenAiOperationNameValues.CHAT.value
OTHER_ERROR: Final = error_attributes.ErrorTypeValues.OTHER.value


def provider_name(route: ProviderRoute) -> str:
    return _PROVIDERS.get(route.api_style) or route.name


def operation_of(endpoint: str) -> str:
    return _OPERATIONS.get(endpoint, _CHAT)


@dataclass(slots=True)
class RequestTrace:
    """The server span of one traced request and what its attempt spans need to start."""

    tracer: Tracer
    span: Span
    operation: str
    providers: dict[str, str] = field(default_factory=dict)  # route name -> gen_ai.provider.name

    @property
    def trace_id(self) -> str | None:
        """The trace id the vault records (32 hex digits), for a sampled trace only: an id no
        backend holds would lead nowhere."""
        context = self.span.get_span_context()
        return format(context.trace_id, "032x") if context.trace_flags.sampled else None

    def attempt(self, route: ProviderRoute, model: str, endpoint: ProviderEndpoint, stream: bool) -> Span:
        """A CLIENT span for one upstream try, started with what samplers may decide on."""
        provider = self.providers[route.name] = provider_name(route)
        url = urlsplit(endpoint.base_url)
        attributes: dict[str, Any] = {
            gen_ai.GEN_AI_OPERATION_NAME: self.operation,
            gen_ai.GEN_AI_PROVIDER_NAME: provider,
            gen_ai.GEN_AI_REQUEST_MODEL: model,
            server_attributes.SERVER_ADDRESS: url.hostname or "",
            server_attributes.SERVER_PORT: url.port or (443 if url.scheme == "https" else 80),
            ROUTE: route.name,
        }
        if stream:
            attributes[gen_ai.GEN_AI_REQUEST_STREAM] = True
        return self.tracer.start_span(
            f"{self.operation} {model}",
            context=set_span_in_context(self.span),
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )

    def finish(self, event: RequestEvent) -> None:
        """The request's outcome, as its vault row says it, onto the server span (still open:
        the middleware ends it once the response, or the stream, is out)."""
        if not self.span.is_recording():
            return  # e.g. a stream read on after its client left: the request span has ended
        attributes: dict[str, Any] = {
            gen_ai.GEN_AI_OPERATION_NAME: self.operation,
            CUSTOMER: event.customer,
            STATUS: event.status,
        }
        optional = {
            GATEWAY_KEY: event.gateway_key_id,
            gen_ai.GEN_AI_REQUEST_MODEL: event.requested_model,
            gen_ai.GEN_AI_RESPONSE_MODEL: event.model,
            ROUTE: event.provider,
            ROUTE_REASON: event.route_reason,
            RULE: event.routing_rule_id,
        }
        attributes.update((k, v) for k, v in optional.items() if v)
        if event.provider:
            attributes[gen_ai.GEN_AI_PROVIDER_NAME] = self.providers.get(event.provider, event.provider)
        if event.stream:
            attributes[gen_ai.GEN_AI_REQUEST_STREAM] = True
        if event.finish_reason:
            attributes[gen_ai.GEN_AI_RESPONSE_FINISH_REASONS] = (event.finish_reason,)
        if event.cache_status and event.cache_status != "none":
            attributes[CACHE] = event.cache_status
        if event.status != "rejected":
            u = event.usage
            attributes[gen_ai.GEN_AI_USAGE_INPUT_TOKENS] = u.input_tokens
            attributes[gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS] = u.output_tokens
            for name, value in (
                (gen_ai.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, u.cached_input_tokens),
                (gen_ai.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, u.cache_write_tokens),
                (gen_ai.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, u.reasoning_tokens),
            ):
                if value:
                    attributes[name] = value
        if event.cost is not None:
            attributes[COST] = f"{event.cost.customer_cost:f}"
            attributes[CURRENCY] = event.cost.currency
        if event.status != "success":
            attributes[error_attributes.ERROR_TYPE] = event.error_code or OTHER_ERROR
        self.span.set_attributes(attributes)


def end_attempt(
    span: Span,
    attempt: AttemptEvent,
    *,
    finish_reason: str | None = None,
    response_model: str | None = None,
    response_id: str | None = None,
) -> None:
    """End a try's span with what its attempt row says: tokens, status, the error of a failed one."""
    attributes: dict[str, Any] = {ATTEMPT: attempt.attempt_no}
    optional = {
        gen_ai.GEN_AI_USAGE_INPUT_TOKENS: attempt.input_tokens,
        gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS: attempt.output_tokens,
        gen_ai.GEN_AI_RESPONSE_MODEL: response_model,
        gen_ai.GEN_AI_RESPONSE_ID: response_id,
        http_attributes.HTTP_RESPONSE_STATUS_CODE: attempt.http_status,
        PROVIDER_KEY: attempt.provider_key_id,
    }
    attributes.update((k, v) for k, v in optional.items() if v is not None)
    if finish_reason:
        attributes[gen_ai.GEN_AI_RESPONSE_FINISH_REASONS] = (finish_reason,)
    if attempt.outcome == "error":
        attributes[error_attributes.ERROR_TYPE] = attempt.error_class or OTHER_ERROR
        span.set_status(Status(StatusCode.ERROR, attempt.error_message))
    span.set_attributes(attributes)
    span.end()


def first_chunk(span: Span, seconds: float) -> None:
    """A streamed try's time to its first content chunk, from the request's issue."""
    span.set_attribute(gen_ai.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, seconds)


def abandon(span: Span, exc: BaseException) -> None:
    """End a try's span that neither answered nor failed as a provider error (cancelled: the
    client left; or a fault of ours), so it is exported rather than lost."""
    span.set_attribute(error_attributes.ERROR_TYPE, type(exc).__qualname__)
    span.set_status(Status(StatusCode.ERROR))
    span.end()
