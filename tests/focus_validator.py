"""Running the FinOps Foundation's ``focus-validator`` (PyPI) on a FOCUS CSV, for the tests.

Why not just ``import focus_validator``: its every release needs Python >= 3.12 while the project
venv is 3.11 (the pinned dbt/Dagster stack), and it pins ``numpy<2`` while the ``pyarrow`` it
installs needs ``numpy>=2`` (STACK.md trap 17) — so it cannot live in the project's resolver. It
is listed in the ``dev`` extra for Python >= 3.12 only, and here it runs from a venv of its own:
``$FOCUS_VALIDATOR`` (the executable), else ``focus-validator`` on ``PATH``, else a venv built
once from the package registry with ``python3.12`` under ``~/.cache/onevault/`` (validator, then
``numpy>=2`` in a second step, as pip cannot resolve both at once). No Python 3.12: the caller
skips, saying why.

Offline it must run with ``--block-download`` (it would fetch rule sets from GitHub) and from its
``site-packages`` directory (it opens ``focus_validator/rules/currency_codes.csv`` relative to
the working directory). Its exit code is 0 even when rules fail, so the per-rule lines
(``✅ <rule>: PASS``, ``❌ <rule>: FAIL``) and the summary line are what count.

One rule is reported failed on every file that has an InvoiceId, whatever it holds: the
nullability composite ``InvoiceId-C-003-C`` is an OR of ``C-004-C`` ("MUST be null when the charge
is on no invoice") and ``C-005-C`` ("MUST NOT be null when it is on one"), the condition (on an
invoice or not) is not encoded, and the branch that does not apply is listed as a failure while
the composite — the actual requirement — passes. So a failure counts unless it is a branch of an
OR composite that passed (``FocusReport.unexcused``); the excused ones are reported too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

VERSION = "2.2.1"
FOCUS_VERSION = "1.2"  # the rule set bundled with 2.2.1 (model-1.2.0.1.json); 1.3 is not in it
_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
_VENV = _CACHE / "onevault" / f"focus-validator-{VERSION}"
_SUMMARY = re.compile(r"Total: (\d+) \| Pass: (\d+) \| Fail: (\d+) \| Skipped: (\d+)")
_RULE = re.compile(r"^\S+ (\S+): (PASS|FAIL|SKIPPED)\b", re.MULTILINE)


@dataclass(frozen=True)
class FocusReport:
    total: int
    passed: int
    failed: int
    skipped: int
    output: str
    failed_rules: tuple[str, ...] = ()
    excused: tuple[str, ...] = ()  # failed branches of an OR composite that passed

    @property
    def unexcused(self) -> tuple[str, ...]:
        return tuple(r for r in self.failed_rules if r not in self.excused)


def _python312() -> str | None:
    for candidate in ("python3.12", str(Path.home() / ".pyenv/versions/3.12.1/bin/python3.12")):
        found = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if found:
            probe = subprocess.run(
                [found, "-c", "import sys; print(sys.version_info >= (3, 12))"],
                capture_output=True,
                text=True,
                env={**os.environ, "PYENV_VERSION": "3.12.1"},
            )
            if probe.stdout.strip() == "True":
                return found
    return None


def validator_executable() -> Path:
    """The focus-validator to run, building its venv on first use (or skip the test)."""
    if os.environ.get("FOCUS_VALIDATOR"):
        return Path(os.environ["FOCUS_VALIDATOR"])
    on_path = shutil.which("focus-validator")
    if on_path:
        return Path(on_path)
    exe = _VENV / "bin" / "focus-validator"
    if exe.is_file():
        return exe
    python = _python312()
    if python is None:
        pytest.skip("focus-validator needs Python >= 3.12 and none is installed here")
    env = {**os.environ, "PYENV_VERSION": "3.12.1"}
    subprocess.run([python, "-m", "venv", str(_VENV)], check=True, env=env)
    pip = [str(_VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, f"focus-validator=={VERSION}"], check=True, timeout=600)
    subprocess.run([*pip, "numpy>=2"], check=True, timeout=600)  # pyarrow's need over the pin
    return exe


def validate_focus(path: Path, version: str = FOCUS_VERSION) -> FocusReport:
    exe = validator_executable()
    site = next((exe.parent.parent / "lib").glob("python3*/site-packages"))
    done = subprocess.run(
        [
            str(exe),
            "--data-file",
            str(path.resolve()),
            "--validate-version",
            version,
            "--block-download",
            "--focus-dataset",
            "CostAndUsage",
            "--show-violations",
        ],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    match = _SUMMARY.search(output)
    assert match, f"focus-validator printed no summary (exit {done.returncode}):\n{output[-4000:]}"
    total, passed, failed, skipped = (int(g) for g in match.groups())
    outcome = dict(_RULE.findall(output))
    failed_rules = tuple(sorted(r for r, o in outcome.items() if o == "FAIL"))
    excused: set[str] = set()
    for rules_file in (site / "focus_validator" / "rules").glob("model-*.json"):
        for rule_id, rule in json.loads(rules_file.read_text())["ModelRules"].items():
            requirement = rule.get("ValidationCriteria", {}).get("Requirement", {})
            if requirement.get("CheckFunction") == "OR" and outcome.get(rule_id) == "PASS":
                excused |= {i["ModelRuleId"] for i in requirement.get("Items", []) if "ModelRuleId" in i}
    return FocusReport(
        total, passed, failed, skipped, output, failed_rules, tuple(r for r in failed_rules if r in excused)
    )
