"""Deterministic tool calls, structured answers and media token counts for every simulated wire.

Each wire parses its provider's request into a ``SimCall`` (tools, tool choice, response
schema, media parts); this module decides what the simulated model answers, the same way for
every wire, so a test can predict it:

- **Tool calls.** ``tool_choice`` none: never. A forced tool (``{"function": {"name"}}``,
  Anthropic ``{"type": "tool"}``, Gemini ``allowedFunctionNames``): that tool. ``required`` /
  ``any``: the tools the last user turn names, else the first tool. ``auto``: the tools the last
  user turn names (by name, as a word) — but only when the conversation ends with a user turn,
  so an agent loop that has just sent tool results gets a text answer and ends. With parallel
  tool calls off, only the first. Arguments are generated from the tool's JSON Schema
  (``example_for``), so they are always valid for it.
- **Structured output.** A ``json_schema`` response format yields an object generated from the
  schema; ``json_object`` yields ``{"answer": "<text>"}``.
- **Media tokens** (documented rule, not any provider's): an image counts ``IMAGE_TOKENS``
  (``IMAGE_TOKENS_LOW`` for ``detail: low``), audio one token per ``AUDIO_B64_PER_TOKEN``
  base64 characters, a file one per ``FILE_B64_PER_TOKEN`` — at least one each.
"""

from __future__ import annotations

import functools
import re
import zlib
from dataclasses import dataclass, field, replace
from typing import Any, Final

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

IMAGE_TOKENS: Final = 765
IMAGE_TOKENS_LOW: Final = 85
AUDIO_B64_PER_TOKEN: Final = 64
FILE_B64_PER_TOKEN: Final = 16
MAX_SCHEMA_DEPTH: Final = 12
_WORD = re.compile(r"[A-Za-z0-9_\-]+")


class ToolSchemaError(ValueError):
    """A tool definition or response schema the real API would refuse (the wire answers 400)."""


@dataclass(slots=True, frozen=True)
class SimTool:
    name: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(slots=True, frozen=True)
class SimToolCall:
    id: str
    name: str
    arguments: str  # JSON text

    @property
    def args(self) -> Any:
        return orjson.loads(self.arguments)


