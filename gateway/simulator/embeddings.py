"""Simulated embeddings APIs: deterministic vectors on which similar texts are near.

A text's vector is a bag of its lower-cased words (weight 1) and of each word's character
trigrams (weight 0.5), hashed into ``dims`` buckets with a hash-derived sign (the "hashing
trick"), then L2-normalised. So the same text always gives the same vector (in any process:
``zlib.crc32``, not Python's salted ``hash``), a paraphrase sharing most words and stems scores a
high cosine, and unrelated texts score near zero — enough to exercise a semantic cache and its
threshold without a model.

OpenAI's wire also takes token arrays as ``input`` (``list[int]`` / ``list[list[int]]``); each
id is then a "word" of the vector and the usage counts the ids. Gemini and Cohere take text only.

Wire formats served (request and answer shapes as the providers document them)::

    POST /v1/embeddings                                    openai (and openai_compatible)
    POST /openai/deployments/{deployment}/embeddings       azure_openai (?api-version= required)
    POST /v1beta/models/{model}:embedContent               gemini, one text
    POST /v1beta/models/{model}:batchEmbedContents         gemini, several
    POST /v2/embed                                         cohere v2
"""

from __future__ import annotations

import base64
import math
import re
import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.simulator.textgen import count_tokens
from gateway.simulator.wires import DIALECTS
from gateway.simulator.wires.base import STATUS_MESSAGES, WireError, text_of

if TYPE_CHECKING:
    from gateway.simulator.engine import Simulator

_WORD: Final = re.compile(r"[^\W_]+")
_COHERE_INPUT_TYPES: Final = frozenset(
    {"search_query", "search_document", "classification", "clustering", "image"}
)


def embed_text(text: str, dims: int) -> list[float]:
    """The unit vector of ``text`` (``dims`` components)."""
    vec = [0.0] * dims

    def add(feature: str, weight: float) -> None:
        h = zlib.crc32(feature.encode())
        vec[h % dims] += -weight if h & 0x8000_0000 else weight

    for word in _WORD.findall(text.lower()):
        add("w:" + word, 1.0)
        padded = f"#{word}#"
        for i in range(len(padded) - 2):
            add("t:" + padded[i : i + 3], 0.5)
    norm = math.sqrt(sum(x * x for x in vec))
    if norm == 0:
        vec[0] = 1.0
        return vec
    return [x / norm for x in vec]


@dataclass(slots=True)
class EmbedCall:
    api_style: str
    model: str
    texts: list[str]
    dims: int | None
    base64: bool = False  # OpenAI's encoding_format=base64 (the official SDK's default)
    single: bool = False  # Gemini :embedContent answers one object, not a list
    token_counts: list[int] | None = None  # OpenAI token-array inputs: tokens per input


def _dims(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4096:
        raise WireError(400, f"{name}: must be an integer between 1 and 4096")
    return value


def _texts(value: Any, name: str) -> list[str]:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
        raise WireError(400, f"'{name}' must be a non-empty string or array of non-empty strings")
    return texts


def _openai(style: str, body: dict[str, Any], request: Request) -> EmbedCall:
    if style == "azure_openai":
        model = request.path_params["deployment"]
    else:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise WireError(400, "you must provide a model parameter")
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise WireError(400, "encoding_format must be 'float' or 'base64'")
    raw = body.get("input")
    tokens = _token_arrays(raw)
    return EmbedCall(
        style,
        model,
        [" ".join(f"t{i}" for i in t) for t in tokens] if tokens else _texts(raw, "input"),
        _dims(body.get("dimensions"), "dimensions"),
        base64=fmt == "base64",
        token_counts=[len(t) for t in tokens] if tokens else None,
    )


def _token_arrays(value: Any) -> list[list[int]] | None:
    """OpenAI's token-array ``input`` (``list[int]`` or ``list[list[int]]``), else None."""
    if not isinstance(value, list) or not value or isinstance(value[0], str):
        return None
    arrays = value if isinstance(value[0], list) else [value]
    for tokens in arrays:
        if not isinstance(tokens, list) or not tokens:
            raise WireError(400, "'input' token arrays must be non-empty arrays of integers")
        if not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in tokens):
            raise WireError(400, "'input' token arrays must hold non-negative integers")
    return arrays


