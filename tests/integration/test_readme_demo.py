"""README's "Make a change from the API", its three shell blocks run by bash as written, against a
real `opel run --demo` that this test starts (issue 14's acceptance: "the README API example passes
as a test against the demo").

Step 1 runs in a temporary folder that, to the README's lines, looks like the checkout after
`make run`: the Makefile, pyproject.toml and a ``.venv/bin`` holding this checkout's ``opel`` and
make's mark that ``.venv`` is installed. So ``.opel-data`` (the token file, the demo's data) is not
the developer's own, and make never installs into the venv the suite runs from (``make -n`` must
show that it would run nothing but ``.venv/bin/opel run --demo``).

The demo listens on 127.0.0.1:8080 as README says: where that port is taken the test skips, unless
``README_DEMO_PORT`` names another port, which the demo then gets as ``OPEL_WEB_PORT`` and the
steps' URLs get in place of 8080 (the README text needs neither).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pytest
from support.progress import announce
from support.readme import REPO, exported, readme_section, shell_blocks

from streams.broker import LOOPBACK
from streams.settings import Settings

pytestmark = pytest.mark.slow

BROKER_TIERS = ()  # `opel run` starts its own embedded broker: the suite's broker tiers do not apply


@pytest.fixture(autouse=True)
def broker_kind() -> str:
    """Overrides the tiers of conftest.py for this module."""
    return "tansu"


README_PORT: Final = 8080
PORT_VARIABLE: Final = "README_DEMO_PORT"
START_LINE: Final = ". .opel-data/api-token.env && make run ARGS=--demo"
MAKE_RUN: Final = "make run ARGS=--demo"
OPEL_RUN_DEMO: Final = ".venv/bin/opel run --demo"
READY_TIMEOUT: Final = 120.0
"""The embedded broker, the worker and its web server, on 2 shared cores."""
LEVEL_TIMEOUT: Final = 60.0
"""README: "within a few seconds"; generous, as the demo day is being played meanwhile."""
READY: Final = re.compile(r"^opel is running: broker (\S+); board (\S+) ;", re.MULTILINE)
# Ctrl-C first (what README says stops it), then what a person would try next.
STOP_SIGNALS: Final = ((signal.SIGINT, 30.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0))
# Variables of an enclosing `make test`: the inner make must start as it does from a terminal.
MAKE_VARIABLES: Final = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
# Prints the HTTP status on a line of its own after the body; every README argument passes unchanged.
CURL_STATUS: Final = "curl() { command curl -w '\\n%{http_code}\\n' \"$@\"; }\n"


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the web server binds (aiohttp sets SO_REUSEADDR): a closed socket in TIME_WAIT is no owner.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def accepts(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def demo_port() -> int:
    chosen = os.environ.get(PORT_VARIABLE, "").strip()
    port = int(chosen) if chosen else README_PORT
    if not port_free(port):
        pytest.skip(
            f"127.0.0.1:{port} is taken, and README's demo listens on 127.0.0.1:{README_PORT}: stop what "
            f"holds it, or set {PORT_VARIABLE} to a free port to run the README's steps there"
        )
    return port


@dataclass
class Checkout:
    """The temporary folder step 1 runs in, and the environment of a fresh terminal there."""

    path: Path
    env: dict[str, str]
    port: int

    def block(self, text: str) -> str:
        """A README block as run: as written, but for the port when README_DEMO_PORT moved it."""
        return text.replace(f"127.0.0.1:{README_PORT}", f"127.0.0.1:{self.port}")

    def bash(self, script: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.run("bash", "-euc", script, timeout=timeout)

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    venv = REPO / ".venv"
    if not (venv / "bin" / "opel").exists():
        pytest.skip(f"{venv}/bin/opel is missing: README's steps run after `make run` or `make test`")
    if shutil.which("curl") is None:
        pytest.skip("curl is missing (apt-get install -y curl): README's steps 2 and 3 use it")
    gnu_date = subprocess.run(["date", "-u", "-d", "+4 hours"], capture_output=True, check=False)
    if gnu_date.returncode != 0:
        pytest.skip("README's step 2 works out the expiry with GNU date's -d; this date has none")
    port = demo_port()
    (tmp_path / "pyproject.toml").symlink_to(REPO / "pyproject.toml")
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "opel").symlink_to(venv / "bin" / "opel")  # its #! line names this venv's python
    (bin_dir / ".installed").touch()  # newer than pyproject.toml: make does not install again
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith("OPEL_") and name not in MAKE_VARIABLES
    }
    if port != README_PORT:
        env["OPEL_WEB_PORT"] = str(port)
    return Checkout(tmp_path, env, port)


def start_line(checkout: Checkout, line: str) -> str:
    """Step 1's second line as it is run: as written, once ``make -n`` shows what make will run."""
    make = shutil.which("make")
    if make is None:  # pytest run without make: what the Makefile's run target runs
        recipe = "\nrun: $(BIN)/.installed\n\t$(BIN)/opel run $(ARGS)\n"
        assert recipe in (REPO / "Makefile").read_text(encoding="utf-8")
        return line.replace(MAKE_RUN, OPEL_RUN_DEMO)
    dry = checkout.run(make, "-n", "run", "ARGS=--demo")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [OPEL_RUN_DEMO], f"`{MAKE_RUN}` would run:\n{dry.stdout}"
    return line