@dataclass(slots=True)
class MediaTokens:
    image: int = 0
    audio: int = 0
    file: int = 0

    @property
    def total(self) -> int:
        return self.image + self.audio + self.file

    def add_image(self, detail: str | None = None) -> None:
        self.image += IMAGE_TOKENS_LOW if detail == "low" else IMAGE_TOKENS

    def add_audio(self, b64: str) -> None:
        self.audio += max(1, len(b64) // AUDIO_B64_PER_TOKEN)

    def add_file(self, b64: str) -> None:
        self.file += max(1, len(b64) // FILE_B64_PER_TOKEN)


def check_tool(name: Any, parameters: Any, *, require_object: bool = True) -> SimTool:
    """A tool definition as the real APIs check it: a name of ``[A-Za-z0-9_-]{1,64}`` and a
    valid JSON Schema (an ``object`` schema at the top)."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", name):
        raise ToolSchemaError(f"Invalid tool name {name!r}: 1-64 of a-z, A-Z, 0-9, underscores and dashes.")
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    check_schema(parameters, f"tool {name!r} parameters")
    if require_object and parameters.get("type", "object") != "object":
        raise ToolSchemaError(f"Invalid schema for tool {name!r}: the top-level type must be 'object'.")
    return SimTool(name, parameters)


def check_schema(schema: Any, what: str) -> None:
    if not isinstance(schema, dict):
        raise ToolSchemaError(f"Invalid schema for {what}: must be a JSON object.")
    problem = _schema_problem(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
    if problem is not None:
        raise ToolSchemaError(f"Invalid schema for {what}: {problem}")


@functools.lru_cache(maxsize=1024)
def _schema_problem(schema_json: bytes) -> str | None:
    """Why a schema is not valid JSON Schema (None: it is), once per distinct schema: an agent
    sends the same tools every turn, and checking them costs milliseconds."""
    try:
        Draft202012Validator.check_schema(orjson.loads(schema_json))
    except SchemaError as exc:
        return exc.message
    return None


def choose_tools(
    tools: list[SimTool],
    choice: str,
    forced: str | None,
    prompt: str,
    *,
    ends_with_user: bool,
    parallel: bool = True,
) -> list[SimTool]:
    """Which tools the simulated model calls (module docstring)."""
    if not tools or choice == "none":
        return []
    by_name = {t.name: t for t in tools}
    if forced is not None:
        return [by_name[forced]] if forced in by_name else []
    named = []
    for word in dict.fromkeys(_WORD.findall(prompt)):
        if word in by_name:
            named.append(by_name[word])
    if choice == "required":
        chosen = named or [tools[0]]
    elif ends_with_user:
        chosen = named
    else:
        chosen = []
    return chosen if parallel else chosen[:1]


def tool_calls(chosen: list[SimTool], prompt: str, id_prefix: str) -> tuple[SimToolCall, ...]:
    seed = zlib.crc32(prompt.encode())
    return tuple(
        SimToolCall(
            f"{id_prefix}{seed % 10**8:08d}{i}",
            tool.name,
            orjson.dumps(example_for(tool.parameters, tool.parameters, seed + i)).decode(),
        )
        for i, tool in enumerate(chosen)
    )


def example_for(schema: Any, root: dict[str, Any], seed: int = 0, depth: int = 0) -> Any:
    """A deterministic value valid for ``schema`` (objects get every declared property)."""
    if not isinstance(schema, dict) or depth > MAX_SCHEMA_DEPTH:
        return None
    if "$ref" in schema:
        return example_for(_resolve(schema["$ref"], root), root, seed, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][seed % len(schema["enum"])]
    for key in ("anyOf", "oneOf"):
        options = [o for o in schema.get(key) or () if not (isinstance(o, dict) and o.get("type") == "null")]
        if options:
            return example_for(options[0], root, seed, depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(_resolve(part["$ref"], root) if "$ref" in part else part)
        return example_for(merged, root, seed, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        props = schema.get("properties") or {}
        return {
            name: example_for(sub, root, seed + i, depth + 1) for i, (name, sub) in enumerate(props.items())
        }
    if kind == "array":
        n = max(1, int(schema.get("minItems") or 1))
        if "maxItems" in schema:
            n = min(n, int(schema["maxItems"]))
        return [example_for(schema.get("items") or {}, root, seed + i, depth + 1) for i in range(n)]
    if kind == "integer":
        return int(_number(schema, seed))
    if kind == "number":
        return _number(schema, seed) + 0.5 if "maximum" not in schema else _number(schema, seed)
    if kind == "boolean":
        return seed % 2 == 0
    if kind == "null":
        return None
    return _string(schema, seed)


def _resolve(ref: str, root: dict[str, Any]) -> Any:
    if not ref.startswith("#/"):
        return {}
    node: Any = root
    for part in ref[2:].split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node


def _number(schema: dict[str, Any], seed: int) -> float:
    low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    value = float(low) + (seed % 7) + (1 if "exclusiveMinimum" in schema else 0)
    if high is not None:
        top = float(high) - (1 if "exclusiveMaximum" in schema else 0)
        value = min(value, top) if top >= float(low) else float(low)
    return value


_FORMATS: Final = {
    "date": "2026-01-15",
    "date-time": "2026-01-15T09:30:00Z",
    "time": "09:30:00",
    "email": "someone@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_SAMPLE_WORDS: Final = ("Paris", "ledger", "vault", "Lisbon", "alpha", "report")


def _string(schema: dict[str, Any], seed: int) -> str:
    fmt = schema.get("format")
    if fmt in _FORMATS:
        return _FORMATS[fmt]
    text = _SAMPLE_WORDS[seed % len(_SAMPLE_WORDS)]
    low = int(schema.get("minLength") or 0)
    if len(text) < low:
        text = (text * (low // len(text) + 1))[:low]
    if "maxLength" in schema:
        text = text[: int(schema["maxLength"])] or ""
    return text


def structured_text(schema: dict[str, Any] | None, echo: str, seed: int) -> str:
    """The JSON answer for a ``json_schema`` (schema given) or ``json_object`` (None) request."""
    value = example_for(schema, schema, seed) if schema is not None else {"answer": echo}
    return orjson.dumps(value).decode()


def json_pieces(text: str, chars_per_token: int = 4) -> tuple[str, ...]:
    """JSON text split into output tokens of a few characters (streams split there)."""
    return tuple(text[i : i + chars_per_token] for i in range(0, len(text), chars_per_token)) or ("",)


@dataclass(slots=True)
class Answer:
    """What a simulated request will be answered with, beyond ``SimReply``'s text and counts."""

    tool_calls: tuple[SimToolCall, ...] = ()
    json: bool = False


def with_structure(reply: Any, pieces: tuple[str, ...]) -> Any:
    """``reply`` (a ``SimReply``) with its visible text replaced by ``pieces``."""
    return replace(reply, pieces=pieces, truncated=False)
