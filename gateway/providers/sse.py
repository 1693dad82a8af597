"""A minimal server-sent-events parser (the subset LLM providers use).

Follows the WHATWG rules that matter here: ``data`` lines of one event are joined with ``\\n``,
an event is dispatched on a blank line, comment lines (``:``) are skipped, and an event still
incomplete when the body ends is dropped, so a stream cut mid-event never yields half a JSON
document.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class SseEvent:
    event: str  # "message" when the server named none
    data: str


async def iter_sse(lines: AsyncIterable[str], *, bare_json_lines: bool = False) -> AsyncIterator[SseEvent]:
    """Events from decoded lines without their terminators (``UpstreamStream.aiter_lines()``).

    ``bare_json_lines`` also accepts newline-delimited JSON (a line starting with ``{``) as a
    complete event, for servers that answer a streamed request without SSE framing.
    """
    event = ""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield SseEvent(event or "message", "\n".join(data))
            event, data = "", []
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
            data.append(value)
        elif name == "event":
            event = value
