"""Simulated image generation APIs: real, small PNGs (decodable by any image library) whose colours
derive from the prompt, so the same prompt always gives the same picture.

Wire formats served (request and answer shapes as the providers document them)::

    POST /v1/images/generations                               openai (and openai_compatible)
    POST /openai/deployments/{deployment}/images/generations  azure_openai (?api-version= required)
    POST /v1beta/models/{model}:predict                       gemini (Imagen)

OpenAI's rules are checked as its API applies them: the model must be an image model;
GPT image models take ``size`` 1024x1024 / 1024x1536 / 1536x1024 / auto and ``quality`` low /
medium / high / auto, reject ``response_format`` and report token usage (output tokens per image
as OpenAI's pricing guide lists them); DALL-E 3 takes n=1 only, standard / hd and its three
sizes; DALL-E 2 its three square sizes. Imagen takes ``sampleCount`` 1-4 and the aspect ratios
1:1, 3:4, 4:3, 9:16, 16:9. Faults (errors, latency) apply as to chat and embeddings.
"""

from __future__ import annotations

import base64
import struct
import time
import zlib
from typing import TYPE_CHECKING, Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.simulator.textgen import count_tokens
from gateway.simulator.wires import DIALECTS
from gateway.simulator.wires.base import STATUS_MESSAGES, WireError

if TYPE_CHECKING:
    from gateway.simulator.engine import Simulator

PIXELS: Final = 16  # every simulated image is PIXELS x PIXELS, whatever size was asked
_GPT_SIZES: Final = ("1024x1024", "1024x1536", "1536x1024", "auto")
_GPT_QUALITIES: Final = ("low", "medium", "high", "auto")
# Output tokens per image of a GPT image model (OpenAI's image generation guide), by quality.
GPT_IMAGE_TOKENS: Final = {
    "square": {"low": 272, "medium": 1056, "high": 4160},
    "portrait": {"low": 408, "medium": 1584, "high": 6240},
}
_DALLE: Final = {
    "dall-e-3": (("1024x1024", "1792x1024", "1024x1792"), ("standard", "hd"), 1),
    "dall-e-2": (("256x256", "512x512", "1024x1024"), ("standard",), 10),
}
_IMAGEN_RATIOS: Final = ("1:1", "3:4", "4:3", "9:16", "16:9")


def png(seed: str, pixels: int = PIXELS) -> bytes:
    """A valid RGB PNG of ``pixels`` squared: a two-colour gradient picked by ``seed``."""
    h = zlib.crc32(seed.encode())
    a = (h & 0xFF, (h >> 8) & 0xFF, (h >> 16) & 0xFF)
    b = (255 - a[0], 255 - a[1], 255 - a[2])
    rows = bytearray()
    for y in range(pixels):
        rows.append(0)  # filter: none
        for x in range(pixels):
            t = (x + y) / (2 * pixels - 2 or 1)
            rows.extend(round(a[i] + (b[i] - a[i]) * t) for i in range(3))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", pixels, pixels, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows)))
        + chunk(b"IEND", b"")
    )


