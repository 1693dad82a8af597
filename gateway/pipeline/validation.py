"""Structured outputs you can trust: an answer to a ``json_object`` or ``json_schema`` request is
checked (``jsonschema``, Draft 2020-12) before the client sees it, and the verdict is recorded
(``validation_status``: ``passed | failed | not_applicable``).

What happens to a failed answer is the routing rule's ``on_invalid_output`` (``retry`` up to
``max_output_retries``, every try costed) and, once retries are exhausted, the format's
``strict``: strict → 422 ``output_validation_failed`` with the errors (path, message) in
``details``; not strict → the answer is returned as the model gave it, marked ``failed``.
A tool-calling answer is not a structured output (its arguments belong to the client's tools).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Final

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from gateway.providers.types import ProviderError, ResponseFormat

MAX_ERRORS: Final = 20


@lru_cache(maxsize=256)
def _validator(schema_json: bytes) -> Draft202012Validator:
    return Draft202012Validator(orjson.loads(schema_json))


def check_schema(schema: dict[str, Any]) -> str | None:
    """Why ``schema`` is not a usable JSON Schema, or None."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return exc.message
    return None


def validate(text: str, fmt: ResponseFormat | None) -> tuple[str, list[dict[str, str]]]:
    """(status, errors) of ``text`` against the response format."""
    if fmt is None or fmt.type == "text":
        return "not_applicable", []
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return "failed", [{"path": "$", "message": f"the answer is not JSON ({exc.msg})"}]
    if fmt.type == "json_object" or fmt.schema is None:
        if not isinstance(value, dict):
            return "failed", [{"path": "$", "message": "the answer is not a JSON object"}]
        return "passed", []
    validator = _validator(orjson.dumps(fmt.schema, option=orjson.OPT_SORT_KEYS))
    errors = [
        {
            "path": "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path),
            "message": e.message[:300],
        }
        for _, e in zip(range(MAX_ERRORS), validator.iter_errors(value), strict=False)
    ]
    return ("failed", errors) if errors else ("passed", [])


def invalid_output(errors: list[dict[str, str]]) -> ProviderError:
    summary = "; ".join(f"{e['path']}: {e['message']}" for e in errors[:3])
    return ProviderError("invalid_output", summary[:300], details=errors, param="response_format")
