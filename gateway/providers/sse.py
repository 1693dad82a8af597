"""A minimal server-sent-events parser (the subset LLM providers use).

Follows the WHATWG rules that matter here: ``data`` lines of one event are joined with ``\\n``,
an event is dispatched on a blank line, comment lines (``:``) are skipped, and an event still
incomplete when the body ends is dropped, so a stream cut mid-event never yields half a JSON
document.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from gateway.providers.http import DEFAULT_MAX_EVENT_BYTES, BodyTooLarge


@dataclass(slots=True, frozen=True)
class SseEvent:
    event: str  # "message" when the server named none
    data: str


async def iter_sse(
    lines: AsyncIterable[str],
    *,
    bare_json_lines: bool = False,
    max_event_chars: int = DEFAULT_MAX_EVENT_BYTES,
) -> AsyncIterator[SseEvent]:
    """Events from decoded lines without their terminators (``UpstreamStream.aiter_lines()``).

    ``bare_json_lines`` also accepts newline-delimited JSON (a line starting with ``{``) as a
    complete event, for servers that answer a streamed request without SSE framing. An event
    whose data grows past ``max_event_chars`` raises ``BodyTooLarge`` (a hostile server could
    otherwise send one endless event).
    """
    event = ""
    data: list[str] = []
    size = 0
    async for line in lines:
        if not line:
            if data:
                yield SseEvent(event or "message", "\n".join(data))
            event, data, size = "", [], 0
            continue
        first = line[0]
        if first == ":":
            continue
        if first == "{" and bare_json_lines and not data:
            yield SseEvent(event or "message", line)
            event = ""
            continue
        name, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if name == "data":
            size += len(value) + 1
            if size > max_event_chars:
                raise BodyTooLarge(f"a streamed event is larger than {max_event_chars} characters")
            data.append(value)
        elif name == "event":
            event = value
