"""Shared fixtures: network namespaces, a virtual display, a real browser and
the app itself, started as a subprocess.

Rules these fixtures keep for every test:

- mDNS is never multicast in the machine's own network namespace. A process
  that discovers (a host, ``--list``, the window) runs inside a namespace made
  here (``netns``, ``netns_pair``); a host in the machine's namespace always
  gets ``--no-discovery``; and zeroconf refuses to start inside the test
  process itself.
- Whatever a fixture starts it ends by PID, and whatever it creates it
  deletes, in its finalizer. Every wait is bounded.
- A test that cannot run here (no root, no Xvfb, no Chromium) is skipped with
  the reason; under CI (``CI=true``) it fails instead, and any skip at all
  fails the session.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import re
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

ROOT = Path(__file__).resolve().parent.parent
POKER = ROOT / "poker.py"
CHROMIUM = "/usr/bin/chromium"
# No sandbox: CI runs as root, where Chromium's sandbox refuses to start. The
# rest keeps the browser from calling home, which the request guard below
# would otherwise report (and which fails with no internet anyway).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Each namespace pair gets 10.231.N.0/24; the namespaces are isolated from
# each other and from the machine, so N may repeat across parallel runs.
SUBNET = "10.231.{n}.0/24"
# Options of poker.py that neither advertise nor browse.
QUIET_OPTIONS = ("--no-discovery", "--version", "--help", "-h")

# test_infra.py runs our hooks on a suite of its own.
pytest_plugins = ["pytester"]


# --- CI: nothing skips --------------------------------------------------------


def in_ci() -> bool:
    """True when running under CI (``CI=true``), where no test may skip."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def need(condition: object, reason: str) -> None:
    """Skip the test with *reason* unless *condition* holds; fail under CI."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"CI cannot run this test: {reason}", pytrace=False)
    pytest.skip(reason)


def need_root() -> None:
    """Require what network namespaces need: root and the `ip` command."""
    need(os.geteuid() == 0, "network namespaces need root (run as root or in CI)")
    need(shutil.which("ip"), "the `ip` command is missing (Debian package iproute2)")


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember real skips (an xfail is reported as skipped too: not those)."""
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Under CI, say loudly that skips fail the run."""
    if in_ci() and _skipped:
        terminalreporter.write_sep(
            "=",
            f"CI: {len(_skipped)} test(s) skipped; nothing may skip in CI",
            red=True,
        )
        for nodeid in _skipped:
            terminalreporter.write_line(f"skipped: {nodeid}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI, a skipped test turns a green session red."""
    if in_ci() and _skipped and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# Markers follow from the fixtures a test uses, so that
