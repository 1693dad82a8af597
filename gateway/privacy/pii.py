"""Find personal data in prompt text, so it can be flagged, redacted or refused before a provider sees it.

Candidates are found with patterns and then *validated* (Luhn for cards, ISO 13616 mod-97 for
IBANs, each country's check digits for national ids — ``python-stdnum``; libphonenumber's rules
for phone numbers — ``phonenumbers``; the ``ipaddress`` module for IPs), because a regex alone
flags every long number and order id as a card. Only the *types* found ever leave this module
in a record; values stay in the request's memory.

When two findings overlap, the more specific one wins (a card number is not also a phone number).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

import phonenumbers
from stdnum import iban as std_iban
from stdnum import luhn
from stdnum.br import cpf as br_cpf
from stdnum.es import dni as es_dni
from stdnum.in_ import aadhaar as in_aadhaar
from stdnum.it import codicefiscale as it_cf
from stdnum.us import ssn as us_ssn

PII_TYPES: Final = ("email", "card", "iban", "national_id", "ip", "phone")
# Lower rank wins an overlap: the order is from the most to the least specific pattern.
_RANK: Final = {kind: i for i, kind in enumerate(PII_TYPES)}
PLACEHOLDER: Final = {kind: f"[{kind.upper()}]" for kind in PII_TYPES}


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int
    end: int


_EMAIL = re.compile(
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")
_NATIONAL_IDS: Final[tuple[tuple[re.Pattern[str], Callable[[str], bool]], ...]] = (
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), us_ssn.is_valid),  # US SSN, dashed as written
    (re.compile(r"\b\d{3}\.\d{3}\.\d{3}-\d{2}\b"), br_cpf.is_valid),  # Brazil CPF
    (re.compile(r"\b\d{8}-?[A-Za-z]\b"), es_dni.is_valid),  # Spain DNI
    (re.compile(r"\b[A-Za-z]{6}\d{2}[A-Za-z]\d{2}[A-Za-z]\d{3}[A-Za-z]\b"), it_cf.is_valid),  # Italy
    (re.compile(r"\b\d{4} \d{4} \d{4}\b"), in_aadhaar.is_valid),  # India Aadhaar (Verhoeff)
    # UK National Insurance number: no check digit exists, so the strict prefix rules stand in.
    (
        re.compile(
            r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
        ),
        lambda _: True,
    ),
)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _candidates(text: str, region: str) -> Iterable[Finding]:
    for m in _EMAIL.finditer(text):
        yield Finding("email", m.start(), m.end())
    for m in _CARD.finditer(text):
        if luhn.is_valid(_digits(m.group())):
            yield Finding("card", m.start(), m.end())
    for m in _IBAN.finditer(text):
        if std_iban.is_valid(m.group()):
            yield Finding("iban", m.start(), m.end())
    for pattern, is_valid in _NATIONAL_IDS:
        for m in pattern.finditer(text):
            if is_valid(m.group()):
                yield Finding("national_id", m.start(), m.end())
    for pattern in (_IPV4, _IPV6):
        for m in pattern.finditer(text):
            if _is_ip(m.group()):
                yield Finding("ip", m.start(), m.end())
    if any(ch.isdigit() for ch in text):
        leniency = phonenumbers.Leniency.VALID
        for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=leniency):
            yield Finding("phone", m.start, m.end)


def scan(text: str, *, region: str = "US") -> list[Finding]:
    """Non-overlapping findings in text order (``region``: how to read numbers without ``+CC``)."""
    chosen: list[Finding] = []
    for f in sorted(_candidates(text, region), key=lambda f: (_RANK[f.kind], f.start)):
        if all(f.end <= c.start or f.start >= c.end for c in chosen):
            chosen.append(f)
    return sorted(chosen, key=lambda f: f.start)


def redact(text: str, findings: Iterable[Finding]) -> str:
    """Replace each finding with its type's placeholder; nothing can be restored from the result."""
    out: list[str] = []
    pos = 0
    for f in sorted(findings, key=lambda f: f.start):
        out += [text[pos : f.start], PLACEHOLDER[f.kind]]
        pos = f.end
    out.append(text[pos:])
    return "".join(out)


def kinds(findings: Iterable[Finding]) -> list[str]:
    """The distinct types found, in a stable order (what a record may hold: never the values)."""
    found = {f.kind for f in findings}
    return [k for k in PII_TYPES if k in found]