def stop_group(process: subprocess.Popen[bytes]) -> str:
    """Stop the demo's process group; the name of the signal that ended it ('' if it had ended)."""
    for sig, patience in STOP_SIGNALS:
        if not group_alive(process):
            return "" if sig == signal.SIGINT else signal.Signals(sig).name
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        deadline = time.monotonic() + patience
        while group_alive(process) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not group_alive(process):
            return signal.Signals(sig).name
    return "nothing"


def group_alive(process: subprocess.Popen[bytes]) -> bool:
    process.poll()  # reap bash, the group's leader, so that its exit is seen
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def demo(checkout: Checkout, line: str) -> Iterator[tuple[str, str]]:
    """Run step 1's second line in its own process group; yield (broker, board) from its ready line.

    Stopped in any case as a person stops it, Ctrl-C (SIGINT to the foreground group), then
    SIGTERM, then SIGKILL; a demo that Ctrl-C did not stop within 30 s fails the test.
    """
    out, err = checkout.path / "demo.out", checkout.path / "demo.err"
    announce(f"starting the demo: {line}")
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            ["bash", "-euc", line],
            cwd=checkout.path,
            env=checkout.env,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    ended_by = ""
    broker = ""
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not (ready := READY.search(out.read_text(encoding="utf-8", errors="replace"))):
            if process.poll() is not None:
                if "address already in use" in err.read_text(encoding="utf-8", errors="replace"):
                    pytest.skip(f"127.0.0.1:{checkout.port} was taken while the demo started: {tail(err, 5)}")
                pytest.fail(f"the demo exited with status {process.returncode}:\n{tail(err)}")
            assert time.monotonic() < deadline, f"the demo not ready in {READY_TIMEOUT} s:\n{tail(err)}"
            time.sleep(0.2)
        broker = ready.group(1)
        yield broker, ready.group(2)
    finally:
        ended_by = stop_group(process)
    assert ended_by == "SIGINT", f"Ctrl-C did not stop the demo; {ended_by or 'nothing'} did:\n{tail(err)}"
    assert "Traceback" not in err.read_text(encoding="utf-8", errors="replace"), tail(err, 80)
    assert port_free(checkout.port), "the web server's port is still held after the demo stopped"
    assert not accepts(broker), f"the embedded broker on {broker} still answers after the demo stopped"


def test_the_readme_api_example_against_the_demo(checkout: Checkout) -> None:
    steps = shell_blocks(readme_section("Make a change from the API"))
    assert len(steps) == 3, steps
    make_token, start_demo = steps[0].rstrip("\n").split("\n")
    assert start_demo == START_LINE
    assert Settings.model_fields["web_port"].default == README_PORT  # the port README's URLs name

    # Step 1: the token, then the demo started with it.
    made = checkout.bash(make_token, timeout=120)
    assert made.returncode == 0, made.stderr
    variable, _ = exported(
        (checkout.path / ".opel-data" / "api-token.env").read_text(encoding="utf-8").strip()
    )
    assert variable == "OPEL_API_TOKEN_ESCALATION_GROUP"

    with demo(checkout, start_line(checkout, start_demo)) as (_, board):
        assert board == f"http://127.0.0.1:{checkout.port}/"

        # Step 2: the override, posted by curl from a second terminal.
        posted = checkout.bash(CURL_STATUS + checkout.block(steps[1]))
        assert posted.returncode == 0, posted.stderr
        body, _, status = posted.stdout.rstrip("\n").rpartition("\n")
        assert status == "202", posted.stdout
        command: dict[str, Any] = json.loads(body)
        assert command["id"].startswith("ovr-"), command
        assert (command["type"], command["scope"], command["level"]) == ("override", "area/east_kent", 4)
        assert command["author"] == "escalation-group"
        at = datetime.fromisoformat(command["at"])
        assert abs(datetime.now(UTC) - at) < timedelta(minutes=1), command
        assert datetime.fromisoformat(command["expires_at"]) - at > timedelta(hours=3, minutes=59)

        # Step 3: East Kent's status, read by curl until the override is in force.
        look = checkout.block(steps[2])
        deadline = time.monotonic() + LEVEL_TIMEOUT
        while True:
            read = checkout.bash(look)
            assert read.returncode == 0, read.stderr
            with contextlib.suppress(ValueError):
                east_kent: dict[str, Any] = json.loads(read.stdout)
                if east_kent.get("override") and east_kent["override"]["id"] == command["id"]:
                    break
            assert time.monotonic() < deadline, f"no override in {LEVEL_TIMEOUT} s: {read.stdout}"
            time.sleep(1)

    assert east_kent["scope"] == "area/east_kent"
    assert (east_kent["level"], east_kent["colour"]) == (4, "black")
    assert east_kent["override"]["level"] == 4
    assert east_kent["override"]["author"] == "escalation-group"
    # Beside the override, what the demo's data gives (README: "with your override beside the
    # computed_level the data gives").
    assert east_kent["computed_level"] in (1, 2, 3, 4), east_kent