# `-m "not netns and not xvfb and not browser and not package"` runs what
# needs no root, no display, no browser and no PyInstaller build.
_MARKER_FIXTURES = {
    "netns": {"netns", "netns_pair"},
    "xvfb": {"xvfb_display"},
    "browser": {"chromium", "browser", "strict_page"},
    "package": {"packaged_app"},
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by the kind of machinery its fixtures start."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in _MARKER_FIXTURES.items():
            if used & fixtures:
                item.add_marker(marker)


# --- no mDNS inside the test process -----------------------------------------


@pytest.fixture(autouse=True, scope="session")
def _no_mdns_in_test_process() -> Iterator[None]:
    """Make zeroconf refuse to start in pytest's own network namespace."""
    try:
        import zeroconf
    except ImportError:
        yield
        return
    original = zeroconf.Zeroconf.__init__

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(
            "zeroconf was started inside the test process, which would multicast "
            "on this machine's network; start poker.py inside a namespace "
            "(fixtures netns, netns_pair) instead"
        )

    zeroconf.Zeroconf.__init__ = refuse  # type: ignore[method-assign]
    yield
    zeroconf.Zeroconf.__init__ = original  # type: ignore[method-assign]


# --- ports --------------------------------------------------------------------


def pick_free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A function returning a free TCP port on 127.0.0.1 at each call."""
    return pick_free_port


# --- processes ----------------------------------------------------------------


def stop_process(proc: subprocess.Popen[Any], timeout: float = 5.0) -> int:
    """SIGTERM *proc* (by PID), wait up to *timeout*, then SIGKILL it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait(timeout)


@dataclasses.dataclass
class Line:
    """One line of a process's stdout, when it came, and what matched in it."""

    text: str
    at: float  # time.monotonic() when the line was read
    match: re.Match[str]


class Proc:
    """A process a test started, its stdout read line by line in a thread."""

    def __init__(self, proc: subprocess.Popen[str], name: str, stderr: Path) -> None:
        self.proc = proc
        self.name = name
        self.stderr_path = stderr
        self.started = time.monotonic()
        self.lines: list[tuple[float, str]] = []
        self._cursor = 0
        self._eof = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(
            target=self._read, name=f"stdout of {name}", daemon=True
        )
        self._reader.start()

    def _read(self) -> None:
        """Collect stdout lines until the process closes it."""
        assert self.proc.stdout is not None
        for text in self.proc.stdout:
            with self._changed:
                self.lines.append((time.monotonic(), text.rstrip("\n")))
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        """The PID of the process (not of a wrapper: `ip netns exec` execs)."""
        return self.proc.pid

    def expect(self, pattern: str, timeout: float = 10.0) -> Line:
        """Wait for the next stdout line that matches *pattern* (re.search)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index in range(self._cursor, len(self.lines)):
                    at, text = self.lines[index]
                    if match := regex.search(text):
                        self._cursor = index + 1
                        return Line(text, at, match)
                self._cursor = len(self.lines)
                if self._eof:
                    code = self.proc.wait(5)
                    pytest.fail(
                        f"{self.name} exited ({code}) without printing a line "
                        f"matching {pattern!r}\n{self.output()}",
                        pytrace=False,
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(
                        f"{self.name} printed no line matching {pattern!r} within "
                        f"{timeout:g} s\n{self.output()}",
                        pytrace=False,
                    )
                self._changed.wait(left)

    def wait(self, timeout: float = 10.0) -> int:
        """Wait for the process to exit by itself; fail the test on timeout."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"{self.name} still runs after {timeout:g} s\n{self.output()}",
                pytrace=False,
            )
        self._reader.join(5)
        return code

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM, wait up to *timeout*, SIGKILL if needed; the exit code."""
        code = stop_process(self.proc, timeout)
        self._reader.join(5)
        return code

    def kill(self) -> int:
        """SIGKILL the process (no goodbye of any kind); the exit code."""
        if self.proc.poll() is None:
            self.proc.kill()
        code = self.proc.wait(5)
        self._reader.join(5)
        return code

    def stdout_lines(self) -> list[str]:
        """Every stdout line read so far."""
        with self._changed:
            return [text for _, text in self.lines]

    def output(self) -> str:
        """Stdout so far and the end of stderr, for failure messages."""
        try:
            err = self.stderr_path.read_text(errors="replace")[-4000:]
        except OSError:
            err = ""
        out = "\n".join(self.stdout_lines())[-4000:]
        return f"--- stdout of {self.name}\n{out}\n--- stderr of {self.name}\n{err}"


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    """Start `spawn(argv, netns=None, name=None, env=None, cls=Proc)` -> Proc;
    all stopped by PID at the end."""
    procs: list[Proc] = []
    counter = itertools.count(1)

    def start(
        argv: Sequence[str],
        *,
        netns: Netns | None = None,
        name: str | None = None,
        env: dict[str, str] | None = None,
        cls: type[Proc] = Proc,
    ) -> Proc:
        """Start *argv* with piped stdout, inside *netns* if given."""
        label = name or Path(argv[0]).name
        stderr = tmp_path / f"stderr-{next(counter)}-{label}.txt"
        with stderr.open("w") as err:
            kwargs: dict[str, Any] = dict(
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                bufsize=1,
                cwd=ROOT,
                env=env,
            )
            if netns is None:
                popen = subprocess.Popen(list(argv), **kwargs)
            else:
                popen = netns.run(list(argv), **kwargs)
        proc = cls(popen, f"{label} (pid {popen.pid})", stderr)
        procs.append(proc)
        return proc

    yield start
    for proc in reversed(procs):
        proc.stop()
        if proc.proc.stdout is not None:
            proc.proc.stdout.close()
        # Shown by pytest only when the test failed.
        print(proc.output())


@pytest.fixture
def poker(spawn: Callable[..., Proc], tmp_path: Path) -> Callable[..., Proc]:
    """Start `poker(*args, netns=None)`: poker.py with sys.executable -> Proc."""
    # Without --data-dir the app keeps settings and logs under the user's
    # home: point every such place into the test's own folder.
    home = tmp_path / "home"
    env = dict(os.environ, HOME=str(home))
    for name in ("DATA", "STATE", "CONFIG", "CACHE"):
        env[f"XDG_{name}_HOME"] = str(home / name.lower())
        (home / name.lower()).mkdir(parents=True)

    def start(*args: str, netns: Netns | None = None, **kwargs: Any) -> Proc:
        """Run poker.py; refuse discovery in the machine's own namespace."""
        need(POKER.exists(), f"{POKER.name} does not exist yet")
        if netns is None and not set(args) & set(QUIET_OPTIONS):
            pytest.fail(
                f"poker.py {' '.join(args)} would use mDNS on this machine's "
                "network: pass netns= or --no-discovery",
                pytrace=False,
            )
        argv = [sys.executable, str(POKER), *args]
        kwargs["env"] = {**env, **kwargs.get("env", {})}
        kwargs.setdefault("name", "poker.py")
        return spawn(argv, netns=netns, **kwargs)

    return start


