"""Discovery with real mDNS packets between two network namespaces: a host
in namespace A, listings (`poker.py --list`, `--list --watch`) in B, like two
computers on one office LAN."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from conftest import Host, NetnsPair, Proc

TITLE = "Sprint 42"
HOST_NAME = "alice-laptop"
# What the README promises for `--list`: the answer within three seconds.
LIST_SECONDS = 3.0
# A host killed without a goodbye must leave a running listing within this.
DEAD_HOST_SECONDS = 15.0
# A running listing sees a new host within this (median measured: 1.2 s,
# the RFC 6762 probing of the new name).
NEW_HOST_SECONDS = 5.0


def _host_in_a(headless_host: Callable[..., Host], pair: NetnsPair) -> Host:
    """A headless host advertising TITLE from namespace A."""
    return headless_host(TITLE, "--host-name", HOST_NAME, netns=pair.a)


def _list_in_b(poker: Callable[..., Proc], pair: NetnsPair) -> tuple[list[str], float]:
    """Run `poker.py --list` in namespace B; its lines and how long it took."""
    listing = poker("--list", netns=pair.b, name="list")
    code = listing.wait(timeout=10)
    took = time.monotonic() - listing.started
    assert code == 0, listing.output()
    return listing.stdout_lines(), took


def _watch_in_b(poker: Callable[..., Proc], pair: NetnsPair) -> Proc:
    """A running `poker.py --list --watch` in namespace B."""
    return poker("--list", "--watch", "60", netns=pair.b, name="watch")


def _watch_then_host(
    poker: Callable[..., Proc], headless_host: Callable[..., Host], pair: NetnsPair
) -> tuple[Proc, Host]:
    """A watch in B that has already listed a new host in A."""
    watch = _watch_in_b(poker, pair)
    host = _host_in_a(headless_host, pair)
    watch.expect(r"^\+ " + TITLE, timeout=NEW_HOST_SECONDS + 5)
    return watch, host


def _game_line(host: Host) -> str:
    """The start of the line a listing prints for *host*."""
    return f"{TITLE}\t{HOST_NAME}\thttp://{host.address}:{host.port}/"


def test_list_shows_a_game_hosted_in_another_namespace(
    netns_pair: NetnsPair, headless_host, poker
) -> None:
    host = _host_in_a(headless_host, netns_pair)

    lines, _ = _list_in_b(poker, netns_pair)

    assert host.address == netns_pair.a.address
    assert [line for line in lines if line.startswith(_game_line(host))], lines


def test_a_long_title_in_cyrillic_is_advertised_whole(
    netns_pair: NetnsPair, headless_host, poker
) -> None:
    # 46 characters, 85 bytes of UTF-8: more than a DNS label's 63 bytes,
    # which once kept such a game off every listing.
    title = "Планирование спринта команды Альфа — квартал 4"
    headless_host(title, "--host-name", HOST_NAME, netns=netns_pair.a)

    lines, _ = _list_in_b(poker, netns_pair)

    assert [line for line in lines if line.startswith(f"{title}\t{HOST_NAME}")], lines


def test_listed_url_answers_from_the_other_namespace(
    netns_pair: NetnsPair, headless_host, poker
) -> None:
    _host_in_a(headless_host, netns_pair)
    lines, _ = _list_in_b(poker, netns_pair)
    url = lines[0].split("\t")[2]

    answer = netns_pair.b.check_output(
        [
            sys.executable,
            "-c",
            "import sys, urllib.request;"
            "print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())",
            url.split("?")[0] + "api/game?" + url.partition("?")[2],
        ]  # fmt: skip
    )

    assert json.loads(answer)["title"] == TITLE


def test_list_finishes_within_three_seconds(
    netns_pair: NetnsPair, headless_host, poker
) -> None:
    _host_in_a(headless_host, netns_pair)

    lines, took = _list_in_b(poker, netns_pair)

    print(f"--list took {took:.2f} s (process start to exit)")
    assert lines
    assert took < LIST_SECONDS


def test_list_with_no_game_prints_nothing_and_exits_0(
    netns_pair: NetnsPair, poker
) -> None:
    lines, took = _list_in_b(poker, netns_pair)

    assert lines == []
    assert took < LIST_SECONDS


def test_list_no_longer_shows_a_stopped_host(
    netns_pair: NetnsPair, headless_host, poker
) -> None:
    host = _host_in_a(headless_host, netns_pair)
    before, _ = _list_in_b(poker, netns_pair)

    assert host.stop() == 0
    after, _ = _list_in_b(poker, netns_pair)

    assert [line for line in before if line.startswith(_game_line(host))]
    assert not [line for line in after if TITLE in line], after


def test_watch_drops_a_stopped_host_at_once(
    netns_pair: NetnsPair, headless_host, poker
) -> None:
    # SIGTERM sends the mDNS goodbye (TTL 0), so no waiting for liveness.
    watch, host = _watch_then_host(poker, headless_host, netns_pair)

    stopped_at = time.monotonic()
    assert host.stop() == 0
    gone = watch.expect(r"^- " + TITLE, timeout=5)

    print(f"stopped host left the listing in {gone.at - stopped_at:.2f} s")
    assert gone.text.startswith("- " + _game_line(host))


def test_watch_drops_a_killed_host_within_15_seconds(
    netns_pair: NetnsPair, headless_host, poker
) -> None:
    watch, host = _watch_then_host(poker, headless_host, netns_pair)

    killed_at = time.monotonic()
    host.kill()
    gone = watch.expect(r"^- " + TITLE, timeout=DEAD_HOST_SECONDS)

    print(f"killed host left the listing in {gone.at - killed_at:.2f} s")
    assert gone.text.startswith("- " + _game_line(host))


def test_watch_started_first_sees_a_new_host_within_5_seconds(
    netns_pair: NetnsPair, headless_host, poker
) -> None:
    watch = _watch_in_b(poker, netns_pair)
    # Let the listing start browsing before the host exists (an import of
    # aiohttp and zeroconf takes well under this).
    time.sleep(1.5)
    host = _host_in_a(headless_host, netns_pair)
    hosting_at = host.lines[0][0]

    seen = watch.expect(r"^\+ " + TITLE, timeout=NEW_HOST_SECONDS + 5)

    print(f"new host seen {seen.at - hosting_at:.2f} s after it printed its URL")
    assert seen.text.startswith("+ " + _game_line(host))
    assert seen.at - hosting_at < NEW_HOST_SECONDS


def test_host_with_no_discovery_opens_no_mdns_socket(
    netns_pair: NetnsPair, headless_host
) -> None:
    # The fixtures run loopback-only hosts on this machine with this option,
    # trusting that it keeps them off mDNS (UDP port 5353) entirely.
    headless_host(TITLE, "--no-discovery", netns=netns_pair.a)
    # A host prints its URL first and starts mDNS right after (about 0.1 s
    # here): give it the time it would need.
    time.sleep(1.0)

    sockets = netns_pair.a.check_output(["ss", "-uanH"])

    assert ":5353" not in sockets, sockets
