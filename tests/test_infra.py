"""Self-tests of the fixtures in conftest.py: each real part they start works,
and CI turns skips into failures."""

from __future__ import annotations

import sys
import textwrap

import pytest
from aiohttp import web

from conftest import ROOT, Netns, NetnsPair, ip, make_netns_pair, need_root, x11_accepts

# A group outside mDNS's 224.0.0.251, so this check cannot look like mDNS.
GROUP, GROUP_PORT = "239.255.42.42", 42424

RECEIVE = textwrap.dedent(
    """
    import socket, struct, sys
    group, port, address = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("", port))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                    socket.inet_aton(group) + socket.inet_aton(address))
    sock.settimeout(10)
    print("ready", flush=True)
    data, sender = sock.recvfrom(100)
    print(data.decode(), sender[0], flush=True)
    """
)

SEND = textwrap.dedent(
    """
    import socket, sys, time
    group, port, address = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                    socket.inet_aton(address))
    for _ in range(20):
        sock.sendto(b"hello", (group, port))
        time.sleep(0.1)
    """
)

SERVE_ONCE = textwrap.dedent(
    """
    import socket, sys
    server = socket.create_server((sys.argv[1], int(sys.argv[2])))
    server.settimeout(10)
    print("listening", flush=True)
    conn, peer = server.accept()
    conn.sendall(peer[0].encode())
    conn.close()
    """
)


def test_netns_pair_reach_each_other_over_tcp(netns_pair: NetnsPair, spawn) -> None:
    server = spawn(
        [sys.executable, "-c", SERVE_ONCE, netns_pair.a.address, "9000"],
        netns=netns_pair.a,
    )
    server.expect("listening")

    peer = netns_pair.b.check_output(
        [
            sys.executable,
            "-c",
            "import socket, sys;"
            "s = socket.create_connection((sys.argv[1], 9000), timeout=5);"
            "print(s.recv(100).decode())",
            netns_pair.a.address,
        ]  # fmt: skip
    )

    assert peer.strip() == netns_pair.b.address


def test_netns_pair_links_have_multicast_on(netns_pair: NetnsPair) -> None:
    for ns in (netns_pair.a, netns_pair.b):
        link = ns.check_output(["ip", "link", "show", ns.interface])

        assert "MULTICAST" in link
        assert "LOWER_UP" in link


def test_netns_pair_carries_multicast(netns_pair: NetnsPair, spawn) -> None:
    a, b = netns_pair.a, netns_pair.b
    receiver = spawn(
        [sys.executable, "-c", RECEIVE, GROUP, str(GROUP_PORT), b.address], netns=b
    )
    receiver.expect("ready")

    spawn([sys.executable, "-c", SEND, GROUP, str(GROUP_PORT), a.address], netns=a)

    assert receiver.expect("hello", timeout=5).text == f"hello {a.address}"


def test_netns_is_not_the_machines_namespace(netns: Netns) -> None:
    links = netns.check_output(["ip", "-o", "link", "show"]).splitlines()

    assert len(links) == 1
    assert ": lo:" in links[0]


@pytest.mark.netns
def test_netns_pair_and_its_processes_are_gone_after_use() -> None:
    need_root()
    with make_netns_pair() as pair:
        sleeper = pair.run("a", ["sleep", "60"])

    assert sleeper.poll() is not None
    assert not set(pair.names) & set(ip("netns", "list").split())


def test_xvfb_display_accepts_x11_connections(xvfb_display: str) -> None:
    assert x11_accepts(xvfb_display)


def test_free_port_can_be_bound(free_port) -> None:
    import socket

    port = free_port()

    with socket.create_server(("127.0.0.1", port)):
        pass


def test_discovery_is_refused_in_the_test_process() -> None:
    import zeroconf

    with pytest.raises(RuntimeError, match="namespace"):
        zeroconf.Zeroconf(interfaces=["127.0.0.1"])


def test_poker_refuses_discovery_outside_a_namespace(poker) -> None:
    with pytest.raises(pytest.fail.Exception, match="mDNS"):
        poker("--list")


async def _visit(aiohttp_server, strict_page, body: str):
    """Serve *body* at / on 127.0.0.1 and open it in a guarded page."""

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", index)
    url = str((await aiohttp_server(app)).make_url("/"))
    page = await strict_page(url)
    await page.goto(url)
    return page


async def test_chromium_opens_a_local_page(aiohttp_server, strict_page) -> None:
    page = await _visit(aiohttp_server, strict_page, "<title>hello</title><p>hi")

    assert await page.title() == "hello"
    strict_page.check()


async def test_strict_page_reports_console_errors(aiohttp_server, strict_page) -> None:
    await _visit(aiohttp_server, strict_page, "<script>console.error('boom')</script>")

    assert any("boom" in problem for problem in strict_page.problems)
    strict_page.problems.clear()


async def test_strict_page_blocks_other_addresses(aiohttp_server, strict_page) -> None:
    page = await _visit(
        aiohttp_server,
        strict_page,
        "<img src='http://192.0.2.1/x.png'>"
        "<script>new WebSocket('ws://192.0.2.1/ws')</script>",
    )
    await page.wait_for_timeout(200)

    assert any("request to another" in p for p in strict_page.problems)
    assert any("websocket to another" in p for p in strict_page.problems)
    strict_page.problems.clear()


async def test_chromium_in_a_namespace_reaches_the_other_one(
    netns_pair: NetnsPair, spawn, chromium, strict_page, tmp_path
) -> None:
    (tmp_path / "index.html").write_text("<title>from a</title>")
    server = spawn(
        [
            sys.executable,
            "-u",
            "-m",
            "http.server",
            "8000",
            "--bind",
            netns_pair.a.address,
            "--directory",
            str(tmp_path),
        ],  # fmt: skip
        netns=netns_pair.a,
    )
    server.expect("Serving HTTP")
    url = f"http://{netns_pair.a.address}:8000/"
    page = await strict_page(url, browser=await chromium(netns_pair.b))

    await page.goto(url)

    assert await page.title() == "from a"
    strict_page.check()


# --- CI turns skips into failures ---------------------------------------------

SKIPPING_TESTS = textwrap.dedent(
    """
    import pytest
    from conftest import need

    def test_needs_a_thing():
        need(False, "no such thing here")

    def test_skips():
        pytest.skip("just because")

    @pytest.mark.xfail(reason="a known bug", strict=True)
    def test_known_bug():
        assert False
    """
)


@pytest.fixture
def skipping_suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A suite with our conftest and tests that skip."""
    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text())
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\nasyncio_mode = "auto"\n'
        'asyncio_default_fixture_loop_scope = "function"\n'
    )
    pytester.makepyfile(test_skipping=SKIPPING_TESTS)
    return pytester


@pytest.mark.parametrize(
    ("ci", "exit_code", "outcomes"),
    [
        # On a user's machine a test that cannot run skips, saying why.
        ("", 0, {"skipped": 2, "xfailed": 1}),
        # In CI `need` fails, and a plain skip fails the session.
        ("true", 1, {"failed": 1, "skipped": 1, "xfailed": 1}),
    ],
)
def test_skips_fail_only_under_ci(
    skipping_suite: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    ci: str,
    exit_code: int,
    outcomes: dict[str, int],
) -> None:
    monkeypatch.setenv("CI", ci)

    result = skipping_suite.runpytest_subprocess("-p", "no:cacheprovider", "-rs")

    assert result.ret == exit_code
    result.assert_outcomes(**outcomes)