class Host(Proc):
    """A running `poker.py --headless`: its join URL, PID, data dir."""

    url: str
    port: int
    data_dir: Path
    netns: Netns | None

    @property
    def address(self) -> str:
        """The IP address in the join URL."""
        return URL(self.url).host or ""


@pytest.fixture
def headless_host(poker: Callable[..., Proc], tmp_path: Path) -> Callable[..., Host]:
    """Start `headless_host(title, *args, netns=None, port=None,
    data_dir=None)` -> Host once it printed its join URL (title None: none,
    as `--resume` wants)."""
    counter = itertools.count(1)

    def start(
        title: str | None = "Planning",
        *args: str,
        netns: Netns | None = None,
        port: int | None = None,
        data_dir: Path | None = None,
        timeout: float = 20.0,
    ) -> Host:
        """Start a host; in the machine's namespace it never uses mDNS."""
        n = next(counter)
        port = port or pick_free_port()
        data_dir = data_dir or tmp_path / f"host-{n}"
        # No title for a resumed game: it keeps its own.
        argv = ["--headless", "--data-dir", str(data_dir)]
        argv += ["--title", title] if title is not None else []
        argv += ["--port", str(port), *args]
        if netns is None and "--no-discovery" not in args:
            # In the machine's own namespace: loopback only, and no mDNS.
            argv += ["--no-discovery", "--bind", "127.0.0.1"]
        proc = poker(*argv, netns=netns, name=f"host-{n}", cls=Host)
        line = proc.expect(r"http://[^ ]+/", timeout)
        proc.url = line.match.group(0)
        proc.port = port
        proc.data_dir = data_dir
        proc.netns = netns
        return proc

    return start


# --- network namespaces -------------------------------------------------------


_ns_counter = itertools.count(1)


def ip(*args: str) -> str:
    """Run `ip ARGS`; its stdout, or a test failure quoting its stderr."""
    done = subprocess.run(
        ["ip", *args], capture_output=True, text=True, timeout=10, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"ip {' '.join(args)}: {done.stderr.strip()}", pytrace=False)
    return done.stdout


