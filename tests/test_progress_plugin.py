"""tests/support/progress.py: a header per file and tier, one line per thing a test starts, in
pytest's own output (issue 14: "pytest shows which file/tier is running; a long integration tier
prints what it is starting")."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

SUPPORT = Path(__file__).resolve().parent

CONFTEST = """
import pytest

pytest_plugins = ["support.progress"]


def pytest_configure(config):
    config.addinivalue_line("markers", "integration: needs a broker")
"""

UNIT = """
def test_a():
    pass


def test_b():
    pass
"""

# Like tests/integration: marked integration, a session-scoped broker_kind per tier, a broker
# fixture that says what it started; the test's own output stays captured.
TIERED = """
import pytest

from support.progress import announce

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session", params=["tansu", "kafka"])
def broker_kind(request):
    return request.param


@pytest.fixture
def broker(broker_kind):
    announce(f"started embedded broker for {broker_kind}")
    return broker_kind


def test_one(broker):
    print("the test's own output")


def test_two(broker):
    announce("starting worker opel-two")
"""

TANSU, KAFKA, UNIT_HEADER = (
    "== test_tiered.py (integration, embedded broker) ==",
    "== test_tiered.py (integration, Apache Kafka) ==",
    "== test_unit.py (unit) ==",
)
HEADERS = [TANSU, KAFKA, UNIT_HEADER]  # the session-scoped tiers come first, as pytest orders them
RESULTS = r"test_tiered\.py \. +\[ *\d+%\]"


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_unit=UNIT, test_tiered=TIERED)
    return pytester


def run(suite: pytest.Pytester, *args: str) -> list[str]:
    # Plain, as in CI: no colour codes.
    result = suite.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", "--color=no", *args)
    assert result.ret == pytest.ExitCode.OK, result.outlines
    if "-q" not in args:
        result.assert_outcomes(passed=6)  # the summary line still found where pytest writes it
    return [line.rstrip() for line in result.outlines]


def between(lines: list[str], first: str, last: str) -> list[str]:
    return lines[lines.index(first) : lines.index(last) + 1]


def test_default_output_has_a_header_per_file_and_tier_and_each_start(suite: pytest.Pytester) -> None:
    lines = run(suite)
    assert [line for line in lines if line.startswith("== ")] == HEADERS
    # Each line said as the test starts it; the file's results go on after it on a new line, and
    # a line of results still ends with pytest's progress figure when a header or a start follows.
    tansu = between(lines, TANSU, KAFKA)
    assert tansu[:3] == [TANSU, "test_tiered.py", "  started embedded broker for tansu"]
    assert re.fullmatch(RESULTS, tansu[3]), tansu[3]
    assert tansu[4:7] == [
        "  started embedded broker for tansu",
        "test_tiered.py",
        "  starting worker opel-two",
    ]
    assert re.fullmatch(RESULTS, tansu[7]), tansu[7]
    assert tansu[8:] == [KAFKA]
    assert lines.count("  started embedded broker for kafka") == 2
    after_header = lines[lines.index(UNIT_HEADER) + 1]
    assert re.fullmatch(r"test_unit\.py \.\. +\[100%\]", after_header), after_header
    assert not any("the test's own output" in line for line in lines), "captured output leaked"


def test_quiet_output_keeps_the_lines_apart_from_the_dots(suite: pytest.Pytester) -> None:
    lines = run(suite, "-q")
    assert [line for line in lines if line.startswith("== ")] == HEADERS
    tansu = between(lines, TANSU, KAFKA)
    assert tansu == [
        TANSU,
        "  started embedded broker for tansu",
        tansu[2],
        "  started embedded broker for tansu",
        "  starting worker opel-two",
        tansu[5],
        KAFKA,
    ]
    assert [tansu[2].split()[0], tansu[5].split()[0]] == [".", "."]  # one result each, after its start
    assert re.fullmatch(r"\.\. +\[100%\]", lines[lines.index(UNIT_HEADER) + 1])


def test_verbose_output_keeps_each_test_on_its_own_line(suite: pytest.Pytester) -> None:
    lines = run(suite, "-v")
    assert [line for line in lines if line.startswith("== ")] == HEADERS
    for tier in ("tansu", "kafka"):
        for name in ("test_one", "test_two"):
            test = f"test_tiered.py::{name}[{tier}]"
            *started, done = [i for i, line in enumerate(lines) if line.startswith(test)]
            # The result on the test's own line, written again after what the test started.
            assert re.fullmatch(rf"{re.escape(test)} PASSED +\[ *\d+%\]", lines[done]), lines[done]
            assert [lines[i] for i in started] == [test], lines
            said = lines[started[0] + 1 : done]
            assert said[0] == f"  started embedded broker for {tier}"
            assert said[1:] == (["  starting worker opel-two"] if name == "test_two" else [])


def test_q_q_is_quiet(suite: pytest.Pytester) -> None:
    lines = run(suite, "-q", "-q")
    assert not any(line.startswith("== ") or line.startswith("  start") for line in lines), lines


def test_outside_pytest_announce_does_nothing() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from support.progress import announce; announce('starting nothing')"],
        env={**os.environ, "PYTHONPATH": str(SUPPORT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
