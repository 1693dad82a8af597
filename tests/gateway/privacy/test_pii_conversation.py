"""PII screening reads the whole conversation: text parts, tool-call arguments (as JSON) and
tool results; redaction keeps the JSON valid; media parts are passed as they are."""

from __future__ import annotations

import json

import pytest

from gateway.privacy.policy import screen
from gateway.providers.types import AudioPart, ChatMessage, FilePart, ImagePart, TextPart, ToolCall

EMAIL, CARD = "ann@corp.io", "4111111111111111"


def call(arguments: str) -> ChatMessage:
    return ChatMessage("assistant", None, tool_calls=[ToolCall("call_1", "refund", arguments)])


@pytest.mark.parametrize(
    ("message", "kinds"),
    [
        (ChatMessage("user", [TextPart("hello"), TextPart(f"mail {EMAIL}")]), ("email",)),
        (call(json.dumps({"to": EMAIL, "card": CARD})), ("email", "card")),
        (call('{"to": "ann\\u0040corp.io"}'), ("email",)),  # an escape does not hide it
        (call(json.dumps({"card": int(CARD)})), ("card",)),  # nor writing it as a number
        (call(json.dumps({"nested": [{"deep": {"to": EMAIL}}]})), ("email",)),
        (call(f"not json, {EMAIL}"), ("email",)),  # a model may emit invalid JSON
        (ChatMessage("tool", json.dumps({"owner": EMAIL}), tool_call_id="call_1"), ("email",)),
        (ChatMessage("tool", [TextPart(f"paid with {CARD}")], tool_call_id="call_1"), ("card",)),
        (ChatMessage("assistant", "", refusal=f"I won't mail {EMAIL}"), ("email",)),
        (ChatMessage("assistant", "ok", reasoning=f"the user is {EMAIL}"), ("email",)),
    ],
)
def test_every_text_the_conversation_carries_is_scanned(message: ChatMessage, kinds: tuple[str, ...]) -> None:
    flagged = screen([ChatMessage("user", "hi"), message], "flag")
    assert flagged.found == kinds
    assert flagged.messages[1] is message  # flag changes nothing
    assert screen([message], "block").blocked


def test_media_parts_are_not_scanned() -> None:
    payload = f"data:image/png;base64,{EMAIL}"  # not even a text that looks like personal data
    media = ChatMessage(
        "user", [ImagePart(payload), AudioPart(EMAIL, "wav"), FilePart(EMAIL, filename=f"{EMAIL}.pdf")]
    )
    assert screen([media], "flag").found == ()
    assert screen([media], "redact").messages[0] is media


def test_redacting_tool_arguments_keeps_them_valid_json() -> None:
    original = {
        "to": EMAIL,
        "note": f"card {CARD}, thanks",
        "amount": 12.5,
        "card_number": int(CARD),
        "ok": True,
    }
    message = call(json.dumps(original))
    out = screen([message], "redact").messages[0]
    redacted = json.loads(out.tool_calls[0].arguments)
    assert redacted == {
        "to": "[EMAIL]",
        "note": "card [CARD], thanks",
        "amount": 12.5,
        "card_number": "[CARD]",  # a number that is personal data becomes the placeholder
        "ok": True,
    }
    assert (out.tool_calls[0].id, out.tool_calls[0].name, out.content) == ("call_1", "refund", None)
    assert EMAIL in message.tool_calls[0].arguments  # the caller's message is not mutated


def test_redaction_rewrites_only_what_held_personal_data() -> None:
    clean_args = '{ "city" :  "Paris" }'  # odd spacing, kept byte for byte
    clean = call(clean_args)
    tool = ChatMessage("tool", f'{{"owner": "{EMAIL}", "pin": "x"}}', tool_call_id="call_1")
    parts = ChatMessage("user", [TextPart("keep"), ImagePart("https://example.com/a.png"), TextPart(EMAIL)])
    out = screen([clean, tool, parts], "redact")
    assert out.messages[0] is clean and out.messages[0].tool_calls[0].arguments == clean_args
    assert json.loads(out.messages[1].content) == {"owner": "[EMAIL]", "pin": "x"}  # type: ignore[arg-type]
    assert out.messages[1].tool_call_id == "call_1"
    assert out.messages[2].content == [parts.content[0], parts.content[1], TextPart("[EMAIL]")]  # type: ignore[index]
    assert out.messages[2].content[0] is parts.content[0]  # type: ignore[index]
    assert out.pii_actions == ["redacted:email"]


def test_invalid_json_arguments_and_plain_tool_results_are_redacted_as_text() -> None:
    out = screen(
        [call(f"{{broken {EMAIL}"), ChatMessage("tool", f"sent to {EMAIL}", tool_call_id="call_1")], "redact"
    )
    assert out.messages[0].tool_calls[0].arguments == "{broken [EMAIL]"
    assert out.messages[1].content == "sent to [EMAIL]"


def test_refusal_and_reasoning_are_redacted() -> None:
    m = ChatMessage("assistant", "fine", refusal=f"not {EMAIL}", reasoning=f"{EMAIL} asked")
    out = screen([m], "redact").messages[0]
    assert (out.content, out.refusal, out.reasoning) == ("fine", "not [EMAIL]", "[EMAIL] asked")