def _gemini(body: dict[str, Any], request: Request) -> EmbedCall:
    model, _, method = request.path_params["target"].rpartition(":")
    if method == "embedContent":
        parts = (body.get("content") or {}).get("parts")
        return EmbedCall(
            "gemini",
            model,
            [_texts(text_of(parts), "content.parts")[0]],
            _dims(body.get("outputDimensionality"), "outputDimensionality"),
            single=True,
        )
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise WireError(400, "* BatchEmbedContentsRequest.requests: requests is not specified")
    texts: list[str] = []
    dims: int | None = None
    for item in requests:
        if not isinstance(item, dict) or item.get("model") != f"models/{model}":
            raise WireError(400, f"Model in each request must be 'models/{model}', the batch's model.")
        texts += _texts(text_of((item.get("content") or {}).get("parts")), "content.parts")
        dims = _dims(item.get("outputDimensionality"), "outputDimensionality")
    return EmbedCall("gemini", model, texts, dims)


def _cohere(body: dict[str, Any], request: Request) -> EmbedCall:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise WireError(400, "invalid request: model must be specified")
    if body.get("input_type") not in _COHERE_INPUT_TYPES:
        raise WireError(400, "invalid request: input_type must be specified for embed models v3 and higher")
    types = body.get("embedding_types") or ["float"]
    if "float" not in types:
        raise WireError(400, "invalid request: the simulator answers embedding_types ['float'] only")
    return EmbedCall(
        "cohere",
        model,
        _texts(body.get("texts"), "texts"),
        _dims(body.get("output_dimension"), "output_dimension"),
    )


def _float32_base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _answer(call: EmbedCall, vectors: list[list[float]], tokens: int, request_id: str) -> dict[str, Any]:
    if call.api_style == "gemini":
        if call.single:
            return {"embedding": {"values": vectors[0]}}
        return {"embeddings": [{"values": v} for v in vectors]}
    if call.api_style == "cohere":
        return {
            "id": request_id,
            "embeddings": {"float": vectors},
            "texts": call.texts,
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
            "response_type": "embeddings_by_type",
        }
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": _float32_base64(v) if call.base64 else v}
            for i, v in enumerate(vectors)
        ],
        "model": call.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


async def handle_embedding(sim: Simulator, api_style: str, request: Request) -> Response:
    """Authenticate, parse, apply an injected fault (errors, latency), answer, count it."""
    dialect = DIALECTS[api_style]
    if not sim.authenticated(dialect, request):
        return sim.error(dialect, 401, STATUS_MESSAGES[401])
    try:
        body = await sim.json_body(dialect, request)
        if not isinstance(body, dict):
            raise WireError(400, "the request body must be a JSON object")
        if api_style == "gemini":
            call = _gemini(body, request)
        elif api_style == "cohere":
            call = _cohere(body, request)
        else:
            call = _openai(api_style, body, request)
    except WireError as exc:
        return sim.error(dialect, exc.status, exc.message)
    entry, failed = await sim.side_call(dialect, request, "embedding", call.model, body)
    if failed is not None:
        return failed
    config = sim.config
    dims = call.dims or config.embedding_dims
    vectors = [embed_text(text, dims) for text in call.texts]
    tokens = sum(call.token_counts) if call.token_counts else sum(count_tokens(t) for t in call.texts)
    entry["status"] = 200
    answer = _answer(call, vectors, tokens, f"sim-emb-{entry['seq']:08d}")
    return Response(orjson.dumps(answer), media_type="application/json")
