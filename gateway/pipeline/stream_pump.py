"""A stream's upstream read in a task of its own, so a client that leaves stops only its own wait.

The provider bills the whole generation, hidden reasoning included, whether or not the client
stays to read it. Were the upstream read in the client's task, the client's disconnect (a
cancellation) would close the upstream connection too and leave only an estimate of what was
delivered to bill. With the pump the service can read on after a disconnect (``drain``, bounded
by time and content bytes: ``ONEVAULT_STREAM_DRAIN_S`` / ``ONEVAULT_STREAM_DRAIN_BYTES``) until
the provider's own usage arrives, and bill that (docs/security/money.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Final

from gateway.pipeline.stream_state import StreamState
from gateway.providers.types import StreamChunk

QUEUE_DEPTH: Final = 64  # chunks read ahead of a slow client (bounds what one stream buffers)
_END: Final = object()


class StreamPump:
    """Reads ``chunks`` into a bounded queue from its own task; iterate it like the chunks (an
    upstream error is raised to the reader, in order). ``aclose`` stops the reading."""

    __slots__ = ("_queue", "_task")

    def __init__(self, chunks: AsyncIterator[StreamChunk]) -> None:
        self._queue: asyncio.Queue[object] = asyncio.Queue(QUEUE_DEPTH)
        self._task = asyncio.create_task(self._run(chunks))

    async def _run(self, chunks: AsyncIterator[StreamChunk]) -> None:
        try:
            async for chunk in chunks:
                await self._queue.put(chunk)
            await self._queue.put(_END)
        except Exception as exc:  # the reader raises it where the chunk would have been
            await self._queue.put(exc)
        finally:
            with contextlib.suppress(Exception):
                await chunks.aclose()  # type: ignore[attr-defined]

    def __aiter__(self) -> StreamPump:
        return self

    async def __anext__(self) -> StreamChunk:
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)  # iterating again after the end ends again
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        return item  # type: ignore[return-value]

    def cancel(self) -> None:
        """Stop reading; the task closes the provider's stream as it ends (nothing to await)."""
        self._task.cancel()

    async def aclose(self) -> None:
        """Stop reading and wait until the provider's stream is closed."""
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task


def content_bytes(chunk: StreamChunk) -> int:
    """What a chunk carries, in UTF-8 bytes (the read-on's byte bound counts these)."""
    n = sum(len(s.encode()) for s in (chunk.delta, chunk.reasoning, chunk.refusal) if s)
    return n + sum(len(d.arguments.encode()) for d in chunk.tool_calls or ())


async def drain(pump: StreamPump, state: StreamState, *, seconds: float, max_bytes: int) -> None:
    """Read on after the client left, adding to ``state``, until the stream ends or a bound is
    hit (then the upstream is cancelled). ``state.usage`` says whether the provider's count came."""
    received = 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in pump:
                state.add(chunk)
                received += content_bytes(chunk)
                if received > max_bytes:
                    return
    except Exception:  # a timeout or an upstream failure: what arrived is estimated
        return
    finally:
        await pump.aclose()
