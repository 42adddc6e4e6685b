"""A pytest plugin that says where a long run is: a header line per test file and tier, and one
line for each broker, worker or browser a test starts (issue 14: "a long integration tier prints
what it is starting").

Registered for the whole suite by tests/conftest.py. With pytest's usual output a run reads::

    == tests/integration/test_oracle.py (integration, embedded broker) ==
    tests/integration/test_oracle.py                                      [ 40%]
      started embedded broker on 127.0.0.1:40123 in 0.4 s
    tests/integration/test_oracle.py .                                    [ 41%]
      starting worker opel-oracle-kill
    tests/integration/test_oracle.py ..

Helpers call :func:`announce`; outside a pytest run (scripts) it does nothing. ``-q -q`` silences
it. The lines go through the terminal reporter with output capture suspended, so they are seen
as the test runs, not only in a failure's captured output.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator, Iterator
from typing import Any, Final

import pytest

TIER_BROKERS: Final = {"tansu": "embedded broker", "kafka": "Apache Kafka"}
"""``broker_kind`` (tests/integration/conftest.py) -> the words of the header."""
QUIET: Final = -2
"""``-q -q``: the verbosity at and below which nothing is written."""

_active: list[Progress] = []
"""The plugin of each pytest run in progress, innermost last (pytester runs one inside another)."""


def announce(what: str) -> None:
    """One line in pytest's output, between the progress dots: what a test is starting now."""
    if _active:
        _active[-1].announce(what)


def tier(item: pytest.Item) -> str:
    """The words of a test's tier: unit, or integration with the broker tier it runs on."""
    if item.get_closest_marker("integration") is None:
        return "unit"
    callspec = getattr(item, "callspec", None)
    broker = TIER_BROKERS.get(callspec.params.get("broker_kind", "")) if callspec is not None else None
    return f"integration, {broker}" if broker else "integration"


class Progress:
    """The plugin of one pytest run: headers at each change of file or tier, and announcements."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config
        self._headers: dict[str, str] = {}
        """nodeid -> the header of its file and tier."""
        self._shown = ""
        self._nodeid: str | None = None
        """The test being run (between its logstart and logfinish)."""
        self._path_width: int | None = None
        """Width of the reporter's line when it held only the file's path (no result letter yet)."""
        self._started = False

    # ------------------------------------------------------------------ hooks
    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        start = self._config.invocation_params.dir
        self._headers = {
            item.nodeid: f"== {os.path.relpath(item.path, start)} ({tier(item)}) ==" for item in session.items
        }

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logstart(self, nodeid: str) -> Generator[None]:
        # The header goes before the terminal reporter writes the file's path for this test.
        self._nodeid = nodeid
        header = self._headers.get(nodeid)
        if header is not None and header != self._shown:
            self._shown = header
            self._write(header, reopen=False)
        reporter = self._reporter()
        before = getattr(reporter, "currentfspath", None)
        result = yield
        if reporter is not None and reporter.currentfspath != before:
            self._note_path_line(reporter)
        return result

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logfinish(self) -> None:
        self._nodeid = None

    def pytest_unconfigure(self) -> None:
        with contextlib.suppress(ValueError):
            _active.remove(self)

    # ------------------------------------------------------------------ writing
    def announce(self, what: str) -> None:
        self._write(f"  {what}", reopen=True)

    def _write(self, text: str, *, reopen: bool) -> None:
        """Write ``text`` as a line of its own, keeping the reporter's lines as pytest writes them:
        a line of result letters gets its progress figure first, and (``reopen``, within a test)
        the next letters go on a new line after the file's path, as after any file change."""
        reporter = self._reporter()
        if reporter is None:
            return
        with self._uncaptured():
            try:
                self._between_results(reporter, text, reopen=reopen)
            except AttributeError:  # a pytest whose reporter works otherwise: a plain line
                reporter.write_line(text)
            reporter.flush()

    def _reporter(self) -> Any:
        """The terminal reporter, or None when there is none or nothing is to be written."""
        if self._config.get_verbosity() <= QUIET:
            return None
        return self._config.pluginmanager.get_plugin("terminalreporter")

    def _note_path_line(self, reporter: Any) -> None:
        """The reporter has just begun a line with a file's path: remember its width, so that a
        line with no result letters yet gets no progress figure."""
        self._path_width = getattr(getattr(reporter, "_tw", None), "width_of_current_line", None)

    def _between_results(self, reporter: Any, text: str, *, reopen: bool) -> None:
        # The reporter's own lines start with a newline and stay open for the results that follow
        # (pytest's default and -v output); with -q its letters are written wherever it stands.
        writer = reporter._tw
        default_output = reporter.showfspath and not reporter.showlongtestinfo
        letters = not reporter.showlongtestinfo and writer.width_of_current_line not in (0, self._path_width)
        if letters and reporter._show_progress_info and (reporter.currentfspath or not default_output):
            reporter._write_progress_information_filling_space()  # as pytest does at a file change
        if writer.width_of_current_line:
            writer.line()
        elif not self._started and reporter.showfspath:
            writer.line()  # the blank line pytest leaves after "collected N items"
        self._started = True
        writer.write(text)
        if reporter.showlongtestinfo:
            reporter.currentfspath = text  # not the test's line: the reporter starts that one anew
        else:
            reporter.currentfspath = None
        if not default_output:
            if not reporter.showlongtestinfo:
                writer.line()
            return
        if reopen and self._nodeid is not None:
            reporter.write_fspath_result(self._nodeid, "")
            self._note_path_line(reporter)

    @contextlib.contextmanager
    def _uncaptured(self) -> Iterator[None]:
        capture = self._config.pluginmanager.get_plugin("capturemanager")
        if capture is None:
            yield
            return
        with capture.global_and_fixture_disabled():
            yield


def pytest_configure(config: pytest.Config) -> None:
    plugin = Progress(config)
    config.pluginmanager.register(plugin, "opel-progress")
    _active.append(plugin)
