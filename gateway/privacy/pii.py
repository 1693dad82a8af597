"""Find personal data in prompt text, so it can be flagged, redacted or refused before a provider sees it.

Candidates are found with patterns and then *validated* (Luhn for cards, ISO 13616 mod-97 for
IBANs, each country's check digits for national ids — ``python-stdnum``; libphonenumber's rules
for phone numbers — ``phonenumbers``; the ``ipaddress`` module for IPs), because a regex alone
flags every long number and order id as a card. Only the *types* found ever leave this module
in a record; values stay in the request's memory.

When two findings overlap, the more specific one wins (a card number is not also a phone number).

Every pattern runs in time linear in the text (a request may carry megabytes, and one scan must
never stall a worker): each repetition is bounded or has nothing after it to backtrack for, and
where a run of characters could start a match at every position (an e-mail's local part), a
look-behind lets only the run's first character start one. A kind whose tell-tale character
(``@``, a digit, ``:``) the text lacks is not looked for. Phone numbers are looked for only in
runs of digits and phone punctuation that hold enough digits for a valid number, each run searched
to its end (libphonenumber's matcher otherwise stops silently after 65,535 tries). Overlaps are
resolved by bisection. How much text one request may have scanned is capped by the caller
(gateway/privacy/policy.py).
"""

from __future__ import annotations

import ipaddress
import re
import sys
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import phonenumbers
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumbermatcher import _LEAD_CLASS, _LEAD_CLASS_CHARS, _PUNCTUATION
from phonenumbers.phonenumberutil import _VALID_PUNCTUATION
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


# A match starts only where a run of local-part characters starts (the look-behind), so each run
# is read once: without it, a long run with no ``@`` is re-read from every position (quadratic).
# Bounds: a local part of at most 256 characters (RFC 5321 allows 64: the slack catches an
# address glued to other text), DNS labels of at most 63, at most 127 of them.
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,256}"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63}){0,126}\.[A-Za-z]{2,63}"
)
_EMAIL_HERE = re.compile(_EMAIL.pattern.removeprefix(r"(?<![A-Za-z0-9._%+-])"))
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
# Where libphonenumber's matcher may find a number: a run of its lead characters, digits and
# punctuation, continued by its extension syntax (``ext.``, ``x``, ``#``, ``доб``, ``;ext=``…,
# case-insensitive) wherever a digit follows. Every number the matcher finds lies inside one run
# (the separators around an extension word are bounded to 8 here: a longer gap only leaves the
# extension's digits out), so it needs to see only the runs. Each character of a run costs a
# bounded try, and nothing after the repetition can fail: linear in the text.
_SEPARATORS = "[ \u00a0\t,]{0,8}+"  # possessive: no extension word starts with a separator
_EXTENSION_WORD = (
    "(?:e?xt(?:ensi(?:o\u0301?|\u00f3))?n?|\uff45?\uff58\uff54\uff4e?|\u0434\u043e\u0431|anexo"
    "|[x\uff58#\uff03~\uff5e]|int|\uff49\uff4e\uff54)"
)
_EXTENSION = f"(?:;ext=|{_SEPARATORS}{_EXTENSION_WORD}[:.\uff0e]?[ \u00a0\t,-]{{0,8}})(?=\\d)"
_PHONE_RUN = re.compile(
    f"(?:{_LEAD_CLASS}{_PUNCTUATION}){{0,2}}\\d(?:{_EXTENSION}|[{_VALID_PUNCTUATION}\\d])*", re.IGNORECASE
)
_PHONE_LEAD = re.compile(f"[{_VALID_PUNCTUATION}{_LEAD_CLASS_CHARS}]", re.IGNORECASE)
_LEAD_SPAN = 10  # the matcher's lead: at most two brackets or plus signs, each with 4 punctuation
_DIGIT = re.compile(r"\d")


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _shortest(code: int | None, region: str | None) -> int:
    if region is not None:
        md = PhoneMetadata.metadata_for_region(region)
    else:
        md = PhoneMetadata.metadata_for_nongeo_region(code) if code is not None else None
    desc = md.general_desc if md else None
    lengths = [n for n in (desc.possible_length if desc else ()) or () if n > 0]
    return min(lengths, default=1)