@dataclasses.dataclass
class Netns:
    """One network namespace: its name, its address, what runs inside it."""

    name: str
    address: str = "127.0.0.1"
    interface: str = "lo"
    procs: list[subprocess.Popen[Any]] = dataclasses.field(default_factory=list)

    def run(self, argv: Sequence[str], **popen_kwargs: Any) -> subprocess.Popen[Any]:
        """Start *argv* inside this namespace (`ip netns exec`); a Popen."""
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.name, *argv], **popen_kwargs
        )
        self.procs.append(proc)
        return proc

    def check_output(self, argv: Sequence[str], timeout: float = 10.0) -> str:
        """Run *argv* inside this namespace to the end; its stdout."""
        return subprocess.run(
            ["ip", "netns", "exec", self.name, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        ).stdout


@dataclasses.dataclass
class NetnsPair:
    """Two namespaces joined by a veth pair, like two computers on one LAN."""

    a: Netns
    b: Netns
    subnet: str

    @property
    def names(self) -> tuple[str, str]:
        """The names of both namespaces."""
        return self.a.name, self.b.name

    @property
    def addresses(self) -> tuple[str, str]:
        """The addresses of both namespaces on the shared link."""
        return self.a.address, self.b.address

    def run(
        self, ns: Netns | str, argv: Sequence[str], **popen_kwargs: Any
    ) -> subprocess.Popen[Any]:
        """Start *argv* inside *ns* (a Netns, or "a", "b", or a name)."""
        if isinstance(ns, str):
            ns = {"a": self.a, "b": self.b, self.a.name: self.a, self.b.name: self.b}[
                ns
            ]
        return ns.run(argv, **popen_kwargs)


class _Namespaces:
    """Creates namespaces and deletes them, with what runs inside, at close."""

    def __init__(self) -> None:
        self.made: list[Netns] = []

    def add(self, name: str) -> Netns:
        """Create a namespace with `lo` up and able to multicast."""
        ip("netns", "add", name)
        ns = Netns(name)
        self.made.append(ns)
        ip("-n", name, "link", "set", "lo", "multicast", "on", "up")
        return ns

    def close(self) -> None:
        """End the processes started inside (by PID), delete the namespaces."""
        for ns in self.made:
            for proc in ns.procs:
                stop_process(proc)
        for ns in self.made:
            subprocess.run(
                ["ip", "netns", "del", ns.name],
                capture_output=True,
                timeout=10,
                check=False,
            )


def _wait_link_up(ns: Netns, timeout: float = 5.0) -> None:
    """Wait until the veth end in *ns* has carrier (both ends are up)."""
    deadline = time.monotonic() + timeout
    while "LOWER_UP" not in ip("-n", ns.name, "link", "show", ns.interface):
        if time.monotonic() > deadline:
            pytest.fail(f"{ns.interface} in {ns.name} is not up after {timeout} s")
        time.sleep(0.05)


@contextlib.contextmanager
def make_netns() -> Iterator[Netns]:
    """A namespace with only loopback; deleted, with what runs inside, after."""
    spaces = _Namespaces()
    try:
        yield spaces.add(f"pp{os.getpid()}n{next(_ns_counter)}")
    finally:
        spaces.close()


@contextlib.contextmanager
def make_netns_pair() -> Iterator[NetnsPair]:
    """Two namespaces on one veth link; deleted, with what runs inside, after."""
    n = next(_ns_counter)
    subnet = SUBNET.format(n=n % 254 + 1)
    prefix = subnet.rsplit(".", 1)[0]
    spaces = _Namespaces()
    try:
        a = spaces.add(f"pp{os.getpid()}n{n}a")
        b = spaces.add(f"pp{os.getpid()}n{n}b")
        a.interface, b.interface = "veth-a", "veth-b"
        a.address, b.address = f"{prefix}.1", f"{prefix}.2"
        # Created straight inside the namespaces: the link never exists in
        # the machine's own namespace, not even for a moment.
        ip("link", "add", a.interface, "netns", a.name, "type", "veth",
           "peer", "name", b.interface, "netns", b.name)  # fmt: skip
        for ns in (a, b):
            ip("-n", ns.name, "addr", "add", f"{ns.address}/24", "dev", ns.interface)
            ip("-n", ns.name, "link", "set", ns.interface, "multicast", "on", "up")
        for ns in (a, b):
            _wait_link_up(ns)
        yield NetnsPair(a, b, subnet)
    finally:
        spaces.close()


@pytest.fixture
def netns() -> Iterator[Netns]:
    """One network namespace with only loopback (up, multicast on)."""
    need_root()
    with make_netns() as ns:
        yield ns


@pytest.fixture
def netns_pair() -> Iterator[NetnsPair]:
    """Namespaces .a and .b joined by veth, 10.231.N.1/24 and .2/24."""
    need_root()
    with make_netns_pair() as pair:
        yield pair


# --- virtual display ----------------------------------------------------------


def x11_accepts(display: str, timeout: float = 2.0) -> bool:
    """True if the X server of *display* (":N") completes a connection setup."""
    number = display.lstrip(":").split(".")[0]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(f"/tmp/.X11-unix/X{number}")
            # Connection setup, X11 protocol chapter 8: little-endian byte
            # order, protocol 11.0, no authorization.
            sock.sendall(struct.pack("<BxHHHHxx", 0x6C, 11, 0, 0, 0))
            return sock.recv(8)[:1] == b"\x01"  # 1 = Success
    except OSError:
        return False


@contextlib.contextmanager
def xvfb_server(log: Path) -> Iterator[str]:
    """Run an Xvfb, 1280x800x24, until the block ends; its DISPLAY (":99").

    Raises RuntimeError, quoting *log*, when it does not start.
    """
    # -displayfd: Xvfb picks a free display number itself and writes it to
    # the pipe once it accepts connections, so no race with other servers.
    read_end, write_end = os.pipe()
    with log.open("w") as err:
        proc = subprocess.Popen(
            [
                "Xvfb",
                "-displayfd",
                str(write_end),
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ],  # fmt: skip
            pass_fds=(write_end,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    os.close(write_end)
    try:
        number = b""
        deadline = time.monotonic() + 15
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([read_end], [], [], 0.5)
            if ready:
                chunk = os.read(read_end, 16)
                if not chunk:
                    break
                number += chunk
        display = f":{number.decode().strip()}"
        if not number.strip() or not x11_accepts(display):
            raise RuntimeError(f"Xvfb did not start:\n{log.read_text()}")
        yield display
    finally:
        os.close(read_end)
        stop_process(proc)


@pytest.fixture(scope="session")
def xvfb_display(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running Xvfb, 1280x800x24; its DISPLAY string, e.g. ":99"."""
    need(shutil.which("Xvfb"), "Xvfb is not installed (Debian package xvfb)")
    try:
        with xvfb_server(tmp_path_factory.mktemp("xvfb") / "xvfb.log") as display:
            yield display
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


# --- a real browser -----------------------------------------------------------
#
# Async Playwright: tests run on pytest-asyncio's loop next to pytest-aiohttp's
# servers and clients, which the sync API cannot share a thread with. The
# browser is per test (about half a second to launch), so no event loop has
# to outlive a test.


@pytest.fixture
async def chromium(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Launch Debian's Chromium: `await chromium(netns=None)` -> Browser."""
    need(os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing (Debian: chromium)")
    from playwright.async_api import Browser, async_playwright

    async with async_playwright() as playwright:
        browsers: list[Browser] = []

        async def launch(netns: Netns | None = None) -> Browser:
            """Start Chromium, inside *netns* if given."""
            executable = CHROMIUM
            if netns is not None:
                # Playwright talks to the browser over a pipe, which
                # `ip netns exec` keeps, so a wrapper puts it in the namespace.
                wrapper = tmp_path / f"chromium-in-{netns.name}"
                wrapper.write_text(
                    f'#!/bin/sh\nexec ip netns exec {netns.name} {CHROMIUM} "$@"\n'
                )
                wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
                executable = str(wrapper)
            browser = await playwright.chromium.launch(
                executable_path=executable, args=CHROMIUM_ARGS, timeout=30_000
            )
            browsers.append(browser)
            return browser

        yield launch
        for browser in browsers:
            await browser.close()


@pytest.fixture
async def browser(chromium: Callable[..., Any]) -> Any:
    """A Playwright Browser: Chromium in the machine's own namespace."""
    return await chromium()


def _endpoint(url: str) -> tuple[str, int | None]:
    """Host and port of a URL, so that http:// and ws:// compare equal."""
    parsed = URL(url)
    port = parsed.port
    if parsed.scheme in ("ws", "wss"):
        port = parsed.explicit_port or (443 if parsed.scheme == "wss" else 80)
    return (parsed.host or "", port)


class PageGuard:
    """Opens pages that report console errors, uncaught exceptions and any
    request to an address other than the allowed ones."""

    LOCAL_SCHEMES = ("data", "blob", "about")

    def __init__(self, chromium: Callable[..., Any]) -> None:
        self._chromium = chromium
        self._contexts: list[Any] = []
        self.problems: list[str] = []

    async def __call__(self, *allowed_urls: str, browser: Any = None) -> Any:
        """A new Page (own context) that may reach only *allowed_urls*' hosts."""
        if browser is None:
            browser = await self._chromium()
        allowed = {_endpoint(url) for url in allowed_urls}
        context = await browser.new_context()
        self._contexts.append(context)

        async def gate(route: Any) -> None:
            """Let requests to the allowed hosts through, refuse the rest."""
            url = route.request.url
            if URL(url).scheme in self.LOCAL_SCHEMES or _endpoint(url) in allowed:
                await route.continue_()
            else:
                self.problems.append(f"request to another address: {url}")
                await route.abort("blockedbyclient")

        def watch_page(page: Any) -> None:
            """Websockets are not routed: check each one as it opens."""
            page.on(
                "websocket",
                lambda ws: (
                    _endpoint(ws.url) in allowed
                    or self.problems.append(f"websocket to another address: {ws.url}")
                ),
            )

        await context.route("**/*", gate)
        context.on(
            "console",
            lambda msg: (
                msg.type == "error"
                and self.problems.append(f"console error: {msg.text} ({msg.location})")
            ),
        )
        context.on(
            "weberror", lambda err: self.problems.append(f"uncaught: {err.error}")
        )
        context.on("page", watch_page)
        return await context.new_page()

    def check(self) -> None:
        """Fail the test if any page did what it must not."""
        if self.problems:
            problems, self.problems = self.problems, []
            pytest.fail("the page misbehaved:\n" + "\n".join(problems), pytrace=False)

    async def close(self) -> None:
        """Close the contexts (and their pages)."""
        for context in self._contexts:
            await context.close()


@pytest.fixture
async def strict_page(chromium: Callable[..., Any]) -> AsyncIterator[PageGuard]:
    """`await strict_page(*allowed_urls, browser=None)` -> Page that fails the
    test on console errors or requests elsewhere; `.check()` asserts now."""
    guard = PageGuard(chromium)
    yield guard
    await guard.close()
    guard.check()