def _prompt(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise WireError(400, "'prompt' is a required property and must be a non-empty string")
    return value


def _count(value: Any, low: int, high: int, name: str) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise WireError(400, f"Invalid '{name}': must be an integer between {low} and {high}.")
    return value


def _gpt_image(body: dict[str, Any], model: str, prompt: str) -> tuple[int, dict[str, Any]]:
    if "response_format" in body:
        raise WireError(400, "Unknown parameter: 'response_format'.")
    size, quality = body.get("size") or "auto", body.get("quality") or "auto"
    if size not in _GPT_SIZES:
        raise WireError(400, f"Invalid value: '{size}'. Supported values are: {', '.join(_GPT_SIZES)}.")
    if quality not in _GPT_QUALITIES:
        raise WireError(
            400, f"Invalid value: '{quality}'. Supported values are: {', '.join(_GPT_QUALITIES)}."
        )
    n = _count(body.get("n"), 1, 10, "n")
    size = "1024x1024" if size == "auto" else size
    quality = "medium" if quality == "auto" else quality
    per_image = GPT_IMAGE_TOKENS["square" if size == "1024x1024" else "portrait"][quality]
    text = count_tokens(prompt)
    usage = {
        "input_tokens": text,
        "input_tokens_details": {"text_tokens": text, "image_tokens": 0},
        "output_tokens": per_image * n,
        "total_tokens": text + per_image * n,
    }
    return n, {"size": size, "quality": quality, "output_format": "png", "usage": usage}


def _dalle(body: dict[str, Any], model: str) -> tuple[int, dict[str, Any]]:
    sizes, qualities, most = _DALLE[model]
    size, quality = body.get("size") or "1024x1024", body.get("quality") or "standard"
    if size not in sizes:
        raise WireError(400, f"'{size}' is not one of {list(sizes)} - 'size'")
    if quality not in qualities:
        raise WireError(400, f"'{quality}' is not one of {list(qualities)} - 'quality'")
    if body.get("response_format", "url") not in ("url", "b64_json"):
        raise WireError(400, "'response_format' must be 'url' or 'b64_json'")
    return _count(body.get("n"), 1, most, "n"), {}


def openai_images(body: dict[str, Any], model: str) -> tuple[int, dict[str, Any], bool]:
    """(images, extra answer fields, answer base64) for an OpenAI-wire request."""
    prompt = _prompt(body.get("prompt"))
    if model.startswith(("gpt-image", "chatgpt-image")):
        n, extra = _gpt_image(body, model, prompt)
        return n, extra, True
    if model in _DALLE:
        n, extra = _dalle(body, model)
        return n, extra, body.get("response_format") == "b64_json"
    raise WireError(400, f"Invalid model {model!r}: it does not generate images.")


def _openai_answer(sim: Simulator, body: dict[str, Any], model: str) -> dict[str, Any]:
    n, extra, as_base64 = openai_images(body, model)
    data = []
    for i in range(n):
        image = png(f"{body['prompt']}#{i}")
        if as_base64:
            data.append({"b64_json": base64.b64encode(image).decode()})
        else:
            data.append({"url": f"https://images.simulator.invalid/{zlib.crc32(image):08x}.png"})
        if model == "dall-e-3":
            data[-1]["revised_prompt"] = body["prompt"]
    return {"created": int(time.time()), "data": data, **extra}


def _imagen_answer(body: dict[str, Any], model: str) -> dict[str, Any]:
    if not model.startswith("imagen"):
        raise WireError(
            400, f"models/{model} is not found for API version v1beta, or does not support predict."
        )
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        raise WireError(400, "* PredictRequest.instances: exactly one instance with a prompt is required")
    prompt = _prompt(instances[0].get("prompt"))
    parameters = body.get("parameters") or {}
    n = _count(parameters.get("sampleCount"), 1, 4, "sampleCount")
    ratio = parameters.get("aspectRatio", "1:1")
    if ratio not in _IMAGEN_RATIOS:
        raise WireError(
            400, f"aspectRatio {ratio!r} is not supported; use one of {', '.join(_IMAGEN_RATIOS)}"
        )
    return {
        "predictions": [
            {"mimeType": "image/png", "bytesBase64Encoded": base64.b64encode(png(f"{prompt}#{i}")).decode()}
            for i in range(n)
        ]
    }


async def handle_image(sim: Simulator, api_style: str, request: Request) -> Response:
    """Authenticate, parse, apply an injected fault (errors, latency), answer, count it."""
    dialect = DIALECTS[api_style]
    if not sim.authenticated(dialect, request):
        return sim.error(dialect, 401, STATUS_MESSAGES[401])
    try:
        body = await sim.json_body(dialect, request)
        if not isinstance(body, dict):
            raise WireError(400, "the request body must be a JSON object")
        if api_style == "gemini":
            model = request.path_params["target"].rpartition(":")[0]
        elif api_style == "azure_openai":
            model = request.path_params["deployment"]
        else:
            model = body.get("model") or "dall-e-2"  # OpenAI's default image model
        if not isinstance(model, str):
            raise WireError(400, "'model' must be a string")
    except WireError as exc:
        return sim.error(dialect, exc.status, exc.message)
    entry, failed = await sim.side_call(dialect, request, "image", model, body)
    if failed is not None:
        return failed
    try:
        answer = _imagen_answer(body, model) if api_style == "gemini" else _openai_answer(sim, body, model)
    except WireError as exc:
        entry["status"] = exc.status
        return sim.error(dialect, exc.status, exc.message)
    entry["status"] = 200
    return Response(orjson.dumps(answer), media_type="application/json")
