"""The whole simulated answer to a parsed call: text or tool calls or a structured object, with
token counts that include the request's media (rules in gateway/simulator/toolgen.py)."""

from __future__ import annotations

import dataclasses
import zlib

from gateway.simulator.config import SimulatorConfig
from gateway.simulator.textgen import PROMPT_ECHO_CHARS, SimReply, count_tokens, make_reply
from gateway.simulator.toolgen import choose_tools, json_pieces, structured_text, tool_calls
from gateway.simulator.wires.base import SimCall


def answer_for(call: SimCall, config: SimulatorConfig, call_id_prefix: str = "call_") -> SimReply:
    reply = make_reply(
        call.prompt, call.input_texts, call.model, call.max_tokens, config, reasoning=call.reasoning
    )
    input_tokens = reply.input_tokens + call.media.total
    reasoning_text = ""
    if reply.reasoning_tokens:
        reasoning_text = f"Thinking about: {call.prompt[:PROMPT_ECHO_CHARS].strip()}"
    reply = dataclasses.replace(
        reply,
        input_tokens=input_tokens,
        cached_tokens=int(input_tokens * config.cached_fraction),
        media=call.media,
        reasoning_text=reasoning_text,
    )
    chosen = choose_tools(
        call.tools,
        call.tool_choice,
        call.forced_tool,
        call.prompt,
        ends_with_user=call.ends_with_user,
        parallel=call.parallel_tool_calls,
    )
    if chosen:
        calls = tool_calls(chosen, call.prompt, call_id_prefix)
        pieces = ()
        output = sum(count_tokens(c.arguments) for c in calls)
        return dataclasses.replace(reply, pieces=pieces, tool_calls=calls, truncated=False)._with_output(
            output
        )
    if call.json_mode or call.response_schema is not None:
        seed = zlib.crc32(call.prompt.encode()) ^ config.seed
        text = structured_text(call.response_schema, call.prompt[:PROMPT_ECHO_CHARS].strip(), seed)
        return dataclasses.replace(reply, pieces=json_pieces(text), truncated=False)
    return reply
