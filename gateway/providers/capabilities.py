"""What each (provider, model) can honour, so nothing a client asks for is silently dropped.

Two tables, both documented defaults:

- ``WIRE_OPTIONS``: the request options (``ChatRequest.options_set``) each wire format has a
  field for. ``user`` is not checked: OneVault itself honours it (it is the chargeback end user)
  and forwards it where the provider has a field (OpenAI ``user``, Anthropic
  ``metadata.user_id``). ``parallel_tool_calls`` counts as asked only when it turns parallel calls
  *off* (on is every provider's default). A ``thinking_budget`` sent together with a
  ``reasoning_effort`` (the Messages door derives the effort from Anthropic's budget) is honoured
  by wires that take only an effort: they get the effort.
- ``MODEL_FEATURES``: the model-level features (``tools``, ``image_input``, ``audio_input``,
  ``file_input``, ``json_object``, ``json_schema``, ``reasoning``) by model-name prefix, longest
  prefix first. A model no prefix matches (a wildcard or self-hosted model) is assumed to have
  every feature: the provider itself is then the judge, and its 400 reaches the client.

An operator overrides the features per provider and model in ``providers.json``:
``"capabilities": {"my-model": ["tools", "json_schema"], "*": [...]}`` replaces the defaults for
that model (``"*"``: for every model of that provider).

``check`` returns what a candidate cannot honour: the option or content-part names the client
used (``tools``, ``seed``, ``image_url``, ``input_audio``, ``file`` ...). Content needs (media,
tool history) are never droppable; options are, when the customer or rule opts in
(``drop_unsupported_params``). A third kind, ``forced``, is an option the provider's protocol
refuses *with this conversation* although the model has it: Anthropic's extended thinking
continuing a tool-calling turn whose signed thinking blocks the history lacks (the turn came
from another provider, or the client dropped them; gateway/providers/thinking.py). The request
cannot be served with it and refusing would strand the conversation, so it is always dropped
for that candidate and recorded (``dropped_params``), whatever ``drop_unsupported_params`` says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from gateway.providers.thinking import forced_drops
from gateway.providers.types import OPTION_FIELDS, ChatRequest

FEATURES: Final = (
    "tools",
    "image_input",
    "audio_input",
    "file_input",
    "json_object",
    "json_schema",
    "reasoning",
)
ALL_FEATURES: Final = frozenset(FEATURES)
_ALL_OPTIONS: Final = frozenset(OPTION_FIELDS) - {"user"}

# What every non-OpenAI wire below has a field for: sampling, tools, JSON output, reasoning.
_COMMON: Final = frozenset(
    {
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "tools",
        "tool_choice",
        "response_format",
        "reasoning_effort",
        "thinking_budget",
    }
)
_SEEDED: Final = frozenset({"seed", "presence_penalty", "frequency_penalty", "logprobs"})
WIRE_OPTIONS: Final[dict[str, frozenset[str]]] = {
    "openai": _ALL_OPTIONS - {"top_k", "thinking_budget"},
    "azure_openai": _ALL_OPTIONS - {"top_k", "thinking_budget"},
    "openai_compatible": _ALL_OPTIONS - {"thinking_budget", "service_tier", "store"},
    "anthropic": _COMMON | {"parallel_tool_calls", "service_tier"},
    "gemini": _COMMON | _SEEDED | {"top_logprobs", "n"},
    "cohere": _COMMON | _SEEDED,
}

_CHAT: Final = frozenset({"tools", "json_object", "json_schema"})
_VISION: Final = _CHAT | {"image_input", "file_input"}
# (model-name prefix, features), matched longest prefix first.
MODEL_FEATURES: Final[tuple[tuple[str, frozenset[str]], ...]] = (
    # OpenAI / Azure OpenAI
    ("gpt-4o-audio", frozenset({"tools", "audio_input", "json_object"})),
    ("gpt-4o-mini-audio", frozenset({"tools", "audio_input", "json_object"})),
    ("gpt-4o", _VISION),
    ("gpt-4.1", _VISION),
    ("gpt-4.5", _VISION),
    ("gpt-5", _VISION | {"reasoning"}),
    ("gpt-4-turbo", frozenset({"tools", "image_input", "json_object"})),
    ("gpt-4", frozenset({"tools"})),
    ("gpt-3.5", frozenset({"tools", "json_object"})),
    ("o1-mini", frozenset({"reasoning"})),
    ("o1", _VISION | {"reasoning"}),
    ("o3-mini", _CHAT | {"reasoning"}),
    ("o3", _VISION | {"reasoning"}),
    ("o4-mini", _VISION | {"reasoning"}),
    ("text-embedding", frozenset()),
    # Anthropic: JSON output through a forced tool (gateway/providers/anthropic.py)
    ("claude-3-haiku", _CHAT | {"image_input"}),
    ("claude-3-opus", _CHAT | {"image_input"}),
    ("claude-3-5-haiku", _VISION),
    ("claude-3-5-sonnet", _VISION),
    ("claude-3-7-sonnet", _VISION | {"reasoning"}),
    ("claude-sonnet-4", _VISION | {"reasoning"}),
    ("claude-opus-4", _VISION | {"reasoning"}),
    ("claude-haiku-4", _VISION | {"reasoning"}),
    ("claude-", _VISION),
    # Gemini
    ("gemini-1.0", _CHAT),
    ("gemini-1.5", _VISION | {"audio_input"}),
    ("gemini-2.0", _VISION | {"audio_input"}),
    ("gemini-2.0-flash-thinking", _VISION | {"audio_input", "reasoning"}),
    ("gemini-2.5", _VISION | {"audio_input", "reasoning"}),
    ("gemini-3", _VISION | {"audio_input", "reasoning"}),
    # Cohere
    ("command-light", frozenset()),
    ("command-r", _CHAT),
    ("command-a-vision", frozenset({"image_input", "json_object", "json_schema"})),
    ("command-a-reasoning", _CHAT | {"reasoning"}),
    ("command-a", _CHAT),
    ("command", frozenset()),
)
_BY_LENGTH: Final = tuple(sorted(MODEL_FEATURES, key=lambda item: -len(item[0])))

# Content the client sent, named as the client's API names it, and the feature it needs.
_CONTENT_FEATURES: Final = {
    "image": ("image_url", "image_input"),
    "audio": ("input_audio", "audio_input"),
    "file": ("file", "file_input"),
}


def model_features(model: str, overrides: Mapping[str, frozenset[str]] | None = None) -> frozenset[str]:
    """The features of ``model`` (the operator's override, else the documented default)."""
    if overrides:
        if model in overrides:
            return overrides[model]
        if "*" in overrides:
            return overrides["*"]
    return _default_features(model)


@lru_cache(maxsize=4096)
def _default_features(model: str) -> frozenset[str]:
    name = model.lower().rsplit("/", 1)[-1]
    for prefix, features in _BY_LENGTH:
        if name.startswith(prefix):
            return features
    return ALL_FEATURES


@dataclass(frozen=True, slots=True)
class Gap:
    """What one candidate cannot honour: ``content`` (never droppable) and ``options``; and
    ``forced``: options its protocol refuses *with this conversation*, which the candidate serves
    without (always dropped and recorded, never a refusal: the conversation cannot be changed)."""

    content: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    forced: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing that needs a refusal or the customer's opt-in (``forced`` drops aside)."""
        return not self.content and not self.options

    @property
    def fields(self) -> tuple[str, ...]:
        return self.content + self.options


NO_GAP: Final = Gap()


def needs(request: ChatRequest) -> tuple[list[tuple[str, str]], list[tuple[str, str | None]]]:
    """(content needs, option needs) of a request as (field name, feature) pairs."""
    content: list[tuple[str, str]] = []
    for modality in request.input_modalities():
        if modality in _CONTENT_FEATURES:
            content.append(_CONTENT_FEATURES[modality])
    if any(m.tool_calls or m.role == "tool" for m in request.messages):
        content.append(("tool_calls", "tools"))
    options: list[tuple[str, str | None]] = []
    for name in request.options_set():
        if name == "user" or (name == "parallel_tool_calls" and request.parallel_tool_calls is not False):
            continue
        feature: str | None = None
        if name == "tools":
            feature = "tools"
        elif name == "response_format" and request.response_format is not None:
            feature = request.response_format.type
        elif name in ("reasoning_effort", "thinking_budget") and request.reasoning_effort != "none":
            feature = "reasoning"
        options.append((name, feature))
    return content, options


def check(
    api_style: str,
    model: str,
    request: ChatRequest,
    overrides: Mapping[str, frozenset[str]] | None = None,
) -> Gap:
    """What (``api_style``, ``model``) cannot honour of ``request``."""
    content_needs, option_needs = needs(request)
    if not content_needs and not option_needs:
        return NO_GAP  # plain text with no options: every model serves it (the hot path)
    features = model_features(model, overrides)
    wire = WIRE_OPTIONS.get(api_style, _ALL_OPTIONS)
    content = tuple(name for name, feature in content_needs if feature not in features)
    options = [
        name
        for name, feature in option_needs
        if (name not in wire and not _budget_as_effort(name, request, wire))
        or (feature is not None and feature not in features)
    ]
    options.extend(_value_gaps(api_style, request))
    forced = _forced_drops(api_style, request)
    return Gap(content, tuple(dict.fromkeys(options)), tuple(name for name in forced if name not in options))


def _forced_drops(api_style: str, request: ChatRequest) -> tuple[str, ...]:
    """Options a wire's protocol refuses with this conversation (module docstring)."""
    if api_style == "anthropic":
        return forced_drops(request)  # thinking after a tool turn without its signed blocks
    return ()


def _budget_as_effort(name: str, request: ChatRequest, wire: frozenset[str]) -> bool:
    """A thinking budget given with the effort it falls in (the Messages door's ``thinking``):
    a wire that takes only an effort honours the request by the effort."""
    return name == "thinking_budget" and request.reasoning_effort is not None and "reasoning_effort" in wire


def _value_gaps(api_style: str, request: ChatRequest) -> list[str]:
    """Values a wire has the field for but not the range (named by the field)."""
    gaps = []
    if api_style == "anthropic" and request.temperature is not None and request.temperature > 1:
        gaps.append("temperature")  # Anthropic's range is 0-1; rescaling would change the request
    if api_style == "cohere" and request.tool_choice is not None and request.tool_choice.mode == "function":
        gaps.append("tool_choice")  # Cohere v2 can require a tool call, not name one
    if api_style == "anthropic" and request.n not in (None, 1):
        gaps.append("n")
    return gaps


def parse_overrides(raw: object) -> dict[str, frozenset[str]]:
    """``providers.json`` ``capabilities`` → {model: features}; ValueError for an unknown feature."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError("capabilities must be an object of model -> list of features")
    out: dict[str, frozenset[str]] = {}
    for model, features in raw.items():
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise ValueError(f"capabilities[{model!r}] must be a list of feature names")
        unknown = set(features) - ALL_FEATURES
        if unknown:
            raise ValueError(
                f"capabilities[{model!r}]: unknown features {sorted(unknown)} (known: {', '.join(FEATURES)})"
            )
        out[str(model)] = frozenset(features)
    return out
