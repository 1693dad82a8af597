"""PII detection finds validated personal data and only that; redaction leaves no value behind."""

from __future__ import annotations

import pytest

from gateway.privacy.pii import kinds, redact, scan
from gateway.privacy.policy import PiiMode, screen
from gateway.providers.types import ChatMessage


def found(text: str) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start : f.end]) for f in scan(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail jane.doe+x@example.co.uk now", [("email", "jane.doe+x@example.co.uk")]),
        ("card 4111 1111 1111 1111 ok", [("card", "4111 1111 1111 1111")]),
        ("card 4111-1111-1111-1111", [("card", "4111-1111-1111-1111")]),
        ("iban GB82 WEST 1234 5698 7654 32.", [("iban", "GB82 WEST 1234 5698 7654 32")]),
        ("iban DE89370400440532013000", [("iban", "DE89370400440532013000")]),
        ("ssn 536-22-8726 here", [("national_id", "536-22-8726")]),
        ("cpf 390.533.447-05", [("national_id", "390.533.447-05")]),
        ("dni 54362315K", [("national_id", "54362315K")]),
        ("nino AB 12 34 56 C", [("national_id", "AB 12 34 56 C")]),
        (
            "from 192.168.10.4 and 2001:db8::8a2e:370:7334",
            [("ip", "192.168.10.4"), ("ip", "2001:db8::8a2e:370:7334")],
        ),
        ("call +1 415-555-2671 today", [("phone", "+1 415-555-2671")]),
        ("ruf +49 30 901820 an", [("phone", "+49 30 901820")]),
    ],
)
def test_finds_each_kind(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order 4111 1111 1111 1112 shipped",  # fails Luhn: not a card
        "iban GB82 WEST 1234 5698 7654 33",  # fails mod-97
        "ssn 000-12-3456",  # never issued
        "version 1.2.3 and 999.1.1.1 and 12:30:45",  # not IPs
        "the year 2024 had 365 days and 8760 hours",
        "ratio 3:2 and a::b::c",
    ],
)
def test_lookalikes_are_not_pii(text: str) -> None:
    assert found(text) == []


def test_card_wins_over_phone_when_they_overlap() -> None:
    assert [k for k, _ in found("pay with 5555555555554444")] == ["card"]


def test_redaction_removes_every_value_and_keeps_the_rest() -> None:
    text = "Email bob@corp.io, card 4111111111111111, ip 10.0.0.1."
    out = redact(text, scan(text))
    assert out == "Email [EMAIL], card [CARD], ip [IP]."
    assert kinds(scan(text)) == ["email", "card", "ip"]


def test_screen_modes() -> None:
    msgs = [ChatMessage("system", "be brief"), ChatMessage("user", "I am ann@x.org, card 4111111111111111")]
    off = screen(msgs, "off")
    assert off.found == () and off.messages is msgs and off.pii_actions == []

    flag = screen(msgs, PiiMode.FLAG)
    assert flag.found == ("email", "card") and flag.messages[1].content == msgs[1].content
    assert flag.compliance_flags == ["pii:email", "pii:card"]
    assert flag.pii_actions == ["flagged:email", "flagged:card"] and not flag.blocked

    red = screen(msgs, "redact")
    assert red.messages[1].content == "I am [EMAIL], card [CARD]"
    assert msgs[1].content.startswith("I am ann@x.org")  # the caller's messages are not mutated
    assert red.messages[0] is msgs[0]

    block = screen(msgs, "block")
    assert block.blocked and block.pii_actions == ["blocked:email", "blocked:card"]
    assert not screen([ChatMessage("user", "hello")], "block").blocked
