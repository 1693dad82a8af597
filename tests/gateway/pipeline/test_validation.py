"""Structured-output validation: the verdict and the errors a client gets in ``details``."""

from __future__ import annotations

from gateway.pipeline.validation import invalid_output, validate
from gateway.providers.types import ResponseFormat

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "people": {"type": "array", "items": {"type": "integer"}}},
    "required": ["city", "people"],
    "additionalProperties": False,
}
FMT = ResponseFormat("json_schema", "place", SCHEMA, strict=True)


def test_text_and_no_format_are_not_applicable() -> None:
    assert validate("anything", None) == ("not_applicable", [])
    assert validate("anything", ResponseFormat("text")) == ("not_applicable", [])


def test_a_valid_answer_passes() -> None:
    assert validate('{"city": "Oslo", "people": [1, 2]}', FMT) == ("passed", [])
    assert validate('{"free": "form"}', ResponseFormat("json_object")) == ("passed", [])


def test_errors_name_the_path() -> None:
    status, errors = validate('{"city": 3, "people": [1, "x"], "extra": true}', FMT)
    assert status == "failed"
    paths = {e["path"] for e in errors}
    assert {"$.city", "$.people[1]", "$"} <= paths
    err = invalid_output(errors)
    assert err.error_class == "invalid_output" and err.details == errors and err.param == "response_format"


def test_not_json_and_not_an_object_fail() -> None:
    assert validate("Sure! Here it is: {", FMT)[0] == "failed"
    assert (
        validate("[1, 2]", ResponseFormat("json_object"))[1][0]["message"]
        == "the answer is not a JSON object"
    )