@lru_cache(maxsize=1)
def _shortest_international() -> int:
    """The fewest digits of any valid number written with its country code, in any region."""
    geo = (
        len(str(code)) + _shortest(None, region)
        for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()
        for region in regions
        if region != "001"
    )
    nongeo = (len(str(c)) + _shortest(c, None) for c in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
    return min((*geo, *nongeo))


@lru_cache(maxsize=64)
def _fewest_phone_digits(region: str) -> int:
    """Fewer digits than this in a run can never be a valid number (national or international)."""
    national = _shortest(None, region) if PhoneMetadata.metadata_for_region(region) else sys.maxsize
    return min(national, _shortest_international())


def _phones(text: str, region: str) -> Iterator[Finding]:
    fewest = _fewest_phone_digits(region)
    leniency = phonenumbers.Leniency.VALID
    for run in _PHONE_RUN.finditer(text):
        if run.end() - run.start() < fewest or len(_DIGIT.findall(run.group())) < fewest:
            continue
        # A lead the run before left at its end ("… ( +1 415 …") belongs to this number too; and
        # the characters around it, since the matcher refuses a number touching a letter (after
        # an extension's closing "#", which the run leaves out: two on the right).
        lo = run.start()
        while lo > 0 and run.start() - lo < _LEAD_SPAN and _PHONE_LEAD.match(text, lo - 1, lo):
            lo -= 1
        lo, hi = max(lo - 1, 0), run.end() + 2
        window = text[lo:hi]
        for m in phonenumbers.PhoneNumberMatcher(window, region, leniency=leniency, max_tries=sys.maxsize):
            yield Finding("phone", lo + m.start, lo + m.end)


def _emails(text: str) -> Iterator[Finding]:
    """``_EMAIL``'s matches, plus those glued to the end of the one before (the look-behind
    would refuse to start there: ``a@b.io1c@d.io`` is two addresses)."""
    pos = 0
    while (m := _EMAIL.search(text, pos)) is not None:
        while m is not None:
            yield Finding("email", m.start(), m.end())
            pos = m.end()
            m = _EMAIL_HERE.match(text, pos)


def _candidates(text: str, region: str) -> Iterable[Finding]:
    # Each kind needs a character most prose lacks: one C-speed look for it skips the pattern.
    if "@" in text:
        yield from _emails(text)
    digits = _DIGIT.search(text) is not None
    if digits:
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
    ip_patterns = ([_IPV4] if digits else []) + ([_IPV6] if ":" in text else [])
    for pattern in ip_patterns:
        for m in pattern.finditer(text):
            if _is_ip(m.group()):
                yield Finding("ip", m.start(), m.end())
    if digits:
        yield from _phones(text, region)


def scan(text: str, *, region: str = "US") -> list[Finding]:
    """Non-overlapping findings in text order (``region``: how to read numbers without ``+CC``).

    Kind by kind, most specific first, a finding is kept unless it overlaps one already kept
    (found by bisection: thousands of findings cost n log n, not n²)."""
    by_kind: dict[str, list[Finding]] = {kind: [] for kind in PII_TYPES}
    for f in _candidates(text, region):
        by_kind[f.kind].append(f)
    chosen: list[Finding] = []
    for kind in PII_TYPES:
        starts, ends = [c.start for c in chosen], [c.end for c in chosen]
        kept: list[Finding] = []
        for f in sorted(by_kind[kind], key=lambda f: f.start):
            if kept and kept[-1].end > f.start:
                continue
            i = bisect_right(starts, f.start)
            if (i and ends[i - 1] > f.start) or (i < len(starts) and starts[i] < f.end):
                continue
            kept.append(f)
        if kept:
            chosen = sorted(chosen + kept, key=lambda f: f.start)
    return chosen


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
