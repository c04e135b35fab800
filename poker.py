"""Planning poker for teams that sit together: peer-hosted, on the office LAN.

One teammate hosts a game from the desktop app (or ``--headless`` on any
machine); the app holds the game in an embedded aiohttp websocket server,
stores it in SQLite so nothing is lost, and advertises it over mDNS/DNS-SD.
Teammates' apps list the games found on the network and join with one click;
anyone else joins from a browser by URL or QR code. No internet, no account.

Run it::

    python poker.py                          # the desktop app (lobby window)
    python poker.py --headless --title "Sprint 42"   # host with no window
    python poker.py --list                   # games found on this network

The sections below stand in dependency order: constants, errors, the game
rules (pure, no I/O), storage, the host server and its protocol, discovery,
the desktop window, and the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import errno
import hashlib
import html
import io
import ipaddress
import json
import logging
import logging.handlers
import math
import os
import re
import secrets
import signal
import socket
import sqlite3
import statistics
import sys
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:
    from aiohttp import WSCloseCode, WSMsgType, web

__version__ = "1.0.0"

#: Bumped when a message changes shape; sent in ``welcome`` and in TXT.
PROTOCOL_VERSION = 1

#: DNS-SD service type. RFC 6763 section 7.2: at most 15 characters.
SERVICE_TYPE = "_planpoker._tcp.local."

APP_NAME = "Planning Poker"
APP_SLUG = "planning-poker"

#: Where the HTML, CSS and JS live, in a checkout or inside a PyInstaller
#: bundle (which unpacks to ``sys._MEIPASS``).
ASSETS_DIR = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parent)) / "assets"

DECKS: dict[str, tuple[str, ...]] = {
    "fibonacci": (
        "0",
        "1",
        "2",
        "3",
        "5",
        "8",
        "13",
        "21",
        "34",
        "55",
        "89",
        "?",
        "☕",
    ),
    "modified": ("0", "½", "1", "2", "3", "5", "8", "13", "20", "40", "100", "?", "☕"),
    "tshirt": ("XS", "S", "M", "L", "XL", "XXL", "?"),
    "powers": ("0", "1", "2", "4", "8", "16", "32", "64", "?"),
}
DEFAULT_DECK = "fibonacci"
#: Cards that say "I cannot estimate this": all alike is no consensus.
NO_ESTIMATE_CARDS = frozenset({"?", "☕"})
#: The title of a game nobody named.
DEFAULT_TITLE = "Planning poker"
#: The deck the facilitator types; its cards live in the game, not here.
CUSTOM_DECK = "custom"
MIN_CUSTOM_CARDS, MAX_CUSTOM_CARDS = 2, 20
#: A card shows at most this many characters, counted as people see them
#: (see ``visible_length``); the code points behind them are capped too, so
#: a pile of combining marks cannot make one "character" a kilobyte.
MAX_CARD_CHARS = 8
MAX_CARD_CODEPOINTS = 32

MAX_NAME = 40
#: Seconds a facilitator must be away before someone may take the table.
CLAIM_AFTER = 30
#: Seats at one table. Past it, a newcomer takes the seat away the longest.
MAX_SEATS = 1000
MAX_TITLE = 80
MAX_STORY = 500
MAX_KEY = 200
MAX_DESCRIPTION = 2000
MAX_ESTIMATE = 20
#: Stories in one backlog; a 5,000-row export fits whole.
MAX_BACKLOG = 5000
#: Largest CSV file the host reads for an import (HTTP body, in bytes).
MAX_IMPORT = 4 * 1024 * 1024
MIN_TIMER, MAX_TIMER = 5, 3600
MAX_PASSCODE = 64
MAX_FRAME = 64 * 1024
#: Seconds of silence after which the host pings a socket; a socket that
#: does not answer within half of it is closed and its seat shown as away.
HEARTBEAT = 10.0
#: Seconds a seat may stay away before the host gives it up (the
#: facilitator can change it per game; 0 keeps away seats for ever).
AWAY_TIMEOUT = 600
AWAY_TIMEOUT_MIN = 30
AWAY_TIMEOUT_MAX = 7 * 24 * 3600
#: Open sockets a host accepts in all, and from one address: enough for an
#: office on one headless host (1,000 players across 100 games), few enough
#: that a runaway script cannot exhaust it.
MAX_SOCKETS = 2000
MAX_SOCKETS_PER_ADDRESS = 20
#: A wrong passcode is answered after a delay that doubles with each wrong
#: guess from the same address, up to the maximum.
PASSCODE_DELAY_FIRST = 0.5
PASSCODE_DELAY_MAX = 8.0
#: A client may send this many messages in a burst, refilled per second.
RATE_BURST = 40
RATE_PER_SECOND = 20.0
#: Outgoing frames queued for one client before it counts as too slow and is
#: dropped (it resyncs on reconnect): a frozen client never holds others up.
SEND_QUEUE = 512
#: Bytes waiting in a socket's own write buffer past which its client counts
#: as behind: its frames then queue instead of being written at once.
WRITE_BEHIND = 64 * 1024
#: How often the queue of a client that is behind looks for room (seconds).
DRAIN_POLL = 0.05
#: Seconds between liveness checks of games listed from mDNS. A host killed
#: without a goodbye stays in mDNS caches for an hour (RFC 6762 section 10
#: TTLs, raised by python-zeroconf), so the listing asks the host itself.
PROBE_INTERVAL = 2.0
PROBE_TIMEOUT = 1.5
#: A headless host holds many games; one with nobody connected for this many
#: seconds is unloaded (it stays stored, and comes back when someone joins).
#: ``--idle-unload`` overrides it.
IDLE_UNLOAD = 600.0
#: Games one host keeps in memory at once; loading one more is refused, so a
#: flood of "New game" clicks cannot take the machine's memory.
MAX_LOADED_GAMES = 1000
#: New games one address may make on a headless host: a burst, then one a
#: minute.
CREATE_BURST = 20
CREATE_PER_SECOND = 1 / 60
#: Stored games the headless host's list page shows, the latest first.
GAMES_LISTED = 100
#: Seconds between checkpoints of the database's write-ahead log. SQLite's
#: own (every 1,000 pages) would run inside a commit, on the event loop, and
#: hold a broadcast up by 4-5 ms; ours runs on a thread, off the loop.
CHECKPOINT_EVERY = 5.0

log = logging.getLogger("poker")


# ---------------------------------------------------------------- errors


class PokerError(Exception):
    """Base of the app's own errors: the message is a sentence for people."""


class Refused(PokerError):
    """A player's request broke a rule; nothing changed.

    ``delay`` holds the answer back that many seconds (wrong passcodes).
    """

    def __init__(self, code: str, message: str, delay: float = 0.0) -> None:
        super().__init__(message)
        self.code = code
        self.delay = delay


class StorageError(PokerError):
    """The game database could not be read or written."""


class ImportProblem(PokerError):
    """A file to import is unreadable; ``line`` says where (0: the file)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


class NoDisplayError(PokerError):
    """The desktop window cannot open on this machine."""


class WebView2Missing(NoDisplayError):
    """Windows lacks the Edge WebView2 runtime the window draws with."""


# ---------------------------------------------------------------- protocol


class Msg:
    """Message types of the websocket protocol (mirrored in protocol.js)."""

    # Client to host.
    JOIN = "join"
    VOTE = "vote"
    REVEAL = "reveal"
    NEW_ROUND = "new_round"
    SET_STORY = "set_story"
    SET_DECK = "set_deck"
    SET_ROLE = "set_role"
    SET_AUTO_REVEAL = "set_auto_reveal"
    REMOVE = "remove"
    PASS_FACILITATOR = "pass_facilitator"
    CLAIM_FACILITATOR = "claim_facilitator"
    ESTIMATE = "estimate"
    NEXT_STORY = "next_story"
    STORY_ADD = "story_add"
    STORY_EDIT = "story_edit"
    STORY_MOVE = "story_move"
    STORY_REMOVE = "story_remove"
    STORY_SKIP = "story_skip"
    START_TIMER = "start_timer"
    STOP_TIMER = "stop_timer"
    SET_AWAY_TIMEOUT = "set_away_timeout"
    PING = "ping"
    # Host to client.
    WELCOME = "welcome"
    STATE = "state"
    SEAT = "seat"
    YOU = "you"
    BACKLOG = "backlog"
    ERROR = "error"
    REMOVED = "removed"
    GOODBYE = "goodbye"
    PONG = "pong"


VOTER, OBSERVER = "voter", "observer"
ROLES = (VOTER, OBSERVER)


def parse_json(raw: str) -> Any:
    """Parse JSON text, refusing strings that are not valid Unicode.

    JSON can spell a lone surrogate (``"\\ud800"``). Python keeps it in a
    str, but UTF-8, SQLite and every other player's socket refuse it: one
    such name would break each later save and broadcast of its game. Raises
    ValueError (UnicodeError for a surrogate).
    """
    value = json.loads(raw)
    if "\\u" in raw:  # only an escape can make a lone surrogate
        json.dumps(value, ensure_ascii=False).encode()
    return value


# ---------------------------------------------------------------- game rules


#: Bidirectional embeddings, overrides and isolates (Unicode UAX #9): one
#: left open in a name would reverse the text after it on other screens.
#: Right-to-left letters themselves are kept.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


#: Invisible format characters that only serve to make two texts look alike
#: ("1" and "1" with a zero-width space) or to hide one: zero-width space,
#: word joiner and the invisible math operators, byte order mark, soft
#: hyphen, the left-to-right, right-to-left and Arabic letter marks, the
#: Mongolian vowel separator. The zero-width joiner stays: emoji need it.
INVISIBLE = frozenset(
    "\u200b\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u200e\u200f\u061c\u180e"
)
#: Combining marks kept on one letter: enough for any script's accents, not
#: for "zalgo" text whose marks pile up over the rows above and below.
MAX_MARKS = 4


def visible_chars(text: str) -> str:
    """Drop bidi controls, invisible characters and piled-up accents."""
    kept: list[str] = []
    marks = 0
    for ch in text:
        if ch in BIDI_CONTROLS or ch in INVISIBLE:
            continue
        if unicodedata.category(ch) in ("Mn", "Me"):
            marks += 1
            if marks > MAX_MARKS:
                continue
        else:
            marks = 0
        kept.append(ch)
    return "".join(kept)


def clean_text(value: Any, what: str, limit: int, *, empty_ok: bool = False) -> str:
    """Return ``value`` as tidy one-paragraph text, or refuse it."""
    if not isinstance(value, str):
        raise Refused("bad_message", f"The {what} must be text.")
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        raise Refused("bad_message", f"The {what} is not valid Unicode text.")
    # Control characters would corrupt the layout of every other player's
    # screen; line breaks are allowed only where they carry meaning.
    text = "".join(
        " " if unicodedata.category(ch) == "Cc" and ch != "\n" else ch
        for ch in visible_chars(value)
    ).strip()
    if not text and not empty_ok:
        raise Refused("bad_message", f"The {what} cannot be empty.")
    if len(text) > limit:
        raise Refused(
            "bad_message", f"The {what} is too long (at most {limit} characters)."
        )
    return text


def hash_passcode(salt: str, passcode: str) -> str:
    """The stored form of a passcode: SHA-256 of salt and passcode."""
    return hashlib.sha256(f"{salt}:{passcode}".encode()).hexdigest()


#: A card counts as a number when it is written as people write estimates:
#: digits, maybe a decimal part ("0.5", "1,5"). Not "1e308", "1_0" or "inf":
#: Python would read those, and a mean of two 1e308 cards overflows.
NUMERIC_CARD = re.compile(r"[0-9]{1,6}(?:[.,][0-9]{1,3})?")


def card_value(card: str) -> float | None:
    """Return the number a card stands for, or None for ?, coffee, sizes."""
    if card == "½":
        return 0.5
    if not NUMERIC_CARD.fullmatch(card):
        return None
    return float(card.replace(",", "."))


def one_line(value: Any, what: str, limit: int, *, empty_ok: bool = False) -> str:
    """Return ``value`` as text on one line (runs of blanks made one space)."""
    text = " ".join(clean_text(value, what, 10 * limit, empty_ok=empty_ok).split())
    if len(text) > limit:
        raise Refused(
            "bad_message", f"The {what} is too long (at most {limit} characters)."
        )
    return text


#: Code points that never start a character of their own: they join the one
#: before (variation selectors, skin tones, emoji tags; combining marks are
#: found by category).
_EXTENDERS = ((0xFE00, 0xFE0F), (0x1F3FB, 0x1F3FF), (0xE0020, 0xE007F))
_ZWJ = "\u200d"


def visible_length(text: str) -> int:
    """Count the characters of ``text`` as people see them, near enough.

    Not the whole of Unicode's rules (UAX #29) but what card labels need: a
    combining mark, a variation selector, a skin tone, an emoji tag, a
    zero-width joiner and the code point after it add nothing, and two
    regional indicators make one flag. So "👩🏽‍💻", "🇫🇷", "é" (e and a
    combining accent), "½" and "∞" each count as one.
    """
    count = 0
    joined = False
    flag_open = False
    for ch in text:
        cp = ord(ch)
        if ch == _ZWJ:
            joined = True
            continue
        if 0x1F1E6 <= cp <= 0x1F1FF:  # regional indicators pair into flags
            flag_open = not flag_open
            if not flag_open:
                continue
        else:
            flag_open = False
        extends = unicodedata.category(ch) in ("Mn", "Me", "Mc") or any(
            low <= cp <= high for low, high in _EXTENDERS
        )
        if joined or extends:
            joined = False
            continue
        count += 1
    return count


def check_custom_deck(cards: Any) -> tuple[str, ...]:
    """Return the facilitator's typed cards, tidied, or refuse them."""
    if not isinstance(cards, list) or not all(isinstance(c, str) for c in cards):
        raise Refused("bad_deck", "A custom deck is a list of cards, each one text.")
    if any("\ud800" <= ch <= "\udfff" for c in cards for ch in c):
        raise Refused("bad_deck", "A card is not valid Unicode text.")
    tidy = [
        unicodedata.normalize("NFC", " ".join(visible_chars(c).split())) for c in cards
    ]
    tidy = [c for c in tidy if c]
    if not MIN_CUSTOM_CARDS <= len(tidy) <= MAX_CUSTOM_CARDS:
        raise Refused(
            "bad_deck",
            f"A custom deck has {MIN_CUSTOM_CARDS} to {MAX_CUSTOM_CARDS} cards; "
            f"this one has {len(tidy)}.",
        )
    if any(visible_length(card) == 0 for card in tidy):
        raise Refused("bad_deck", "A card must show something: one of them is blank.")
    seen: dict[str, str] = {}
    for card in tidy:
        if any(unicodedata.category(ch) == "Cc" for ch in card):
            raise Refused("bad_deck", "A card cannot hold control characters.")
        if visible_length(card) > MAX_CARD_CHARS or len(card) > MAX_CARD_CODEPOINTS:
            raise Refused(
                "bad_deck",
                f"The card {card!r} is too long: a card shows at most "
                f"{MAX_CARD_CHARS} characters.",
            )
        folded = card.casefold()
        if folded in seen:
            raise Refused(
                "bad_deck",
                f"The card {card!r} is in the deck twice; each card must differ.",
            )
        seen[folded] = card
    return tuple(tidy)


def round_number(value: float) -> float | int:
    """Round a statistic for display: whole numbers stay whole."""
    value = round(value, 2)
    return int(value) if value == int(value) else value


def _card_number(card: str | None) -> float | int | None:
    value = card_value(card) if card is not None else None
    return None if value is None else round_number(value)


def plural(count: int, one: str, many: str) -> str:
    """Say "1 vote" or "3 votes"."""
    return f"{count} {one if count == 1 else many}"


def summarize(cards: list[str], deck: Iterable[str]) -> dict[str, Any]:
    """Return the statistics of a revealed round."""
    numbers = [v for v in (card_value(c) for c in cards) if v is not None]
    counts = {card: cards.count(card) for card in deck if card in cards}
    top = max(counts.values(), default=0)
    result: dict[str, Any] = {
        "count": len(cards),
        "numeric": len(numbers),
        "mean": None,
        "median": None,
        "low": None,
        "high": None,
        "mode": [card for card, n in counts.items() if n == top and top],
        "distribution": [[card, n] for card, n in counts.items()],
        # Everyone unsure, or everyone wanting a break, is no agreement.
        "consensus": len(counts) == 1
        and len(cards) > 1
        and cards[0] not in NO_ESTIMATE_CARDS,
    }
    if numbers:
        result["mean"] = round_number(statistics.fmean(numbers))
        result["median"] = round_number(statistics.median(numbers))
        result["low"] = round_number(min(numbers))
        result["high"] = round_number(max(numbers))
    return result


def round_summary(record: dict[str, Any]) -> dict[str, Any]:
    """Return one stored round as the results table shows it."""
    votes = list(record["votes"].values())
    cards = record.get("cards") or DECKS.get(record["deck"], ())
    stats = summarize([card for _, card in votes], cards)
    return {
        "round": record["round"],
        "story": record["story"],
        "storyId": record.get("storyId"),
        "key": record.get("key", ""),
        "final": record.get("final"),
        "started": record["started"],
        "revealed": record["revealed"],
        "votes": votes,
        "mean": stats["mean"],
        "median": stats["median"],
        "consensus": stats["consensus"],
    }


@dataclass
class Seat:
    """One player's place at the table; it outlives their connection."""

    id: str
    token: str
    name: str
    role: str = VOTER
    connected: bool = False
    vote: str | None = None
    joined: float = field(default_factory=time.time)
    #: When its player went away (epoch seconds); None while connected.
    away_since: float | None = None

    def public(self, revealed: bool) -> dict[str, Any]:
        """Return what every player may see of this seat."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "connected": self.connected,
            "awaySince": self.away_since,
            "voted": self.vote is not None,
            "vote": self.vote if revealed else None,
        }


@dataclass
class Story:
    """One item of the backlog: what the team estimates, and the result."""

    id: str
    title: str
    key: str = ""
    description: str = ""
    estimate: str | None = None
    skipped: bool = False

    def public(self) -> dict[str, Any]:
        """Return the story as every player sees it."""
        return {
            "id": self.id,
            "title": self.title,
            "key": self.key,
            "description": self.description,
            "estimate": self.estimate,
            "skipped": self.skipped,
        }


@dataclass
class Change:
    """What a rule changed, so storage and broadcast touch only that."""

    game: bool = False
    seats: set[str] = field(default_factory=set)
    revealed: bool = False
    #: Seats taken away from the table, with the reason their player is told.
    removed: dict[str, str] = field(default_factory=dict)
    #: The backlog changed: stored and sent whole, apart from the game.
    backlog: bool = False
    #: The last round's record changed after its reveal (a final estimate).
    history: bool = False

    def __bool__(self) -> bool:
        return self.game or bool(self.seats) or bool(self.removed) or self.backlog


@dataclass
class Game:
    """The whole state of one game; the host's copy is the truth."""

    id: str
    title: str
    host: str = ""
    deck: str = DEFAULT_DECK
    story: str = ""
    round: int = 1
    revealed: bool = False
    facilitator: str | None = None
    auto_reveal: bool = True
    #: Seconds an away seat is kept; 0 keeps it for ever.
    away_timeout: int = AWAY_TIMEOUT
    #: ``salt$sha256`` of the passcode, or "" for an open game.
    passcode: str = ""
    seats: dict[str, Seat] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    round_started: float = field(default_factory=time.time)
    history: list[dict[str, Any]] = field(default_factory=list)
    #: The cards of the custom deck, when ``deck`` is CUSTOM_DECK.
    custom: tuple[str, ...] = ()
    backlog: list[Story] = field(default_factory=list)
    #: The backlog story under estimate, if the story came from there.
    story_id: str | None = None
    #: The round's countdown: seconds, ends (host epoch), reveal, done.
    timer: dict[str, Any] | None = None

    @classmethod
    def new(cls, title: str, host: str = "", deck: str = DEFAULT_DECK) -> Game:
        """Start a game with a fresh id."""
        if not isinstance(deck, str) or deck not in DECKS:
            raise Refused("bad_message", f"There is no deck called {str(deck)[:40]!r}.")
        title = one_line(title, "title", MAX_TITLE)
        return cls(id=secrets.token_hex(6), title=title, host=host, deck=deck)

    @property
    def cards(self) -> tuple[str, ...]:
        """The cards of the current deck."""
        return self.custom if self.deck == CUSTOM_DECK else DECKS[self.deck]

    @property
    def locked(self) -> bool:
        """True when joining needs a passcode."""
        return bool(self.passcode)

    def lock(self, passcode: Any) -> None:
        """Require ``passcode`` to join (an empty one opens the game)."""
        text = clean_text(passcode or "", "passcode", MAX_PASSCODE, empty_ok=True)
        if not text:
            self.passcode = ""
            return
        # Only a salted hash is stored, so a copied database tells no one
        # the passcode (nor whether two games share one).
        salt = secrets.token_hex(8)
        self.passcode = f"{salt}${hash_passcode(salt, text)}"

    def passcode_ok(self, passcode: Any) -> bool:
        """True when ``passcode`` opens this game."""
        if not self.passcode:
            return True
        if not isinstance(passcode, str):
            return False
        salt, _, digest = self.passcode.partition("$")
        given = hash_passcode(salt, passcode.strip())
        return secrets.compare_digest(given, digest)

    def seat_for_token(self, token: str) -> Seat | None:
        """Find the seat that a secret token belongs to."""
        # surrogateescape: an HTTP header's undecodable bytes arrive so, and
        # must find no seat rather than raise.
        given = token.encode("utf-8", "surrogateescape")
        for seat in self.seats.values():
            if secrets.compare_digest(seat.token.encode(), given):
                return seat
        return None

    def join(
        self, name: Any, token: Any = None, role: Any = None
    ) -> tuple[Seat, Change]:
        """Seat a player, or give a returning player their seat back."""
        name = clean_text(name, "name", MAX_NAME)
        if role is not None and role not in ROLES:
            raise Refused("bad_message", "The role must be 'voter' or 'observer'.")
        if token is not None and not isinstance(token, str):
            raise Refused("bad_message", "The token must be text.")
        seat = self.seat_for_token(token) if token else None
        change = Change(seats=set())
        if seat is None and len(self.seats) >= MAX_SEATS:
            self._make_room(change)
        if seat is None:
            seat = Seat(
                id=secrets.token_hex(4), token=secrets.token_urlsafe(18), name=name
            )
            self.seats[seat.id] = seat
        seat.name = name
        if role is not None:
            seat.role = role
        seat.connected = True
        seat.away_since = None
        if seat.role == OBSERVER and not self.revealed:
            seat.vote = None  # a revealed card stays on the record
        change.seats.add(seat.id)
        if self.facilitator is None or self.facilitator not in self.seats:
            # A headless host has no user of its own: the first to sit
            # down runs the table, and keeps the role across reconnects.
            self.facilitator = seat.id
            change.game = True
        return seat, change

    def _make_room(self, change: Change) -> None:
        """Give up the seat away the longest, for a newcomer at a full table.

        Seats are cheap to make (join without a token, leave, again), and
        each one is in every state frame: without a cap, one script could
        make the table unplayable for everyone.
        """
        away = [
            s
            for s in self.seats.values()
            if s.away_since is not None and s.id != self.facilitator
        ]
        if not away:
            raise Refused(
                "table_full",
                f"This table is full ({MAX_SEATS} seats, all taken). Ask the "
                "facilitator to remove someone.",
            )
        gone = min(away, key=lambda s: s.away_since or 0.0)
        del self.seats[gone.id]
        change.removed[gone.id] = (
            "The table filled up while you were away, so your seat was given "
            "to someone new. Join again to play."
        )
        change.game = True

    def add_seat(self, name: str) -> Seat:
        """Seat the host's own user ahead of anyone else, as facilitator."""
        seat, _ = self.join(name)
        seat.connected = False
        self.facilitator = seat.id
        return seat

    def set_connected(
        self, seat_id: str, connected: bool, now: float | None = None
    ) -> Change:
        """Mark a seat present or away; an away voter stops blocking."""
        seat = self.seats[seat_id]
        seat.connected = connected
        seat.away_since = None if connected else (now or time.time())
        change = Change(seats={seat_id})
        return self._maybe_auto_reveal(change)

    def all_away(self, now: float) -> None:
        """Count every seat as away from ``now`` (a host starting up)."""
        for seat in self.seats.values():
            seat.connected = False
            if seat.away_since is None:
                seat.away_since = now

    def next_expiry(self) -> float | None:
        """When the next away seat is due to be given up, if ever."""
        if not self.away_timeout:
            return None
        times = [
            s.away_since + self.away_timeout
            for s in self.seats.values()
            if s.away_since is not None and s.id != self.facilitator
        ]
        return min(times, default=None)

    def expire(self, now: float) -> Change:
        """Give up the seats away for longer than the timeout.

        The facilitator's seat is kept: the table would have nobody to run
        it, and the host's own user is away until their page opens.
        """
        due = self.next_expiry()
        if due is None or due > now:
            return Change()
        minutes = max(1, round(self.away_timeout / 60))
        reason = (
            f"You were away for more than {plural(minutes, 'minute', 'minutes')}, "
            "so the host gave your seat up. Join again to play."
        )
        change = Change(game=True)
        for seat in list(self.seats.values()):
            if (
                seat.away_since is not None
                and seat.id != self.facilitator
                and seat.away_since + self.away_timeout <= now
            ):
                del self.seats[seat.id]
                change.removed[seat.id] = reason
        return self._maybe_auto_reveal(change)

    def set_away_timeout(self, seat_id: str, seconds: Any) -> Change:
        """Change how long away seats are kept, at the facilitator's word."""
        self._require(seat_id, facilitator=True)
        valid = isinstance(seconds, int) and not isinstance(seconds, bool)
        if not valid or not (
            seconds == 0 or AWAY_TIMEOUT_MIN <= seconds <= AWAY_TIMEOUT_MAX
        ):
            raise Refused(
                "bad_message",
                f"'seconds' must be 0 (never) or a whole number from "
                f"{AWAY_TIMEOUT_MIN} to {AWAY_TIMEOUT_MAX}.",
            )
        self.away_timeout = seconds
        return Change(game=True)

    def _require(self, seat_id: str, facilitator: bool = False) -> Seat:
        seat = self.seats.get(seat_id)
        if seat is None:
            raise Refused("not_joined", "Join the game first.")
        if facilitator and seat_id != self.facilitator:
            raise Refused("not_allowed", "Only the facilitator can do that.")
        return seat

    def vote(self, seat_id: str, card: Any) -> Change:
        """Place, change or (with None) take back a seat's card."""
        seat = self._require(seat_id)
        if seat.role != VOTER:
            raise Refused(
                "not_allowed", "Observers do not vote. Switch to voter first."
            )
        if self.revealed:
            raise Refused(
                "revealed", "The cards are already revealed. Wait for the next round."
            )
        if card is not None and (not isinstance(card, str) or card not in self.cards):
            raise Refused("bad_card", "That card is not in this deck.")
        seat.vote = card
        return self._maybe_auto_reveal(Change(seats={seat_id}))

    def voters(self) -> list[Seat]:
        """Seats that can vote now: voters who are connected."""
        return [s for s in self.seats.values() if s.role == VOTER and s.connected]

    def _maybe_auto_reveal(self, change: Change) -> Change:
        if self.revealed or not self.auto_reveal:
            return change
        voters = self.voters()
        if voters and all(s.vote is not None for s in voters):
            return self._reveal(change)
        return change

    def _reveal(self, change: Change) -> Change:
        self.revealed = True
        votes = {s.id: s.vote for s in self.seats.values() if s.vote is not None}
        story = self.find_story(self.story_id)
        self.history.append(
            {
                "round": self.round,
                "story": self.story,
                "storyId": story.id if story else None,
                "key": story.key if story else "",
                "deck": self.deck,
                "cards": list(self.cards),
                "votes": {sid: [self.seats[sid].name, v] for sid, v in votes.items()},
                "started": self.round_started,
                "revealed": time.time(),
                "final": None,
            }
        )
        change.game = change.revealed = True
        return change

    def reveal(self, seat_id: str) -> Change:
        """Turn every card over now, at the facilitator's word."""
        self._require(seat_id, facilitator=True)
        if self.revealed:
            raise Refused("revealed", "The cards are already revealed.")
        if not any(s.vote is not None for s in self.seats.values()):
            raise Refused("not_allowed", "Nobody has voted yet.")
        return self._reveal(Change())

    def result(self) -> dict[str, Any] | None:
        """Return the statistics of the round, once revealed."""
        if not self.revealed:
            return None
        voted = [s for s in self.seats.values() if s.vote is not None]
        result = summarize([s.vote for s in voted if s.vote], self.cards)
        low, high = result["low"], result["high"]
        # The lowest and highest voters explain their cards; with no spread
        # there is nobody to single out.
        for mark, value in (("lowest", low), ("highest", high)):
            result[mark] = [
                s.id for s in voted if low != high and _card_number(s.vote) == value
            ]
        return result

    def new_round(self, seat_id: str, story: Any = None) -> Change:
        """Clear the cards and start the next round."""
        self._require(seat_id, facilitator=True)
        if story is not None:
            self.story = clean_text(story, "story", MAX_STORY, empty_ok=True)
            self.story_id = None
        return self._next_round()

    def _next_round(self) -> Change:
        self._clear_votes()
        self.round += 1
        self.timer = None
        return Change(game=True, seats=set(self.seats))

    def _clear_votes(self) -> None:
        for seat in self.seats.values():
            seat.vote = None
        self.revealed = False
        self.round_started = time.time()

    def set_story(self, seat_id: str, story: Any) -> Change:
        """Change the story under estimate (typed: not from the backlog)."""
        self._require(seat_id, facilitator=True)
        self.story = clean_text(story, "story", MAX_STORY, empty_ok=True)
        self.story_id = None
        return Change(game=True)

    def set_deck(
        self, seat_id: str, deck: Any, cards: Any = None, confirm: Any = False
    ) -> Change:
        """Switch decks; cards of the old deck mean nothing in the new one.

        Votes of an open round are lost, so that needs ``confirm``.
        """
        self._require(seat_id, facilitator=True)
        if not isinstance(deck, str) or (deck != CUSTOM_DECK and deck not in DECKS):
            raise Refused("bad_message", f"There is no deck called {str(deck)[:40]!r}.")
        if not isinstance(confirm, bool):
            raise Refused("bad_message", "'confirm' must be true or false.")
        custom = check_custom_deck(cards) if deck == CUSTOM_DECK else ()
        votes = sum(1 for s in self.seats.values() if s.vote is not None)
        if votes and not self.revealed and not confirm:
            raise Refused(
                "confirm_needed",
                f"Changing the deck clears the {plural(votes, 'vote', 'votes')} "
                "of this round. Confirm to change it anyway.",
            )
        self.deck, self.custom = deck, custom
        if self.revealed:
            # The revealed round is on the record: the new deck votes in a
            # round of its own, not in a second "round N" of the same story.
            return self._next_round()
        self._clear_votes()
        return Change(game=True, seats=set(self.seats))

    def set_role(self, seat_id: str, role: Any) -> Change:
        """Switch one's own seat between voter and observer."""
        seat = self._require(seat_id)
        if role not in ROLES:
            raise Refused("bad_message", "The role must be 'voter' or 'observer'.")
        seat.role = role
        if role == OBSERVER and self.revealed:
            # A revealed card is on the record: becoming an observer now
            # must not take it back from the round everyone has seen.
            return Change(seats={seat_id})
        if role == OBSERVER:
            seat.vote = None
        return self._maybe_auto_reveal(Change(seats={seat_id}))

    def remove(self, seat_id: str, target: Any, reason: Any = None) -> Change:
        """Take a player's seat away, at the facilitator's word."""
        self._require(seat_id, facilitator=True)
        if not isinstance(target, str) or target not in self.seats:
            raise Refused("bad_message", "There is no such player at this table.")
        if target == self.facilitator:
            raise Refused("not_allowed", "Pass the facilitator role to someone first.")
        why = clean_text(reason, "reason", MAX_STORY, empty_ok=True) if reason else ""
        return self.drop_seat(
            target,
            f"The facilitator removed you from the game: {why}"
            if why
            else "The facilitator removed you from the game.",
        )

    def pass_facilitator(self, seat_id: str, target: Any) -> Change:
        """Hand the facilitator role to another player."""
        self._require(seat_id, facilitator=True)
        if not isinstance(target, str) or target not in self.seats:
            raise Refused("bad_message", "There is no such player at this table.")
        if target == seat_id:
            raise Refused("bad_message", "You are the facilitator already.")
        if not self.seats[target].connected:
            # Handed to someone away, the table would have nobody to run it.
            raise Refused(
                "not_allowed",
                f"{self.seats[target].name} is away; pass the role to someone "
                "at the table.",
            )
        self.facilitator = target
        return Change(game=True)

    def claim_facilitator(self, seat_id: str, now: float | None = None) -> Change:
        """Take the facilitator role over from a facilitator who is away.

        A facilitator whose page lost its token (another device, cleared
        storage) comes back as a new seat; the old one is never given up,
        so without this nobody could reveal or start a round again. Only
        after CLAIM_AFTER seconds away: a Wi-Fi blip must not hand the
        table to whoever clicks first.
        """
        seat = self._require(seat_id)
        if seat_id == self.facilitator:
            raise Refused("bad_message", "You are the facilitator already.")
        current = self.seats.get(self.facilitator or "")
        if current is not None and current.connected:
            raise Refused(
                "not_allowed",
                f"{current.name} is here and runs the table; ask them to pass "
                "you the role.",
            )
        now = time.time() if now is None else now
        if current is not None and (current.away_since or now) > now - CLAIM_AFTER:
            raise Refused(
                "not_allowed",
                f"{current.name} has been away less than {CLAIM_AFTER} seconds; "
                "wait a moment for them to come back.",
            )
        self.facilitator = seat.id
        return Change(game=True)

    def drop_seat(self, seat_id: str, reason: str) -> Change:
        """Remove a seat and its card; the host tells its player ``reason``."""
        del self.seats[seat_id]
        change = Change(game=True, removed={seat_id: reason})
        return self._maybe_auto_reveal(change)

    def set_auto_reveal(self, seat_id: str, on: Any) -> Change:
        """Turn the reveal-when-all-voted rule on or off."""
        self._require(seat_id, facilitator=True)
        if not isinstance(on, bool):
            raise Refused("bad_message", "'on' must be true or false.")
        self.auto_reveal = on
        return self._maybe_auto_reveal(Change(game=True))

    # -- the backlog

    def find_story(self, story_id: Any) -> Story | None:
        """Return the backlog story with this id, if there is one."""
        return next((s for s in self.backlog if s.id == story_id), None)

    def _story(self, story_id: Any) -> Story:
        story = self.find_story(story_id) if isinstance(story_id, str) else None
        if story is None:
            raise Refused("bad_message", "There is no such story in the backlog.")
        return story

    @staticmethod
    def make_story(title: Any, key: Any = "", description: Any = "") -> Story:
        """Check a story's fields and return it with a fresh id."""
        return Story(
            id=secrets.token_hex(4),
            title=one_line(title, "title", MAX_STORY),
            key=one_line(key or "", "key", MAX_KEY, empty_ok=True),
            description=clean_text(
                description.replace("\r\n", "\n")
                if isinstance(description, str)
                else description or "",
                "description",
                MAX_DESCRIPTION,
                empty_ok=True,
            ),
        )

    def add_stories(self, seat_id: str, stories: list[Story]) -> Change:
        """Put stories at the end of the backlog (typed or imported)."""
        self._require(seat_id, facilitator=True)
        if len(self.backlog) + len(stories) > MAX_BACKLOG:
            raise Refused(
                "backlog_full",
                f"A backlog holds at most {MAX_BACKLOG} stories; it has "
                f"{len(self.backlog)} and this adds {len(stories)}.",
            )
        self.backlog.extend(stories)
        return Change(backlog=True)

    def add_story(
        self, seat_id: str, title: Any, key: Any = "", description: Any = ""
    ) -> Change:
        """Add one story typed by the facilitator."""
        self._require(seat_id, facilitator=True)
        return self.add_stories(seat_id, [self.make_story(title, key, description)])

    def edit_story(self, seat_id: str, story_id: Any, fields: dict[str, Any]) -> Change:
        """Change a story's title, key or description (those given)."""
        self._require(seat_id, facilitator=True)
        story = self._story(story_id)
        given = {k: fields[k] for k in ("title", "key", "description") if k in fields}
        if not given:
            raise Refused(
                "bad_message", "Say what to change: title, key or description."
            )
        checked = self.make_story(
            given.get("title", story.title),
            given.get("key", story.key),
            given.get("description", story.description),
        )
        story.title, story.key = checked.title, checked.key
        story.description = checked.description
        change = Change(backlog=True)
        if story.id == self.story_id:
            self.story = story.title
            change.game = True
        return change

    def move_story(self, seat_id: str, story_id: Any, to: Any) -> Change:
        """Move a story to another place in the queue (0 is the top)."""
        self._require(seat_id, facilitator=True)
        story = self._story(story_id)
        if not isinstance(to, int) or isinstance(to, bool):
            raise Refused("bad_message", "'to' must be a whole number.")
        self.backlog.remove(story)
        self.backlog.insert(max(0, min(to, len(self.backlog))), story)
        return Change(backlog=True)

    def remove_story(self, seat_id: str, story_id: Any) -> Change:
        """Take a story out of the backlog; rounds played on it stay."""
        self._require(seat_id, facilitator=True)
        self.backlog.remove(self._story(story_id))
        change = Change(backlog=True)
        if story_id == self.story_id:
            self.story_id = None
            change.game = True
        return change

    def skip_story(self, seat_id: str, story_id: Any, skipped: Any = True) -> Change:
        """Mark a story to be passed over by "Next story" (or not any more)."""
        self._require(seat_id, facilitator=True)
        if not isinstance(skipped, bool):
            raise Refused("bad_message", "'skipped' must be true or false.")
        self._story(story_id).skipped = skipped
        return Change(backlog=True)

    def next_story(self, seat_id: str, story_id: Any = None) -> Change:
        """Start a round on the given story, or the next one to estimate."""
        self._require(seat_id, facilitator=True)
        if story_id is not None:
            story = self._story(story_id)
        else:
            # From the story after the current one, then round to the top:
            # a story played without an estimate stays for a later pass,
            # instead of "Next" bouncing between the first two.
            at = next(
                (n for n, s in enumerate(self.backlog) if s.id == self.story_id), -1
            )
            order = self.backlog[at + 1 :] + self.backlog[: at + 1]
            waiting = [
                s
                for s in order
                if s.estimate is None and not s.skipped and s.id != self.story_id
            ]
            if not waiting:
                raise Refused(
                    "backlog_done",
                    "Every story in the backlog is estimated or skipped. Add or "
                    "import more.",
                )
            story = waiting[0]
        self.story, self.story_id = story.title, story.id
        return self._next_round()

    def record_estimate(self, seat_id: str, value: Any) -> Change:
        """Write down the team's final estimate for the revealed round."""
        self._require(seat_id, facilitator=True)
        if not self.revealed or not self.history:
            raise Refused(
                "not_allowed", "Reveal the cards before recording the estimate."
            )
        final = one_line(value, "estimate", MAX_ESTIMATE)
        self.history[-1]["final"] = final
        change = Change(game=True, history=True)
        story = self.find_story(self.history[-1].get("storyId"))
        if story is not None:
            story.estimate = final
            change.backlog = True
        return change

    # -- the timer

    def start_timer(
        self, seat_id: str, seconds: Any, reveal: Any = True, now: float | None = None
    ) -> Change:
        """Start the round's countdown, on the host's clock."""
        self._require(seat_id, facilitator=True)
        if (
            not isinstance(seconds, int)
            or isinstance(seconds, bool)
            or not MIN_TIMER <= seconds <= MAX_TIMER
        ):
            raise Refused(
                "bad_message",
                f"The timer runs {MIN_TIMER} to {MAX_TIMER} whole seconds.",
            )
        if not isinstance(reveal, bool):
            raise Refused("bad_message", "'reveal' must be true or false.")
        if self.revealed:
            raise Refused(
                "revealed", "The cards are already revealed. Start a new round first."
            )
        now = time.time() if now is None else now
        self.timer = {
            "seconds": seconds,
            "ends": round(now + seconds, 3),
            "reveal": reveal,
            "done": False,
        }
        return Change(game=True)

    def stop_timer(self, seat_id: str) -> Change:
        """Cancel the round's countdown."""
        self._require(seat_id, facilitator=True)
        if self.timer is None:
            raise Refused("bad_message", "No timer is running.")
        self.timer = None
        return Change(game=True)

    def timer_due(self) -> float | None:
        """When (host epoch) the timer wants ``tick``; None if never."""
        timer = self.timer
        if timer is None or timer["done"] or self.revealed:
            return None
        return float(timer["ends"])

    def tick(self, now: float) -> Change:
        """Act on the timer at the host's time ``now``: at zero, maybe reveal."""
        due = self.timer_due()
        if due is None or now < due:
            return Change()
        assert self.timer is not None
        self.timer["done"] = True
        change = Change(game=True)
        if self.timer["reveal"] and any(
            s.vote is not None for s in self.seats.values()
        ):
            self._reveal(change)
        return change

    def public(self) -> dict[str, Any]:
        """Return the game as every player may see it."""
        return {
            "id": self.id,
            "title": self.title,
            "host": self.host,
            "story": self.story,
            "round": self.round,
            "storyId": self.story_id,
            "deck": {"name": self.deck, "cards": list(self.cards)},
            "revealed": self.revealed,
            "facilitator": self.facilitator,
            "autoReveal": self.auto_reveal,
            "awayTimeout": self.away_timeout,
            "locked": self.locked,
            "seats": [s.public(self.revealed) for s in self.seats.values()],
            "result": self.result(),
            "timer": (
                {key: self.timer[key] for key in ("seconds", "ends", "reveal")}
                if self.timer
                else None
            ),
            "history": [round_summary(r) for r in self.history],
        }

    def public_backlog(self) -> list[dict[str, Any]]:
        """Return the backlog as every player sees it."""
        return [story.public() for story in self.backlog]

    def you(self, seat_id: str) -> dict[str, Any]:
        """Return what only this seat's own player may see."""
        return {"seat": seat_id, "vote": self.seats[seat_id].vote}


# ---------------------------------------------------------------- import and export

#: Header names that say what a column holds, most telling first: Jira
#: (Summary, Issue key, Description), Azure DevOps (Title, ID, Description),
#: GitHub issues (Title, URL or Number, Body), and this app's own export.
TITLE_HEADERS = ("summary", "title", "name", "story", "subject")
KEY_HEADERS = ("issue key", "key", "id", "url", "link", "number", "issue id")
DESCRIPTION_HEADERS = ("description", "body", "details")
#: The leading columns of this app's own export; its player columns follow,
#: so a file that starts with these is read by position, never by guessing.
EXPORT_HEADER = ("Key", "Title", "Final estimate", "Mean", "Median", "Consensus")
EXPORT_HEADER += ("Rounds",)
#: A cell starting with one of these is a formula to a spreadsheet app; the
#: export puts a quote before it (OWASP's advice on CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Cells the export quotes: a formula start behind any quotes already there,
#: so that stripping one quote on import gives back the text exported.
QUOTED_FORMULA = re.compile(r"'*[=+\-@\t\r]")
PLAIN_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")
#: The delimiter is judged on this much of the file's start.
SNIFF_CHARS = 64 * 1024
SNIFF_ROWS = 50


@dataclass
class CsvTable:
    """A CSV file read for import: its header, its rows, the columns guessed."""

    header: list[str]
    rows: list[tuple[int, list[str]]]  # (first line of the record, cells)
    delimiter: str
    title: int
    key: int | None
    description: int | None
    #: The title column was found by its name (or there is only one column):
    #: no need to ask the facilitator which column holds the titles.
    obvious: bool


def sniff_delimiter(text: str) -> str:
    """Pick comma, semicolon or tab: the one that splits the start evenly.

    ``csv.Sniffer`` guesses wildly on quoted text with commas inside, so each
    candidate is tried on the first rows and the one that gives the header
    most fields, repeated by most rows, wins.
    """
    sample = text[:SNIFF_CHARS]
    best, best_score = ",", (0, 0)
    for delimiter in (",", ";", "\t"):
        try:
            reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
            rows = [row for _, row in zip(range(SNIFF_ROWS), reader, strict=False)]
        except csv.Error:
            continue
        if len(sample) < len(text) and len(rows) > 1:
            rows.pop()  # the sample may have cut the last row short
        rows = [row for row in rows if row]
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        score = (sum(len(row) == width for row in rows), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _find_column(header: list[str], names: tuple[str, ...]) -> int | None:
    folded = [" ".join(h.split()).casefold() for h in header]
    for name in names:
        if name in folded:
            return folded.index(name)
    return None


def _is_export(header: list[str]) -> bool:
    folded = [" ".join(h.split()).casefold() for h in header[: len(EXPORT_HEADER)]]
    return folded == [name.casefold() for name in EXPORT_HEADER]


def _named(header: list[str]) -> bool:
    return any(
        _find_column(header, names) is not None
        for names in (TITLE_HEADERS, KEY_HEADERS, DESCRIPTION_HEADERS)
    )


def _unquote(cell: str) -> str:
    # Undo the export's guard against formulas; any other quote is text.
    return cell[1:] if cell[:1] == "'" and QUOTED_FORMULA.match(cell, 1) else cell


def _records(text: str, delimiter: str | None) -> list[tuple[int, list[str]]]:
    """Parse records of (first line, cells); ``None`` reads one field a line."""
    # NUL never occurs in the text (read_csv refuses it), so it splits nothing.
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter or "\0", strict=True
    )
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                records.append((start, [_unquote(cell) for cell in row]))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ImportProblem(
            f"Line {start} is not valid CSV ({exc}). Check the quotes on that line.",
            start,
        ) from None
    return records


def read_csv(data: bytes) -> CsvTable:
    """Read an exported backlog: any of the known layouts, or one column."""
    if not data.removeprefix(b"\xef\xbb\xbf").strip():
        raise ImportProblem("The file is empty: there is nothing to import.", 1)
    if b"\0" in data:
        line = data.count(b"\n", 0, data.index(b"\0")) + 1
        raise ImportProblem(
            f"This is not a CSV file: line {line} holds binary data. Export the "
            "backlog as CSV and choose that file.",
            line,
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportProblem(
            f"Line {line} is not UTF-8 text. Save the file as CSV UTF-8 and try again.",
            line,
        ) from None
    delimiter = sniff_delimiter(text)
    records = _records(text, delimiter)
    if not records:
        raise ImportProblem("The file is empty: there is nothing to import.", 1)

    first = records[0][1]
    # A list of titles, some with a comma: the delimiter guess splits a few
    # lines only. A table always has as many fields a row, so a row of one
    # field under an unnamed header is a list, not a table.
    ragged = any(len(row) == 1 for _, row in records)
    if len(first) == 1 or (ragged and not _named(first)):
        records = _records(text, None)
        first = records[0][1]
    if len(first) == 1 and _find_column(first, TITLE_HEADERS) is None:
        header = ["Title"]  # a plain list of titles, with no header row
    else:
        header = [" ".join(cell.split()) for cell in first]
        records = records[1:]
    width = len(header)
    rows = []
    for line, row in records:
        if len(row) > width and any(cell.strip() for cell in row[width:]):
            raise ImportProblem(
                f"Line {line} has {len(row)} fields but the header has {width}. "
                "Check for a stray delimiter or quote on that line.",
                line,
            )
        rows.append((line, (row + [""] * width)[:width]))
    if _is_export(header):
        # This app's own export: its player columns may be named anything,
        # "Summary" too, so only the fixed columns are used.
        return CsvTable(header, rows, delimiter, 1, 0, None, obvious=True)
    title = _find_column(header, TITLE_HEADERS)
    return CsvTable(
        header=header,
        rows=rows,
        delimiter=delimiter,
        title=0 if title is None else title,
        key=_find_column(header, KEY_HEADERS),
        description=_find_column(header, DESCRIPTION_HEADERS),
        obvious=title is not None or width == 1,
    )


def table_stories(
    table: CsvTable, title: int, key: int | None, description: int | None
) -> list[Story]:
    """Turn the rows into stories, from the columns the facilitator chose."""
    width = len(table.header)
    for column in (title, key, description):
        if column is not None and not 0 <= column < width:
            raise ImportProblem(f"There is no column {column} in this file.")
    stories = []
    for line, row in table.rows:
        if not row[title].strip():
            continue  # a row with no title is no story (a blank line, a note)
        # Long descriptions (Jira's run to pages) are cut, not refused.
        about = row[description].strip() if description is not None else ""
        if len(about) > MAX_DESCRIPTION:
            about = about[: MAX_DESCRIPTION - 1] + "…"
        try:
            stories.append(
                Game.make_story(row[title], row[key] if key is not None else "", about)
            )
        except Refused as exc:
            raise ImportProblem(f"Line {line}: {exc}", line) from None
    if not stories:
        raise ImportProblem("No row of this file has a title: nothing to import.")
    if len(stories) > MAX_BACKLOG:
        raise ImportProblem(
            f"The file holds {len(stories)} stories; a backlog takes at most "
            f"{MAX_BACKLOG}."
        )
    return stories


def session_results(game: Game) -> tuple[list[str], list[list[Any]]]:
    """The session as a table: one row per story, one column per player.

    The backlog's stories come first, in queue order (estimated or not, so
    an export imports back whole); stories typed for a round follow, in the
    order they were played. Cards are those of each story's last round.
    """
    rounds: dict[str, list[dict[str, Any]]] = {}
    titles: dict[str, tuple[str, str]] = {}
    for story in game.backlog:
        rounds[story.id] = []
        titles[story.id] = (story.key, story.title)
    for record in game.history:
        ident = record.get("storyId") or f"typed:{record['story']}"
        if ident not in rounds:
            rounds[ident] = []
            titles[ident] = (record.get("key", ""), record["story"])
        rounds[ident].append(record)

    players: dict[str, str] = {}  # seat id -> column name; two Sams are two
    # A player named "Title" gets "Title (2)": no name passes for a fixed
    # column, in the file or to a reader that looks columns up by name.
    taken = {name.casefold() for name in EXPORT_HEADER}
    for record in game.history:
        for sid, (name, _) in record["votes"].items():
            if sid not in players:
                label, n = name, 2
                while label.casefold() in taken:
                    label, n = f"{name} ({n})", n + 1
                players[sid] = label
                taken.add(label.casefold())
    header = [*EXPORT_HEADER, *players.values()]
    rows = []
    for ident, played in rounds.items():
        key, title = titles[ident]
        story = game.find_story(ident)
        last = round_summary(played[-1]) if played else None
        final = story.estimate if story else None
        final = final or next((r["final"] for r in reversed(played) if r["final"]), "")
        votes = played[-1]["votes"] if played else {}
        rows.append(
            [
                key,
                title,
                final or "",
                "" if last is None or last["mean"] is None else last["mean"],
                "" if last is None or last["median"] is None else last["median"],
                "" if last is None else ("yes" if last["consensus"] else "no"),
                len(played),
                *(votes.get(sid, [None, ""])[1] for sid in players),
            ]
        )
    return header, rows


def export_csv(game: Game) -> bytes:
    """The session results as CSV, UTF-8 with a BOM for spreadsheet apps."""

    def cell(value: Any) -> Any:
        if not isinstance(value, str) or PLAIN_NUMBER.fullmatch(value):
            return value  # a number, -1 too, is no formula
        return f"'{value}" if QUOTED_FORMULA.match(value) else value

    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    header, rows = session_results(game)
    writer.writerow([cell(h) for h in header])
    writer.writerows([cell(v) for v in row] for row in rows)
    return out.getvalue().encode("utf-8-sig")


def export_markdown(game: Game) -> str:
    """The session results as a Markdown table, for a wiki or a pull request."""

    def cell(value: Any) -> str:
        text = " ".join(str(value).split())  # a line break would end the row
        text = text.replace("\\", "\\\\").replace("|", "\\|")
        # Markdown passes HTML through: a name like <img onerror=...> would
        # run in the wiki that renders the table.
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return text or " "

    header, rows = session_results(game)
    lines = [f"# {cell(game.title)}", ""]
    lines.append("| " + " | ".join(cell(h) for h in header) + " |")
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- storage


SCHEMA = """
CREATE TABLE IF NOT EXISTS games (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, host TEXT NOT NULL,
    deck TEXT NOT NULL, story TEXT NOT NULL, round INTEGER NOT NULL,
    revealed INTEGER NOT NULL, facilitator TEXT, auto_reveal INTEGER NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL, round_started REAL NOT NULL,
    port INTEGER, away_timeout INTEGER NOT NULL DEFAULT 600,
    passcode TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS seats (
    game TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    id TEXT NOT NULL, token TEXT NOT NULL, name TEXT NOT NULL,
    role TEXT NOT NULL, vote TEXT, joined REAL NOT NULL, away_since REAL,
    PRIMARY KEY (game, id)
);
CREATE TABLE IF NOT EXISTS rounds (
    game TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    n INTEGER NOT NULL, record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rounds_game ON rounds (game, n);
CREATE TABLE IF NOT EXISTS stories (
    game TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    id TEXT NOT NULL, position INTEGER NOT NULL, title TEXT NOT NULL,
    key TEXT NOT NULL, description TEXT NOT NULL, estimate TEXT,
    skipped INTEGER NOT NULL,
    PRIMARY KEY (game, id)
);
"""

#: Columns added after the first release. CREATE TABLE IF NOT EXISTS leaves
#: an older table as it was, so each is added where it is missing; new
#: databases take the same path, so both end up alike.
ADDED_COLUMNS = (
    ("games", "cards", "TEXT"),  # JSON list: the custom deck
    ("games", "story_id", "TEXT"),
    ("games", "timer", "TEXT"),  # JSON object, or NULL
    ("games", "away_timeout", "INTEGER NOT NULL DEFAULT 600"),
    ("games", "passcode", "TEXT NOT NULL DEFAULT ''"),  # salted hash, or ''
    ("seats", "away_since", "REAL"),
)


def migrate(db: sqlite3.Connection) -> None:
    """Bring a database made by an older version up to this schema."""
    for table, column, decl in ADDED_COLUMNS:
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            log.info("Adding %s.%s to the game database", table, column)
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


def hold_lock(path: Path) -> Any:
    """Open ``path`` and lock it for this process; None when another holds it.

    The lock goes with the process: a crash or SIGKILL releases it, so a
    stale file never keeps the app from starting.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    file = open(path, "a+")  # noqa: SIM115 (held until the caller closes it)
    try:
        if sys.platform == "win32":
            import msvcrt

            file.seek(0)
            msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        file.close()
        return None
    return file


class Store:
    """The games on disk: SQLite in WAL mode, one commit per change.

    A change is committed before it is broadcast, so nothing a player has
    seen can be lost by a crash of the host.
    """

    def __init__(self, path: Path, *, exclusive: bool = False) -> None:
        """Open the database; ``exclusive`` (a host) keeps other hosts out."""
        self.path = path
        self.notice: str | None = None
        self._lock: Any = None
        if exclusive:
            # Two hosts on one database would each load their own copy of a
            # game and serve it to different players, the last save winning.
            self._lock = hold_lock(path.with_name(f"{path.name}.lock"))
            if self._lock is None:
                raise PokerError(
                    f"Another Planning Poker is already hosting the games in "
                    f"{path.parent}. Stop it, or give this one a folder of its "
                    "own with --data-dir."
                )
        #: Commits since the last checkpoint.
        self.unchecked = 0
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpoint_lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = self._open()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and (
                "locked" in str(exc) or "busy" in str(exc)
            ):
                # In use, not damaged: moving it aside would hide every game.
                raise StorageError(
                    f"The saved games in {path} are in use by another program. "
                    "Close it, or start this one with --data-dir pointing "
                    "elsewhere."
                ) from None
            aside = path.with_name(
                f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
            )
            self.notice = (
                f"The saved games could not be read ({exc}); the file was moved "
                f"to {aside} and a new one was started."
            )
            log.warning("%s", self.notice)
            with contextlib.suppress(OSError):
                os.replace(path, aside)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.replace(f"{path}{suffix}", f"{aside}{suffix}")
            self.db = self._open()

    def _open(self) -> sqlite3.Connection:
        # A second at most waiting for a lock another program holds: every
        # save runs on the event loop, and all games wait while it waits.
        db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=1.0
        )
        try:
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("the integrity check failed")
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a crash of the app (the case that
            # matters here); only a power cut can lose the last commits.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA wal_autocheckpoint=0")  # see checkpoint()
            db.execute("PRAGMA foreign_keys=ON")
            db.executescript(SCHEMA)
            migrate(db)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def close(self) -> None:
        """Close the database; later calls fail."""
        with self._checkpoint_lock:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
        self.db.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database, on a connection of its
        own: safe on a worker thread, and it never blocks a commit (PASSIVE).
        """
        self.unchecked = 0
        with self._checkpoint_lock:
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False
                )
            try:
                self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:
                log.warning("The game database could not be checkpointed: %s", exc)

    def save(
        self, game: Game, change: Change | None = None, port: int | None = None
    ) -> None:
        """Write what ``change`` touched (everything when None), in one commit."""
        db = self.db
        try:
            db.execute("BEGIN")
            if change is None or change.game or change.revealed:
                db.execute(
                    "INSERT INTO games (id, title, host, deck, story, round,"
                    " revealed, facilitator, auto_reveal, created, updated,"
                    " round_started, port, cards, story_id, timer, away_timeout,"
                    " passcode) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT(id) DO UPDATE SET title=excluded.title,"
                    " host=excluded.host, deck=excluded.deck, story=excluded.story,"
                    " round=excluded.round, revealed=excluded.revealed,"
                    " facilitator=excluded.facilitator,"
                    " auto_reveal=excluded.auto_reveal, updated=excluded.updated,"
                    " round_started=excluded.round_started,"
                    " port=COALESCE(excluded.port, games.port),"
                    " cards=excluded.cards, story_id=excluded.story_id,"
                    " timer=excluded.timer, away_timeout=excluded.away_timeout,"
                    " passcode=excluded.passcode",
                    (
                        game.id,
                        game.title,
                        game.host,
                        game.deck,
                        game.story,
                        game.round,
                        int(game.revealed),
                        game.facilitator,
                        int(game.auto_reveal),
                        game.created,
                        time.time(),
                        game.round_started,
                        port,
                        json.dumps(list(game.custom)),
                        game.story_id,
                        json.dumps(game.timer) if game.timer else None,
                        game.away_timeout,
                        game.passcode,
                    ),
                )
            else:
                db.execute(
                    "UPDATE games SET updated=? WHERE id=?", (time.time(), game.id)
                )
            seat_ids = game.seats.keys() if change is None else change.seats
            rows = [
                (game.id, s.id, s.token, s.name, s.role, s.vote, s.joined, s.away_since)
                for s in (game.seats[i] for i in seat_ids if i in game.seats)
            ]
            db.executemany(
                "INSERT OR REPLACE INTO seats (game, id, token, name, role, vote,"
                " joined, away_since) VALUES (?,?,?,?,?,?,?,?)",
                rows,
            )
            if change is not None and change.removed:
                db.executemany(
                    "DELETE FROM seats WHERE game=? AND id=?",
                    [(game.id, sid) for sid in change.removed],
                )
            if change is None:
                db.execute("DELETE FROM rounds WHERE game=?", (game.id,))
                records = game.history
            else:
                records = game.history[-1:] if change.revealed else []
            db.executemany(
                "INSERT INTO rounds VALUES (?,?,?)",
                [(game.id, r["round"], json.dumps(r)) for r in records],
            )
            if change is not None and change.history and game.history:
                db.execute(
                    "UPDATE rounds SET record=? WHERE rowid="
                    "(SELECT MAX(rowid) FROM rounds WHERE game=?)",
                    (json.dumps(game.history[-1]), game.id),
                )
            if change is None or change.backlog:
                # Whole: a move renumbers every story after it anyway.
                db.execute("DELETE FROM stories WHERE game=?", (game.id,))
                db.executemany(
                    "INSERT INTO stories VALUES (?,?,?,?,?,?,?,?)",
                    [
                        (game.id, s.id, n, s.title, s.key, s.description)
                        + (s.estimate, int(s.skipped))
                        for n, s in enumerate(game.backlog)
                    ],
                )
            db.execute("COMMIT")
            self.unchecked += 1
        except (sqlite3.Error, ValueError, TypeError) as exc:
            # Whatever failed, the transaction must not stay open: the next
            # save would fail to begin, and this one's half would go with it.
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise StorageError(f"The game could not be saved: {exc}.") from exc

    def load(self, game_id: str) -> Game:
        """Read one stored game back, exactly as it was saved."""
        row = self.db.execute(
            "SELECT id, title, host, deck, story, round, revealed, facilitator,"
            " auto_reveal, created, round_started, cards, story_id, timer,"
            " away_timeout, passcode"
            " FROM games WHERE id=?",
            (game_id,),
        ).fetchone()
        if row is None:
            raise StorageError(f"There is no stored game with id {game_id!r}.")
        custom = tuple(json.loads(row[11] or "[]"))
        known = row[3] in DECKS or (row[3] == CUSTOM_DECK and custom)
        game = Game(
            id=row[0],
            title=row[1],
            host=row[2],
            deck=row[3] if known else DEFAULT_DECK,
            custom=custom if row[3] == CUSTOM_DECK else (),
            story_id=row[12],
            timer=json.loads(row[13]) if row[13] else None,
            story=row[4],
            round=row[5],
            revealed=bool(row[6]),
            facilitator=row[7],
            auto_reveal=bool(row[8]),
            created=row[9],
            round_started=row[10],
            away_timeout=row[14],
            passcode=row[15],
        )
        for sid, token, name, role, vote, joined, away in self.db.execute(
            "SELECT id, token, name, role, vote, joined, away_since FROM seats"
            " WHERE game=? ORDER BY joined",
            (game_id,),
        ):
            game.seats[sid] = Seat(sid, token, name, role, False, vote, joined, away)
        game.backlog = [
            Story(sid, title, key, about, estimate, bool(skipped))
            for sid, title, key, about, estimate, skipped in self.db.execute(
                "SELECT id, title, key, description, estimate, skipped FROM stories"
                " WHERE game=? ORDER BY position",
                (game_id,),
            )
        ]
        game.history = [
            json.loads(r[0])
            for r in self.db.execute(
                "SELECT record FROM rounds WHERE game=? ORDER BY rowid", (game_id,)
            )
        ]
        return game

    def exists(self, game_id: str) -> bool:
        """True when a game of that id is stored."""
        row = self.db.execute("SELECT 1 FROM games WHERE id=?", (game_id,))
        return row.fetchone() is not None

    def port_of(self, game_id: str) -> int | None:
        """Return the port a stored game was last served on."""
        row = self.db.execute(
            "SELECT port FROM games WHERE id=?", (game_id,)
        ).fetchone()
        return row[0] if row else None

    def recent(self, limit: int = 10) -> list[dict[str, Any]]:
        """List stored games, the most recently changed first."""
        rows = self.db.execute(
            "SELECT g.id, g.title, g.updated, g.round, g.story,"
            " (SELECT COUNT(*) FROM seats s WHERE s.game = g.id)"
            " FROM games g ORDER BY g.updated DESC LIMIT ?",
            (limit,),
        ).fetchall()
        keys = ("id", "title", "updated", "round", "story", "players")
        return [dict(zip(keys, row, strict=True)) for row in rows]


# ---------------------------------------------------------------- host server


wslog = logging.getLogger("poker.ws")


def import_aiohttp() -> None:
    """Import aiohttp, which the code below uses, once something serves.

    Not at the top of the module: the import takes ~150 ms (its client
    builds SSL contexts), which ``--list`` and ``--version`` never need, and
    which a headless host spends after its mDNS probing has begun.
    """
    global WSCloseCode, WSMsgType, web
    from aiohttp import WSCloseCode, WSMsgType, web


def lan_addresses() -> list[str]:
    """Return this machine's IPv4 addresses other than loopback."""
    import ifaddr  # a dependency of zeroconf

    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                address = ipaddress.ip_address(ip.ip)
                if not address.is_loopback and not address.is_link_local:
                    found.append(str(address))
    return sorted(set(found), key=found.index)


def url_host(address: str) -> str:
    """Format an address for a URL (IPv6 in brackets)."""
    return f"[{address}]" if ":" in address else address


def bound_socket(bind: str, port: int) -> socket.socket:
    """A TCP socket bound to ``bind``:``port``, or a sentence saying why not."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((bind, port))
    except socket.gaierror:
        # A name that does not resolve, or text that is no address at all.
        sock.close()
        raise PokerError(
            f"--bind {bind!r} is not an IP address. Leave --bind out to listen on "
            "all of this machine's addresses."
        ) from None
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRNOTAVAIL:
            raise PokerError(
                f"{bind} is not one of this machine's addresses. Leave --bind out "
                "to listen on all of them."
            ) from None
        if exc.errno == errno.EADDRINUSE:
            raise PokerError(
                f"Port {port} is busy ({exc.strerror}). Choose another with "
                "--port, or leave it out to take a free one."
            ) from None
        raise PokerError(
            f"Cannot listen on {url_host(bind)}:{port} ({exc.strerror}). Choose "
            "another port with --port, or leave --port and --bind out."
        ) from None
    return sock


def host_name_ok(host: str) -> bool:
    """True when a request's Host header names this machine, not a stranger.

    A page of any web site can make its own name resolve to this host's LAN
    address (DNS rebinding); its requests then carry that site's name as
    Host and Origin alike, which the Origin check alone lets through. The
    host's real names are an address, localhost, a .local name (mDNS), or
    the machine's own name, alone or with the office's domain after it.
    Limitation: an office DNS name that does not start with the machine's
    own name is refused too; such a host is joined by its address.
    """
    if not host:
        return True  # no Host header: not a browser
    try:
        name = urlsplit(f"//{host}").hostname or ""
    except ValueError:
        return False
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(name)
        return True
    name = name.rstrip(".").lower()
    own = socket.gethostname().lower().split(".")[0]
    return (
        name in ("localhost", own)
        or name.startswith(f"{own}.")
        or name.endswith((".local", ".localhost"))
    )


def cut_utf8(text: str, size: int) -> str:
    """Cut ``text`` to at most ``size`` bytes of UTF-8, between characters."""
    return text.encode()[:size].decode("utf-8", "ignore")


def wire_text(text: str) -> bytes:
    """Encode a websocket text frame as a host sends it (RFC 6455 section
    5.2: final, unmasked), once however many players get it."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        head = bytes((0x81, size))
    elif size < 65536:
        head = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return head + payload


class Client:
    """One websocket at the table, and the frames it is behind on.

    While the client keeps up, a frame is written to its socket at once: a
    broadcast wakes no task per player. A client whose socket buffer fills
    gets a queue that its own task drains, in order; past SEND_QUEUE frames
    it is dropped, so a frozen client never delays the others.
    """

    def __init__(
        self, ws: web.WebSocketResponse, peer: str, transport: asyncio.Transport
    ) -> None:
        self.ws = ws
        self.peer = peer
        self.transport = transport
        self.seat: str | None = None
        #: Frames not written yet; None tells the pump to stop.
        self.backlog: deque[bytes | None] = deque()
        self.wake = asyncio.Event()
        self.tokens = float(RATE_BURST)
        self.refilled = time.monotonic()
        self.dropped = False
        self.finished = False
        self.pump_task: asyncio.Task[None] | None = None

    def allow(self) -> bool:
        """Take one message from the rate budget; False when it is spent."""
        now = time.monotonic()
        self.tokens = min(
            RATE_BURST, self.tokens + (now - self.refilled) * RATE_PER_SECOND
        )
        self.refilled = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def send(self, frame: str | bytes) -> None:
        """Write one frame (text, or bytes from wire_text), or queue it."""
        if self.dropped or self.finished or self.ws.closed:
            return
        wire = wire_text(frame) if isinstance(frame, str) else frame
        transport = self.transport
        if not self.backlog and transport.get_write_buffer_size() <= WRITE_BEHIND:
            if not transport.is_closing():
                transport.write(wire)
            return
        if len(self.backlog) >= SEND_QUEUE:
            self.dropped = True
            self.backlog.clear()
            wslog.warning("Client %s fell too far behind and was dropped", self.peer)
            asyncio.ensure_future(
                self.ws.close(
                    code=WSCloseCode.TRY_AGAIN_LATER,
                    message=b"Too far behind; reconnect",
                )
            )
            return
        self.backlog.append(wire)
        self.wake.set()

    async def pump(self) -> None:
        """Write the frames queued while the socket was full; stop at None."""
        transport = self.transport
        while True:
            while not self.backlog:
                self.wake.clear()
                await self.wake.wait()
            while transport.get_write_buffer_size() > WRITE_BEHIND:
                if transport.is_closing():
                    return
                await asyncio.sleep(DRAIN_POLL)
            wire = self.backlog.popleft()
            if wire is None:
                return
            if self.ws.closed or transport.is_closing():
                return
            transport.write(wire)

    def finish(self) -> None:
        """Let the pump write what is queued, then stop; later frames drop."""
        self.finished = True
        self.backlog.append(None)
        self.wake.set()

    async def close_after_flush(self, pump: asyncio.Task[None] | None) -> None:
        """Close with 1008 once the last queued frame (the reason) is out."""
        if pump is not None:
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(pump), 1.0)
        await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"Removed")

    async def close(self, reason: str, pump: asyncio.Task[None] | None) -> None:
        """Flush the queue (briefly), then close the socket with 1001."""
        if pump is not None:
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(pump), 1.0)
        await self.ws.close(code=WSCloseCode.GOING_AWAY, message=reason.encode()[:120])


def frame(kind: str, **fields: Any) -> str:
    """Encode one protocol message."""
    return json.dumps(
        {"type": kind, **fields}, ensure_ascii=False, separators=(",", ":")
    )


def dumps(value: Any) -> str:
    """Encode a value compactly, the one way the host writes JSON."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


#: Seconds between checks for away seats whose time is up, at most.
EXPIRY_CHECK = 1.0
#: Seconds before a timer that could not save its reveal tries again.
STORAGE_RETRY = 2.0


class Room:
    """One game loaded on this host, and the sockets of its players."""

    def __init__(self, game: Game, store: Store) -> None:
        self.game = game
        self.store = store
        self.clients: set[Client] = set()
        self.on_change: Callable[[Room], None] | None = None
        self.closing = False
        self.timer_handle: asyncio.TimerHandle | None = None
        self.expiring: asyncio.Task[None] | None = None
        #: Armed while nobody is connected, on a host that unloads idle games.
        self.unload_handle: asyncio.TimerHandle | None = None

    def players(self) -> int:
        """Count the seats with someone connected."""
        return sum(1 for s in self.game.seats.values() if s.connected)

    def commit(self, change: Change) -> None:
        """Store a change, then tell every player: stored before shown."""
        if not change:
            return
        try:
            self.store.save(self.game, change)
        except StorageError:
            self.restore()
            raise
        if change.backlog:
            self.broadcast(frame(Msg.BACKLOG, stories=self.game.public_backlog()))
        for client in [c for c in self.clients if c.seat in change.removed]:
            client.send(frame(Msg.REMOVED, reason=change.removed[client.seat]))
            client.seat = None
            client.finish()
            asyncio.ensure_future(client.close_after_flush(client.pump_task))
        if change.game:
            self.broadcast_state()
        else:
            # Only seats changed: send those records, not the whole game.
            for sid in change.seats:
                seat = self.game.seats.get(sid)
                if seat is None:
                    continue
                self.broadcast(frame(Msg.SEAT, seat=seat.public(self.game.revealed)))
                for client in self.clients:
                    if client.seat == sid:
                        client.send(frame(Msg.YOU, vote=seat.vote))
        self.schedule_timer()
        if self.on_change is not None:
            self.on_change(self)

    def restore(self) -> None:
        """Put the game back as last stored, after a change failed to save.

        The rules change the game before it is stored; a change nobody was
        told of must not live on in memory, to be revealed or saved later.
        """
        try:
            stored = self.store.load(self.game.id)
        except StorageError as exc:
            log.error("The game could not be read back either: %s", exc)
            return
        seated = {c.seat for c in self.clients if c.seat is not None}
        now = time.time()
        for sid, seat in stored.seats.items():
            # Who is connected is the sockets' truth, not the store's.
            seat.connected = sid in seated
            if seat.connected:
                seat.away_since = None
            elif seat.away_since is None:
                seat.away_since = now
        for name in Game.__dataclass_fields__:
            setattr(self.game, name, getattr(stored, name))
        for client in self.clients:
            if client.seat not in self.game.seats:
                client.seat = None
        self.schedule_timer()

    def broadcast(self, shared: str) -> None:
        """Send one frame to every seated client, encoded once for all."""
        wire = wire_text(shared)
        for client in self.clients:
            if client.seat is not None:
                client.send(wire)

    def schedule_timer(self) -> None:
        """Wake up when the round's countdown reaches zero on this clock."""
        if self.timer_handle is not None:
            self.timer_handle.cancel()
            self.timer_handle = None
        due = self.game.timer_due()
        if due is None or self.closing:
            return
        loop = asyncio.get_running_loop()
        self.timer_handle = loop.call_later(max(0.0, due - time.time()), self._rang)

    def _rang(self) -> None:
        self.timer_handle = None
        try:
            self.commit(self.game.tick(time.time()))
        except StorageError as exc:
            log.error("%s", exc)
            # Not again at once (as restore() scheduled it): each try may
            # wait on a locked database, with every game waiting behind it.
            if self.timer_handle is not None:
                self.timer_handle.cancel()
            self.timer_handle = asyncio.get_running_loop().call_later(
                STORAGE_RETRY, self._rang
            )
            return
        # The loop's clock may wake us a hair before the wall clock's zero:
        # then tick() did nothing and the timer is still due.
        self.schedule_timer()

    def broadcast_state(self, exclude: Client | None = None) -> None:
        """Send every seated client the full game with its own card."""
        # One encoding of the shared part for everybody; only the small
        # personal part is encoded per player.
        shared = dumps(self.game.public())
        for client in self.clients:
            if client.seat is not None and client is not exclude:
                client.send(self.state_frame(client.seat, shared))

    def state_frame(self, seat_id: str, shared: str | None = None) -> str:
        """Encode the full view of one seat."""
        shared = shared if shared is not None else dumps(self.game.public())
        you = dumps(self.game.you(seat_id))
        # The host's time, so that pages can run the timer on this clock.
        now = f"{time.time():.3f}"
        return f'{{"type":"{Msg.STATE}","now":{now},"you":{you},"game":{shared}}}'

    async def expire_forever(self) -> None:
        """Give up away seats when their time is up, for as long as hosted."""
        warned = False
        while True:
            due = self.game.next_expiry()
            wait = EXPIRY_CHECK if due is None else due - time.time()
            # Checked at least every EXPIRY_CHECK seconds: the facilitator
            # may shorten the timeout meanwhile.
            await asyncio.sleep(min(max(wait, 0.05), EXPIRY_CHECK))
            try:
                self.commit(self.game.expire(time.time()))
            except StorageError as exc:
                (wslog.debug if warned else wslog.warning)("%s", exc)
                warned = True

    async def close_all(self, reason: str) -> None:
        """Say goodbye to every client and close their sockets (1001)."""
        # Players leaving because the host closes must not count as leaving
        # the table: that would auto-reveal an open round behind their backs.
        self.closing = True
        self.schedule_timer()  # closing: this only cancels it
        if self.expiring is not None:
            self.expiring.cancel()
        clients = list(self.clients)
        for client in clients:
            client.send(frame(Msg.GOODBYE, reason=reason))
            client.finish()
        closing = [c.close(reason, c.pump_task) for c in clients]
        await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), 2.5)


def check_message(raw: str) -> dict[str, Any]:
    """Parse one client frame into a message dict, or refuse it."""
    try:
        msg = parse_json(raw)
    except UnicodeError:
        raise Refused(
            "bad_message",
            "That message holds text that is not valid Unicode (a lone "
            "surrogate escape); send UTF-8 text.",
        ) from None
    except (ValueError, RecursionError):
        raise Refused("bad_json", "That message is not valid JSON.") from None
    if not isinstance(msg, dict):
        raise Refused("bad_message", "A message must be a JSON object.")
    kind = msg.get("type")
    if not isinstance(kind, str):
        raise Refused("bad_message", "A message needs a 'type' field.")
    if kind not in CLIENT_TYPES:
        raise Refused("unknown_type", f"Unknown message type {kind[:40]!r}.")
    return msg


def field_of(msg: dict[str, Any], name: str) -> Any:
    """Return a required field of a message, or refuse the message."""
    if name not in msg:
        raise Refused(
            "bad_message", f"The '{msg['type']}' message needs a '{name}' field."
        )
    return msg[name]


#: Message handlers: (game, seat id, message) -> Change. ``join`` and
#: ``ping`` are handled by the connection itself.
HANDLERS: dict[str, Callable[[Game, str, dict[str, Any]], Change]] = {
    Msg.VOTE: lambda g, s, m: g.vote(s, field_of(m, "card")),
    Msg.REVEAL: lambda g, s, m: g.reveal(s),
    Msg.NEW_ROUND: lambda g, s, m: g.new_round(s, m.get("story")),
    Msg.SET_STORY: lambda g, s, m: g.set_story(s, field_of(m, "story")),
    Msg.SET_DECK: lambda g, s, m: g.set_deck(
        s, field_of(m, "deck"), m.get("cards"), m.get("confirm", False)
    ),
    Msg.SET_ROLE: lambda g, s, m: g.set_role(s, field_of(m, "role")),
    Msg.SET_AUTO_REVEAL: lambda g, s, m: g.set_auto_reveal(s, field_of(m, "on")),
    Msg.REMOVE: lambda g, s, m: g.remove(s, field_of(m, "seat"), m.get("reason")),
    Msg.PASS_FACILITATOR: lambda g, s, m: g.pass_facilitator(s, field_of(m, "seat")),
    Msg.CLAIM_FACILITATOR: lambda g, s, m: g.claim_facilitator(s, time.time()),
    Msg.ESTIMATE: lambda g, s, m: g.record_estimate(s, field_of(m, "value")),
    Msg.NEXT_STORY: lambda g, s, m: g.next_story(s, m.get("id")),
    Msg.STORY_ADD: lambda g, s, m: g.add_story(
        s, field_of(m, "title"), m.get("key"), m.get("description")
    ),
    Msg.STORY_EDIT: lambda g, s, m: g.edit_story(s, field_of(m, "id"), m),
    Msg.STORY_MOVE: lambda g, s, m: g.move_story(
        s, field_of(m, "id"), field_of(m, "to")
    ),
    Msg.STORY_REMOVE: lambda g, s, m: g.remove_story(s, field_of(m, "id")),
    Msg.STORY_SKIP: lambda g, s, m: g.skip_story(
        s, field_of(m, "id"), m.get("skipped", True)
    ),
    Msg.START_TIMER: lambda g, s, m: g.start_timer(
        s, field_of(m, "seconds"), m.get("reveal", True)
    ),
    Msg.STOP_TIMER: lambda g, s, m: g.stop_timer(s),
    Msg.SET_AWAY_TIMEOUT: lambda g, s, m: g.set_away_timeout(s, field_of(m, "seconds")),
}
CLIENT_TYPES = frozenset(HANDLERS) | {Msg.JOIN, Msg.PING}


class Host:
    """The embedded web server: serves the page, the sockets and the lobby.

    The desktop app hosts one game. A host made with ``many`` (headless)
    holds any number: each is created over HTTP, loaded from the store when
    someone connects to it, and unloaded after ``idle_unload`` seconds with
    nobody connected (None: never).
    """

    def __init__(
        self,
        store: Store,
        host_name: str,
        *,
        lobby_key: str | None = None,
        many: bool = False,
        idle_unload: float | None = None,
    ) -> None:
        self.store = store
        self.host_name = host_name
        self.lobby_key = lobby_key
        self.many = many
        self.idle_unload = idle_unload
        self.rooms: dict[str, Room] = {}
        self.port: int | None = None
        self.lobby_port: int | None = None
        self.runner: web.AppRunner | None = None
        self.sites: list[web.SockSite] = []
        self.game_site: web.SockSite | None = None
        self.bind = "0.0.0.0"
        self.finder: Finder | None = None
        self.advertiser: Advertiser | None = None
        self.settings: Settings | None = None
        self.on_room_change: Callable[[Room], None] | None = None
        self.max_sockets = MAX_SOCKETS
        self.max_per_address = MAX_SOCKETS_PER_ADDRESS
        #: Open sockets per peer address.
        self.sockets: dict[str, int] = {}
        #: New games per peer address: (budget left, when it was counted).
        self.creations: dict[str, tuple[float, float]] = {}
        #: Wrong passcodes per peer address: (how many, answer not before).
        self.wrong_passcodes: dict[str, tuple[int, float]] = {}
        self.checkpoints: asyncio.Task[None] | None = None
        self.app: web.Application | None = None  # made when it first listens
        #: Headless: the game named on the command line, at the bare address.
        self.primary: str | None = None

    # -- setup

    def _make_app(self) -> web.Application:
        @web.middleware
        async def own_names_only(
            request: web.Request, handler: Callable[[web.Request], Any]
        ) -> web.StreamResponse:
            if not host_name_ok(request.host):
                wslog.warning("Refused a request for host name %r", request.host)
                raise web.HTTPMisdirectedRequest(
                    text="This game answers only at its own address. Open the "
                    "address the host shows."
                )
            return await handler(request)

        app = web.Application(client_max_size=MAX_FRAME, middlewares=[own_names_only])
        app.router.add_get("/", self.page)
        app.router.add_get("/ws", self.websocket)
        app.router.add_get("/api/game", self.api_game)
        app.router.add_get("/games", self.games_page)
        app.router.add_get("/api/games", self.api_games)
        app.router.add_post("/api/games", self.create_game)
        app.router.add_get("/qr.svg", self.qr)
        app.router.add_post("/api/import", self.import_csv)
        app.router.add_get("/api/export", self.export)
        app.router.add_get("/api/local/state", self.local_state)
        app.router.add_get("/api/local/export", self.local_export)
        app.router.add_post("/api/local/{action}", self.local_action)
        app.router.add_static("/assets/", ASSETS_DIR, follow_symlinks=False)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _listen(
        self, bind: str, port: int, sock: socket.socket | None = None
    ) -> tuple[web.SockSite, int]:
        if self.runner is None:
            import_aiohttp()
            self.app = self._make_app()
            self.runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
            await self.runner.setup()
            self.checkpoints = asyncio.create_task(self._checkpoint_forever())
        if sock is None:
            sock = bound_socket(bind, port)
        site = web.SockSite(self.runner, sock)
        await site.start()
        self.sites.append(site)
        return site, sock.getsockname()[1]

    async def start(
        self, port: int = 0, bind: str = "0.0.0.0", sock: socket.socket | None = None
    ) -> int:
        """Listen for players on ``bind``:``port`` (0 picks a free port), or
        on ``sock`` from bound_socket()."""
        self.game_site, self.port = await self._listen(bind, port, sock)
        self.bind = bind
        return self.port

    async def start_lobby(self) -> int:
        """Listen on loopback only, for the desktop window's lobby."""
        _, self.lobby_port = await self._listen("127.0.0.1", 0)
        return self.lobby_port

    def open_room(self, game: Game) -> Room:
        """Load a game into memory, ready for players."""
        room = Room(game, self.store)
        room.on_change = self._room_changed
        # Nobody is connected to a game just loaded: the away clock of each
        # seat starts now (or keeps running from before a clean stop).
        game.all_away(time.time())
        self.store.save(game, port=self.port)  # a game that cannot be stored
        self.rooms[game.id] = room  # is not served: it would be lost
        room.schedule_timer()  # a resumed game's countdown runs on
        room.expiring = asyncio.get_running_loop().create_task(room.expire_forever())
        self.arm_unload(room)
        log.info("Hosting %r (game %s)", game.title, game.id)
        return room

    def load_room(self, game_id: str) -> Room | None:
        """Return a game of this host, loading a stored one (``many`` only)."""
        room = self.rooms.get(game_id)
        if room is not None or not self.many:
            return room
        try:
            game = self.store.load(game_id)
        except StorageError:
            return None
        if len(self.rooms) >= MAX_LOADED_GAMES:
            raise PokerError(
                f"This host already holds {len(self.rooms)} games in memory; "
                "try again in a few minutes, when idle ones are put away."
            )
        room = self.open_room(game)
        self.advertise(room)
        return room

    def advertise(self, room: Room) -> None:
        """Start advertising a game; mDNS probing goes on in the background."""
        if self.advertiser is not None:
            self.advertiser.advertise_soon(room.game, self.port or 0, self.bind)

    def arm_unload(self, room: Room) -> None:
        """Unload ``room`` once nobody has been connected for a while."""
        if room.unload_handle is not None:
            room.unload_handle.cancel()
            room.unload_handle = None
        if (
            self.idle_unload is None
            or room.clients
            or room.closing
            or room.game.id == self.primary
        ):
            # The command line's game stays: its printed address and its mDNS
            # listing are what the team was given.
            return
        # A running countdown must reveal at its zero, not whenever the game
        # is next loaded: the game waits for it, then for the idle time.
        due = room.game.timer_due()
        wait = self.idle_unload + max(0.0, (due or 0.0) - time.time())
        room.unload_handle = asyncio.get_running_loop().call_later(
            wait, self._unload, room
        )

    def _unload(self, room: Room) -> None:
        room.unload_handle = None
        if self.rooms.get(room.game.id) is not room or room.clients:
            return
        # Every change was committed as it happened: nothing left to save.
        room.closing = True
        room.schedule_timer()  # closing: this only cancels it
        if room.expiring is not None:
            # Left running, it would save this stale copy over the game when
            # an away seat's time came, after the game was loaded again.
            room.expiring.cancel()
            room.expiring = None
        del self.rooms[room.game.id]
        if self.advertiser is not None:
            self.advertiser.withdraw_soon(room.game.id)
        log.info(
            "Unloaded %r (game %s) after %.0f s with nobody connected",
            room.game.title,
            room.game.id,
            self.idle_unload,
        )

    async def _checkpoint_forever(self) -> None:
        while True:
            await asyncio.sleep(CHECKPOINT_EVERY)
            if self.store.unchecked:
                await asyncio.to_thread(self.store.checkpoint)

    def _room_changed(self, room: Room) -> None:
        if self.on_room_change is not None:
            self.on_room_change(room)

    async def stop(self, reason: str = "The host closed the game.") -> None:
        """Say goodbye, close every socket, stop advertising and listening."""
        if self.advertiser is not None:
            await self.advertiser.async_close()
        for room in self.rooms.values():
            if room.unload_handle is not None:
                room.unload_handle.cancel()
            with contextlib.suppress(asyncio.TimeoutError):
                await room.close_all(reason)
        if self.finder is not None:
            await self.finder.async_close()
        if self.checkpoints is not None:
            self.checkpoints.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.checkpoints
        if self.runner is not None:
            await self.runner.cleanup()
        self.rooms.clear()
        log.info("Stopped")

    async def _on_shutdown(self, app: web.Application) -> None:
        for room in self.rooms.values():
            for client in list(room.clients):
                await client.ws.close(
                    code=WSCloseCode.GOING_AWAY, message=b"Host closed"
                )

    # -- urls

    def join_url(self, game_id: str | None = None) -> str:
        """The address teammates type or scan to join."""
        if self.bind in ("0.0.0.0", "::", ""):
            address = (lan_addresses() or ["127.0.0.1"])[0]
        else:
            address = self.bind  # listening on one address only: that one
        base = f"http://{url_host(address)}:{self.port}/"
        # The bare address is the game of the command line, however many
        # games come and go: every other game needs its id.
        if game_id is not None and self.many and game_id != self.primary:
            base += f"?game={game_id}"
        return base

    def requested_game(self, request: web.Request) -> str | None:
        """The game id a request names; on a headless host the bare address
        names the game of the command line, loaded or not."""
        return request.query.get("game") or (self.primary if self.many else None)

    def room_for(self, request: web.Request, *, load: bool = False) -> Room | None:
        """Return the room a request names (loading it when ``load``), or the
        only one."""
        game_id = self.requested_game(request)
        if game_id:
            return self.load_room(game_id) if load else self.rooms.get(game_id)
        if len(self.rooms) == 1:
            return next(iter(self.rooms.values()))
        return None

    # -- pages

    def _on_lobby_site(self, request: web.Request) -> bool:
        sockname = (
            request.transport.get_extra_info("sockname") if request.transport else None
        )
        return bool(self.lobby_port and sockname and sockname[1] == self.lobby_port)

    async def page(self, request: web.Request) -> web.StreamResponse:
        """Serve the lobby on the lobby site, the game page elsewhere."""
        name = "lobby.html" if self._on_lobby_site(request) else "index.html"
        if name == "index.html" and self.many and not self.requested_game(request):
            name = "games.html"  # no game of the command line: the list
        return self._asset_page(name)

    async def games_page(self, request: web.Request) -> web.StreamResponse:
        """The list of a headless host's games, with a form for a new one."""
        if not self.many:
            raise web.HTTPNotFound(text="This host holds one game: open /.")
        return self._asset_page("games.html")

    def _asset_page(self, name: str) -> web.StreamResponse:
        page = ASSETS_DIR / name
        if not page.is_file():
            log.error("The page %s is missing: the app is incomplete", page)
            raise web.HTTPInternalServerError(
                text=f"This copy of the app is missing {name}. Reinstall it."
            )
        return web.FileResponse(page, headers={"Cache-Control": "no-cache"})

    def room_or_stored(self, request: web.Request) -> Room | None:
        """Return the room a request names, or a headless host's stored game
        read into a room of its own that is not loaded."""
        room = self.room_for(request)
        game_id = self.requested_game(request)
        if room is None and self.many and game_id:
            # Answered from the store without loading it, so that listings
            # checking a game, or a late export, cannot keep it in memory.
            with contextlib.suppress(StorageError):
                room = Room(self.store.load(game_id), self.store)
        return room

    async def api_game(self, request: web.Request) -> web.Response:
        """Public facts of a game, also the liveness check of listings."""
        room = self.room_or_stored(request)
        if room is None:
            return web.json_response(
                {"error": "There is no such game on this host."}, status=404
            )
        return web.json_response(self.game_facts(room))

    async def api_games(self, request: web.Request) -> web.Response:
        """The games of a headless host, for its list page."""
        if not self.many:
            raise web.HTTPNotFound(text="This host holds one game.")
        games = []
        for record in self.store.recent(GAMES_LISTED):
            room = self.rooms.get(record["id"])
            games.append(
                {
                    "id": record["id"],
                    "title": record["title"],
                    "updated": record["updated"],
                    "round": record["round"],
                    "seats": record["players"],
                    "loaded": room is not None,
                    "players": room.players() if room is not None else 0,
                    "url": f"/?game={record['id']}",
                }
            )
        return web.json_response(
            {"host": self.host_name, "games": games, "decks": list(DECKS)}
        )

    async def create_game(self, request: web.Request) -> web.Response:
        """Create a game on a headless host: ``title`` and ``deck`` in JSON."""
        if not self.many:
            raise web.HTTPNotFound(text="This host holds one game.")
        if not self._origin_ok(request):
            return web.json_response(
                {"error": "This host only accepts its own pages."}, status=403
            )
        if not self._may_create(request.remote or "?"):
            return web.json_response(
                {
                    "error": f"Too many new games from your computer (at most "
                    f"{CREATE_BURST} at once, then one a minute). Use one of "
                    "those, or try again in a minute."
                },
                status=429,
            )
        body = await json_object(request)
        if body is None:
            return web.json_response({"error": "Send a JSON object."}, status=400)
        if len(self.rooms) >= MAX_LOADED_GAMES:
            return web.json_response(
                {"error": "This host holds too many games right now; try later."},
                status=503,
            )
        try:
            # Left out or blank, the default; of the wrong kind, refused.
            title = body.get("title")
            game = Game.new(
                DEFAULT_TITLE if title in (None, "") else title,
                self.host_name,
                body.get("deck", DEFAULT_DECK),
            )
            game.lock(body.get("passcode"))
        except Refused as exc:
            return web.json_response({"error": str(exc)}, status=400)
        try:
            room = self.open_room(game)
        except StorageError as exc:
            log.error("%s", exc)
            return web.json_response({"error": str(exc)}, status=500)
        self.advertise(room)
        return web.json_response(
            {"id": game.id, "url": f"/?game={game.id}", **self.game_facts(room)},
            status=201,
        )

    def _may_create(self, peer: str) -> bool:
        """Take one new game from an address's budget; False when spent.

        Without it one script fills the host with a thousand games in a
        fifth of a second, and the team's own games drop off the list page.
        """
        now = time.monotonic()
        budget, since = self.creations.get(peer, (float(CREATE_BURST), now))
        budget = min(CREATE_BURST, budget + (now - since) * CREATE_PER_SECOND)
        if budget < 1:
            self.creations[peer] = (budget, now)
            return False
        if len(self.creations) > 10_000:  # bounded: forget the full budgets
            self.creations = {
                p: v for p, v in self.creations.items() if v[0] < CREATE_BURST - 1
            }
        self.creations[peer] = (budget - 1, now)
        return True

    def game_facts(self, room: Room) -> dict[str, Any]:
        """Return what a listing shows of a game."""
        return {
            "id": room.game.id,
            "title": room.game.title,
            "host": room.game.host,
            "players": room.players(),
            "protocol": PROTOCOL_VERSION,
            "locked": room.game.locked,
            "joinUrl": self.join_url(room.game.id),
            # A headless host's list of games, for the page to link to.
            "games": "/games" if self.many else None,
        }

    async def qr(self, request: web.Request) -> web.Response:
        """The join URL as an SVG QR code, for phones."""
        import segno

        room = self.room_or_stored(request)
        if room is None:
            raise web.HTTPNotFound(text="There is no such game on this host.")
        code = segno.make(self.join_url(room.game.id), error="m")
        out = io.BytesIO()
        # A whole SVG document (with its xmlns): an <img> will not draw less.
        code.save(
            out, kind="svg", scale=6, dark="#111", light="#fff", border=2, xmldecl=False
        )
        return web.Response(body=out.getvalue(), content_type="image/svg+xml")

    # -- backlog import and results export (HTTP: a file outgrows a frame)

    async def import_csv(self, request: web.Request) -> web.Response:
        """Preview a backlog file for the facilitator, or import it."""

        def refuse(status: int, message: str, line: int = 0) -> web.Response:
            return web.json_response({"error": message, "line": line}, status=status)

        room = self.room_for(request)
        if room is None:
            return refuse(404, "There is no such game on this host.")
        if not self._origin_ok(request):
            return refuse(403, "This game only accepts its own pages.")
        token = request.headers.get("X-Poker-Token", "")
        seat = room.game.seat_for_token(token) if token else None
        if seat is None or seat.id != room.game.facilitator:
            return refuse(403, "Only the facilitator can import stories.")
        too_big = f"The file is over {MAX_IMPORT // (1024 * 1024)} MiB; split it."
        if (request.content_length or 0) > MAX_IMPORT:
            return refuse(413, too_big)
        data = bytearray()
        async for chunk in request.content.iter_chunked(64 * 1024):
            data += chunk
            if len(data) > MAX_IMPORT:
                return refuse(413, too_big)
        try:
            table = read_csv(bytes(data))
            columns = [
                import_column(request.query, name, default)
                for name, default in (
                    ("title", table.title),
                    ("key", table.key),
                    ("description", table.description),
                )
            ]
            if columns[0] is None:
                raise ImportProblem("Choose the column that holds the titles.")
            stories = table_stories(table, columns[0], columns[1], columns[2])
        except ImportProblem as exc:
            return refuse(400, str(exc), exc.line)
        answer: dict[str, Any] = {
            "columns": table.header,
            "title": columns[0],
            "key": columns[1],
            "description": columns[2],
            "obvious": table.obvious,
            "stories": len(stories),
            "sample": [s.public() for s in stories[:5]],
            "imported": 0,
        }
        if request.query.get("commit") == "1":
            try:
                room.commit(room.game.add_stories(seat.id, stories))
            except Refused as exc:
                return refuse(400, str(exc))
            except StorageError as exc:
                log.error("%s", exc)
                return refuse(500, str(exc))
            answer["imported"] = len(stories)
            log.info("Imported %s stories into %r", len(stories), room.game.title)
        return web.json_response(answer)

    async def export(self, request: web.Request) -> web.Response:
        """The results of a game on this host, as CSV or Markdown."""
        room = self.room_or_stored(request)
        if room is None:
            raise web.HTTPNotFound(text="There is no such game on this host.")
        # A passcode keeps the cards among the players: a download link
        # cannot send a header, so the seat token may come in the query.
        token = request.headers.get("X-Poker-Token") or request.query.get("token")
        if room.game.locked and (not token or not room.game.seat_for_token(token)):
            raise web.HTTPForbidden(
                text="This game has a passcode: join it, then download the "
                "results from the game page."
            )
        return export_response(room.game, request.query.get("format", "csv"))

    # -- the websocket

    def _origin_ok(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # not a browser: the desktop app or a script
        parts = urlsplit(origin)
        return parts.netloc.lower() == request.host.lower()

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        """Seat one player and play until they leave."""
        if not self._origin_ok(request):
            wslog.warning(
                "Refused a socket from origin %s", request.headers.get("Origin")
            )
            raise web.HTTPForbidden(text="This game only accepts its own pages.")
        try:
            room = self.room_for(request, load=True)
        except PokerError as exc:
            raise web.HTTPServiceUnavailable(text=str(exc)) from None
        if room is None:
            raise web.HTTPNotFound(text="There is no such game on this host.")
        peer = request.remote or "?"
        self._admit(peer)
        self.sockets[peer] = self.sockets.get(peer, 0) + 1
        try:
            return await self._play(request, room, peer)
        finally:
            self.sockets[peer] -= 1
            if not self.sockets[peer]:
                del self.sockets[peer]

    def _admit(self, peer: str) -> None:
        """Refuse a socket over the host's limits, before the upgrade."""
        if sum(self.sockets.values()) >= self.max_sockets:
            wslog.warning("Refused a socket from %s: %s open", peer, self.max_sockets)
            raise web.HTTPServiceUnavailable(
                text=f"This host is full ({self.max_sockets} connections). "
                "Try again later."
            )
        if self.sockets.get(peer, 0) >= self.max_per_address:
            wslog.warning("Refused a socket from %s: too many from there", peer)
            raise web.HTTPTooManyRequests(
                text=f"Too many connections from {peer} (at most "
                f"{self.max_per_address}). Close some windows of this game."
            )

    async def _play(
        self, request: web.Request, room: Room, peer: str
    ) -> web.WebSocketResponse:
        # aiohttp refuses a frame whose size is >= max_msg_size.
        ws = web.WebSocketResponse(
            max_msg_size=MAX_FRAME + 1, heartbeat=HEARTBEAT, compress=False
        )
        await ws.prepare(request)
        if self.rooms.get(room.game.id) is not room:
            # Unloaded while the handshake was on its way: load it again.
            try:
                room = self.load_room(room.game.id) or room
            except PokerError as exc:
                await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"Busy")
                wslog.warning("%s", exc)
                return ws
        client = Client(ws, peer, request.transport)
        room.clients.add(client)
        self.arm_unload(room)  # someone is here: this only disarms it
        pump = client.pump_task = asyncio.create_task(client.pump())
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._receive(room, client, message.data)
                elif message.type == WSMsgType.BINARY:
                    # Binary frames spend the same budget: a flood of them
                    # is refused like any other.
                    code, text = (
                        ("binary", "Send text frames with JSON, not binary.")
                        if client.allow()
                        else ("too_fast", "Too many messages; slow down.")
                    )
                    client.send(frame(Msg.ERROR, code=code, ref=None, message=text))
                elif message.type == WSMsgType.ERROR:
                    wslog.debug("Socket of %s failed: %s", client.peer, ws.exception())
        except asyncio.CancelledError:
            raise
        finally:
            room.clients.discard(client)
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            if (
                client.seat is not None
                and not room.closing
                and not any(c.seat == client.seat for c in room.clients)
            ):
                with contextlib.suppress(KeyError, StorageError):
                    room.commit(room.game.set_connected(client.seat, False))
            self.arm_unload(room)
            wslog.debug("Socket of %s closed", client.peer)
        return ws

    def _receive(self, room: Room, client: Client, raw: str) -> None:
        ref = None
        try:
            if not client.allow():
                raise Refused("too_fast", "Too many messages; slow down.")
            msg = check_message(raw)
            ref = msg["type"]
            wslog.debug("%s from %s", ref, client.peer)
            if ref == Msg.PING:
                client.send(frame(Msg.PONG))
            elif ref == Msg.JOIN:
                self._join(room, client, msg)
            elif client.seat is None:
                raise Refused("not_joined", "Send 'join' first.")
            else:
                room.commit(HANDLERS[ref](room.game, client.seat, msg))
        except Refused as exc:
            error = frame(Msg.ERROR, code=exc.code, message=str(exc), ref=ref)
            if exc.delay:
                asyncio.get_running_loop().call_later(exc.delay, client.send, error)
            else:
                client.send(error)
        except StorageError as exc:
            log.error("%s", exc)
            client.send(frame(Msg.ERROR, code="storage", message=str(exc), ref=ref))

    def _check_passcode(self, game: Game, peer: str, msg: dict[str, Any]) -> None:
        """Let a join into a locked game pass, or refuse it (slowly)."""
        token = msg.get("token")
        if not game.locked or (
            isinstance(token, str) and token and game.seat_for_token(token)
        ):
            return  # a seat's token was let in before: no passcode again
        passcode = msg.get("passcode")
        if passcode is None or passcode == "":
            raise Refused("bad_passcode", "This game needs a passcode. Ask the host.")
        now = time.monotonic()
        wrong, until = self.wrong_passcodes.get(peer, (0, 0.0))
        # A guess made while the last wrong one is still being answered is
        # not even checked: one guess per delay, whatever the client sends.
        if now >= until and game.passcode_ok(passcode):
            self.wrong_passcodes.pop(peer, None)
            return
        if len(self.wrong_passcodes) > 10_000:  # bounded: forget old guessers
            self.wrong_passcodes = {
                p: v for p, v in self.wrong_passcodes.items() if v[1] > now - 600
            }
        delay = min(PASSCODE_DELAY_FIRST * 2**wrong, PASSCODE_DELAY_MAX)
        self.wrong_passcodes[peer] = (wrong + 1, max(until, now) + delay)
        wslog.info("Wrong passcode from %s (%d in a row)", peer, wrong + 1)
        raise Refused(
            "bad_passcode",
            "That passcode is not right. Check it with the host and try again.",
            delay=max(until, now) + delay - now,
        )

    def _join(self, room: Room, client: Client, msg: dict[str, Any]) -> None:
        if client.seat is not None:
            raise Refused("bad_message", "You have already joined.")
        self._check_passcode(room.game, client.peer, msg)
        seat, change = room.game.join(
            field_of(msg, "name"), msg.get("token"), msg.get("role")
        )
        try:
            room.store.save(room.game, change)
        except StorageError:
            room.restore()
            raise
        for other in list(room.clients):
            if other is not client and other.seat == seat.id:
                # The same token from a second window: the newest one wins.
                other.send(
                    frame(
                        Msg.ERROR,
                        code="taken_over",
                        ref=None,
                        message="This seat was opened in another window.",
                    )
                )
                other.seat = None
                other.finish()
                asyncio.ensure_future(
                    other.ws.close(
                        code=WSCloseCode.POLICY_VIOLATION, message=b"Seat taken over"
                    )
                )
        client.seat = seat.id
        client.send(
            frame(
                Msg.WELCOME,
                seat=seat.id,
                token=seat.token,
                game=room.game.id,
                protocol=PROTOCOL_VERSION,
            )
        )
        client.send(room.state_frame(seat.id))
        client.send(frame(Msg.BACKLOG, stories=room.game.public_backlog()))
        if change.game:
            room.broadcast_state(exclude=client)
        else:
            shared = frame(Msg.SEAT, seat=seat.public(room.game.revealed))
            for other in room.clients:
                if other is not client and other.seat is not None:
                    other.send(shared)
        log.info("%r joined %r", seat.name, room.game.title)
        if room.on_change is not None:
            room.on_change(room)

    # -- the desktop lobby (loopback only, behind a per-launch key)

    def _local_ok(self, request: web.Request) -> bool:
        if not self.lobby_key or not self._on_lobby_site(request):
            return False
        key = request.headers.get("X-Poker-Key", "")
        if not key and request.method == "GET":
            key = request.query.get("key", "")  # a download link sends no header
        origin = request.headers.get("Origin")
        same = origin is None or origin == f"http://127.0.0.1:{self.lobby_port}"
        return same and secrets.compare_digest(
            key.encode("utf-8", "surrogateescape"), self.lobby_key.encode()
        )

    async def local_state(self, request: web.Request) -> web.Response:
        """Everything the lobby shows, in one answer."""
        if not self._local_ok(request):
            raise web.HTTPForbidden(
                text="The lobby is only open to this computer's app."
            )
        settings = self.settings
        hosting = None
        if self.rooms:
            room = next(iter(self.rooms.values()))
            hosting = {
                "id": room.game.id,
                "title": room.game.title,
                "url": self.own_url(room),
                "joinUrl": self.join_url(room.game.id),
            }
        games = [g.public() for g in self.finder.games()] if self.finder else []
        own = set(self.rooms)
        return web.json_response(
            {
                "name": settings.get("name", "") if settings else "",
                "games": [g for g in games if g["id"] not in own],
                "recent": self.store.recent(),
                "hosting": hosting,
                "notice": self.store.notice,
            }
        )

    def own_url(self, room: Room) -> str:
        """The page the host's own user plays on, with their seat token."""
        assert self.settings is not None
        name = self.settings.get("name", "") or "Host"
        token = self.settings.get("tokens", {}).get(room.game.id, "")
        lobby = f"http://127.0.0.1:{self.lobby_port}/"
        return (
            f"http://127.0.0.1:{self.port}/?game={room.game.id}"
            f"#name={quote(name)}&token={quote(token)}&lobby={quote(lobby, safe='')}"
        )

    async def local_export(self, request: web.Request) -> web.Response:
        """The results of any stored game, for the lobby's export links."""
        if not self._local_ok(request):
            raise web.HTTPForbidden(
                text="The lobby is only open to this computer's app."
            )
        try:
            game = self.store.load(request.query.get("id", ""))
        except StorageError as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
        return export_response(game, request.query.get("format", "csv"))

    async def local_action(self, request: web.Request) -> web.Response:
        """Host, resume, join, stop, or remember the user's name."""
        if not self._local_ok(request):
            raise web.HTTPForbidden(
                text="The lobby is only open to this computer's app."
            )
        body = await json_object(request)
        if body is None:
            return web.json_response({"error": "Send a JSON object."}, status=400)
        action = request.match_info["action"]
        handler = (
            getattr(self, f"local_{action}", None) if action in LOCAL_ACTIONS else None
        )
        if handler is None:
            raise web.HTTPNotFound(text=f"Unknown lobby action {action!r}.")
        try:
            return web.json_response(await handler(body))
        except (Refused, PokerError) as exc:
            return web.json_response({"error": str(exc)}, status=400)

    async def local_name(self, body: dict[str, Any]) -> dict[str, Any]:
        """Remember the user's name for next time."""
        assert self.settings is not None
        self.settings.set("name", clean_text(body.get("name"), "name", MAX_NAME))
        return {}

    async def local_host(self, body: dict[str, Any]) -> dict[str, Any]:
        """Host a new game from the desktop app."""
        game = Game.new(
            body.get("title") or DEFAULT_TITLE,
            self.host_name,
            body.get("deck") or DEFAULT_DECK,
        )
        game.lock(body.get("passcode"))
        return {"url": await self.host_game(game)}

    async def local_resume(self, body: dict[str, Any]) -> dict[str, Any]:
        """Host a stored game again, as it was."""
        game_id = body.get("id")
        if not isinstance(game_id, str):
            raise Refused("bad_message", "Say which game to resume.")
        if game_id in self.rooms:
            return {"url": self.own_url(self.rooms[game_id])}
        return {"url": await self.host_game(self.store.load(game_id))}

    async def host_game(self, game: Game) -> str:
        """Open a game to the network, seat the user, advertise it."""
        assert self.settings is not None
        if self.rooms:
            await self.local_stop({})
        if self.game_site is None:
            wanted = self.store.port_of(game.id) or self.settings.get("port") or 0
            try:
                await self.start(wanted)
            except PokerError:
                await self.start(0)
        tokens = dict(self.settings.get("tokens", {}))
        if game.seat_for_token(tokens.get(game.id, "") or "-") is None:
            seat = game.add_seat(self.settings.get("name", "") or "Host")
            tokens[game.id] = seat.token
            self.settings.set("tokens", tokens)
        room = self.open_room(game)
        if self.advertiser is not None:
            await self.advertiser.async_advertise(room.game, self.port or 0, self.bind)
        return self.own_url(room)

    async def local_join(self, body: dict[str, Any]) -> dict[str, Any]:
        """Check that an address answers as a game, and give its page URL."""
        assert self.settings is not None
        url = await probe_address(body.get("address"))
        name = self.settings.get("name", "")
        lobby = f"http://127.0.0.1:{self.lobby_port}/"
        return {"url": f"{url}#name={quote(name)}&lobby={quote(lobby, safe='')}"}

    async def local_stop(self, body: dict[str, Any]) -> dict[str, Any]:
        """Stop hosting: goodbye to the players, unregister, close the port."""
        for room in list(self.rooms.values()):
            if self.advertiser is not None:
                await self.advertiser.async_withdraw(room.game.id)
            with contextlib.suppress(asyncio.TimeoutError):
                await room.close_all("The host closed the game.")
        self.rooms.clear()
        if self.game_site is not None:
            await self.game_site.stop()
            self.sites.remove(self.game_site)
            self.game_site, self.port = None, None
        return {}


LOCAL_ACTIONS = frozenset({"name", "host", "resume", "join", "stop"})


async def json_object(request: web.Request) -> dict[str, Any] | None:
    """The JSON object a request carries, or None for anything else."""
    try:
        body = parse_json(await request.text())
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def import_column(query: Any, name: str, default: int | None) -> int | None:
    """Read a column choice (?title=2, ?key=-1 for none) of an import."""
    raw = query.get(name)
    if raw is None:
        return default
    try:
        column = int(raw)
    except ValueError:
        raise ImportProblem(f"The {name} column must be a number.") from None
    return None if column < 0 else column


def export_response(game: Game, kind: str) -> web.Response:
    """A download of a game's results: ``csv`` or ``md``."""
    stem = "-".join("".join(c if c.isalnum() else " " for c in game.title).split())
    name = f"{stem or 'planning-poker'}-results"
    if kind == "csv":
        body, mime, suffix = export_csv(game), "text/csv", "csv"
    elif kind == "md":
        body, mime, suffix = export_markdown(game).encode(), "text/markdown", "md"
    else:
        raise web.HTTPBadRequest(text="Ask for format=csv or format=md.")
    disposition = f"attachment; filename*=UTF-8''{quote(f'{name}.{suffix}')}"
    return web.Response(
        body=body,
        headers={
            "Content-Type": f"{mime}; charset=utf-8",
            "Content-Disposition": disposition,
        },
    )


async def probe_address(address: Any, within: float = 3.0) -> str:
    """Turn what a user typed into a game page URL, if a game answers there."""
    from aiohttp import ClientError, ClientSession, ClientTimeout

    if not isinstance(address, str) or not address.strip():
        raise PokerError("Type the address the host shows, like 192.168.1.20:8000.")
    text = address.strip()
    if "://" not in text:
        text = f"http://{text}"
    not_an_address = f"{address!r} is not an address. Type it like 192.168.1.20:8000."
    try:
        parts = urlsplit(text)
    except ValueError:  # an IPv6 address with its "[" left open, for one
        raise PokerError(not_an_address) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PokerError(not_an_address)
    try:
        port = parts.port
    except ValueError:
        raise PokerError(f"{address!r} has a port that is not a number.") from None
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if port is None and parts.scheme == "http" and "://" not in address:
        raise PokerError("Add the port the host shows, like 192.168.1.20:8000.")
    query = f"?{parts.query}" if parts.query else ""
    base = f"{parts.scheme}://{netloc}/"
    try:
        async with ClientSession(timeout=ClientTimeout(total=within)) as session:
            async with session.get(f"{base}api/game{query}") as response:
                facts = await response.json(content_type=None)
                if (
                    response.status != 200
                    or not isinstance(facts, dict)
                    or "id" not in facts
                ):
                    raise PokerError(
                        f"No game answered at {netloc}. Check the address."
                    )
    except (TimeoutError, ClientError, ValueError, OSError):
        raise PokerError(
            f"Nothing answered at {netloc}. Check the address, and that the host's "
            "app is still open."
        ) from None
    return f"{base}?game={facts['id']}"


# ---------------------------------------------------------------- discovery


mdnslog = logging.getLogger("poker.mdns")


@dataclass
class FoundGame:
    """A game seen on the network, and whether it still answers."""

    id: str
    title: str
    host: str
    url: str
    probe_url: str
    name: str
    players: int = 0
    locked: bool = False
    alive: bool = False
    failures: int = 0

    def public(self) -> dict[str, Any]:
        """Return what the lobby shows of it."""
        return {
            "id": self.id,
            "title": self.title,
            "host": self.host,
            "players": self.players,
            "url": self.url,
            "locked": self.locked,
        }


class Advertiser:
    """Publishes this host's games over mDNS/DNS-SD, one service per game."""

    def __init__(self, aiozc: Any) -> None:
        self.aiozc = aiozc
        self.infos: dict[str, Any] = {}
        #: Registrations and withdrawals still on their way, per game: each
        #: waits for the one before, so a game unloaded while it was still
        #: probing is withdrawn after, not before, it is registered.
        self.pending: dict[str, asyncio.Task[None]] = {}

    async def async_advertise(
        self, game: Game, port: int, bind: str = "0.0.0.0"
    ) -> None:
        """Register one game; probing (RFC 6762 section 8.1) takes ~1.2 s."""
        from zeroconf.asyncio import AsyncServiceInfo

        # A host listening on one address only is reachable only there.
        wildcard = bind in ("0.0.0.0", "::", "")
        addresses = (lan_addresses() or ["127.0.0.1"]) if wildcard else [bind]
        # Instance names must be unique on the link; the id suffix makes
        # two games with the same title distinct without a rename dance.
        # A DNS label holds 63 bytes (RFC 6763 section 4.1.1), a TXT string
        # 255 (section 6.1): cut by bytes, or a Cyrillic or CJK title of 30
        # characters would not be advertised at all.
        suffix = f" ({game.id[:6]})"
        label = cut_utf8(game.title, 63 - len(suffix)).rstrip() + suffix
        info = AsyncServiceInfo(
            SERVICE_TYPE,
            f"{label}.{SERVICE_TYPE}",
            port=port,
            parsed_addresses=addresses,
            server=f"poker-{game.id}.local.",
            properties={
                "v": str(PROTOCOL_VERSION),
                "id": game.id,
                "title": cut_utf8(game.title, 200),
                "host": cut_utf8(game.host, 160),
                "path": f"/?game={game.id}",
                "locked": "1" if game.locked else "0",
            },
        )
        try:
            task = await self.aiozc.async_register_service(info, allow_name_change=True)
            self.infos[game.id] = info
            await task
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the game is still served: say so, go on
            self.infos.pop(game.id, None)
            mdnslog.warning(
                "Could not advertise %r on the network (%s); teammates can "
                "still join by its address.",
                game.title,
                exc,
            )
            return
        mdnslog.info(
            "Advertising %r on %s port %s", game.title, ", ".join(addresses), port
        )

    async def async_withdraw(self, game_id: str) -> None:
        """Unregister one game: peers get a goodbye packet."""
        info = self.infos.pop(game_id, None)
        if info is not None:
            task = await self.aiozc.async_unregister_service(info)
            await task

    def advertise_soon(self, game: Game, port: int, bind: str = "0.0.0.0") -> None:
        """Register a game in the background (event loop only)."""
        self._then(game.id, lambda: self.async_advertise(game, port, bind))

    def withdraw_soon(self, game_id: str) -> None:
        """Unregister a game in the background (event loop only)."""
        self._then(game_id, lambda: self.async_withdraw(game_id))

    def _then(self, game_id: str, step: Callable[[], Any]) -> None:
        before = self.pending.get(game_id)

        async def run() -> None:
            if before is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(before)
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the game is served all the same
                mdnslog.warning(
                    "mDNS could not update game %s (%r); players can still "
                    "join by address.",
                    game_id,
                    exc,
                )
            finally:
                if self.pending.get(game_id) is task:
                    del self.pending[game_id]

        task = asyncio.ensure_future(run())
        self.pending[game_id] = task

    async def async_close(self) -> None:
        """Withdraw every game, once pending registrations are done."""
        if self.pending:
            await asyncio.gather(*self.pending.values(), return_exceptions=True)
        for game_id in list(self.infos):
            await self.async_withdraw(game_id)


async def fetch_json(url: str, within: float) -> tuple[int, Any]:
    """GET a small JSON answer over plain HTTP/1.1: the status and the value.

    All a listing asks of a game is GET /api/game; doing it by hand keeps
    aiohttp's client (and its import) out of ``--list``.
    """
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    async with asyncio.timeout(within):
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            writer.write(
                f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                "Accept: application/json\r\nConnection: close\r\n\r\n".encode()
            )
            answer = await reader.read(MAX_FRAME)
            while len(answer) < MAX_FRAME and (more := await reader.read(MAX_FRAME)):
                answer += more
        finally:
            writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)
    if len(status) < 2 or not status[0].startswith(b"HTTP/1.") or b"chunked" in head:
        raise ValueError("not a plain HTTP answer")
    return int(status[1]), json.loads(body)


class Finder:
    """Keeps the list of games on the network, checked by asking each one."""

    def __init__(self, aiozc: Any, on_update: Callable[[], None] | None = None) -> None:
        self.aiozc = aiozc
        self.found: dict[str, FoundGame] = {}
        self.on_update = on_update
        self.browser: Any = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.prober: asyncio.Task[None] | None = None
        self.warned = False

    async def async_start(self) -> None:
        """Start browsing for games and checking the ones found."""
        from zeroconf.asyncio import AsyncServiceBrowser

        self.browser = AsyncServiceBrowser(
            self.aiozc.zeroconf, [SERVICE_TYPE], handlers=[self._on_service]
        )
        self.prober = asyncio.create_task(self._probe_forever())

    def games(self) -> list[FoundGame]:
        """The games found that answered their last check, by title."""
        alive = [g for g in self.found.values() if g.alive]
        return sorted(alive, key=lambda g: (g.title.lower(), g.host.lower()))

    def _on_service(
        self, zeroconf: Any, service_type: str, name: str, state_change: Any
    ) -> None:
        from zeroconf import ServiceStateChange

        if state_change is ServiceStateChange.Removed:
            if self.found.pop(name, None) is not None:
                mdnslog.debug("Gone: %s", name)
                self._updated()
            return
        task = asyncio.ensure_future(self._resolve(name))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _resolve(self, name: str) -> None:
        from zeroconf.asyncio import AsyncServiceInfo

        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if not await info.async_request(self.aiozc.zeroconf, 3000):
            return
        props = {
            (k.decode("utf-8", "replace") if isinstance(k, bytes) else k): (
                v.decode("utf-8", "replace") if isinstance(v, bytes) else ""
            )
            for k, v in info.properties.items()
        }
        addresses = info.parsed_addresses()
        if not props.get("id") or not addresses or not info.port:
            return
        v4 = [a for a in addresses if ":" not in a]
        address = url_host((v4 or addresses)[0])
        base = f"http://{address}:{info.port}/"
        game = FoundGame(
            id=props["id"],
            title=props.get("title", "?"),
            host=props.get("host", ""),
            url=f"{base}?game={props['id']}",
            probe_url=f"{base}api/game?game={props['id']}",
            name=name,
            locked=props.get("locked") == "1",
        )
        old = self.found.get(name)
        if old is not None and old.url == game.url:
            return
        self.found[name] = game
        mdnslog.debug("Found %r at %s", game.title, game.url)
        await self._probe(game)

    async def _probe(self, game: FoundGame) -> None:
        was = game.alive
        try:
            status, facts = await fetch_json(game.probe_url, PROBE_TIMEOUT)
            if status != 200 or facts.get("id") != game.id:
                raise ValueError("not this game")
            game.players = int(facts.get("players", 0))
            game.title = str(facts.get("title", game.title))[:MAX_TITLE]
            game.alive, game.failures = True, 0
        except asyncio.CancelledError:
            raise
        except (TimeoutError, ValueError, OSError, AttributeError) as exc:
            game.failures += 1
            game.alive = False
            mdnslog.debug("No answer from %s: %s", game.url, exc)
        if was != game.alive:
            self._updated()

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(PROBE_INTERVAL)
            games = list(self.found.values())
            await asyncio.gather(
                *(self._probe(g) for g in games), return_exceptions=True
            )

    def _updated(self) -> None:
        if self.on_update is not None:
            self.on_update()

    async def async_close(self) -> None:
        """Stop browsing and probing."""
        if self.prober is not None:
            self.prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.prober
        for task in list(self.tasks):
            task.cancel()
        if self.browser is not None:
            await self.browser.async_cancel()


async def start_zeroconf() -> Any:
    """Open the mDNS stack on every interface (IPv4)."""
    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncZeroconf

    return AsyncZeroconf(ip_version=IPVersion.V4Only)


# ---------------------------------------------------------------- settings


class Settings:
    """Small per-user preferences, in one JSON file written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {}
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                self.data = loaded
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.warning(
                "Settings in %s could not be read (%s); using defaults.", path, exc
            )

    def get(self, key: str, default: Any = None) -> Any:
        """Return one setting."""
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Change one setting and write the file."""
        self.data[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)


# ---------------------------------------------------------------- running a host


def allow_open_files(wanted: int) -> None:
    """Raise this process's limit of open files to ``wanted``, if it may.

    Linux starts a process at 1,024 open files, below MAX_SOCKETS; the hard
    limit is usually far higher, and raising the soft one needs no rights.
    """
    try:
        import resource
    except ImportError:  # Windows: no such limit on sockets
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class Service:
    """The host, its storage and discovery, on an event loop of their own."""

    def __init__(
        self,
        data_dir: Path,
        host_name: str,
        *,
        discovery: bool = True,
        lobby_key: str | None = None,
        many: bool = False,
        idle_unload: float | None = None,
    ) -> None:
        self.data_dir = data_dir
        allow_open_files(MAX_SOCKETS + 256)  # the sockets, and files besides
        self.store = Store(data_dir / "games.db", exclusive=True)
        self.settings = Settings(data_dir / "settings.json")
        self.host = Host(
            self.store,
            host_name,
            lobby_key=lobby_key,
            many=many,
            idle_unload=idle_unload,
        )
        self.host.settings = self.settings
        self.discovery = discovery
        self.aiozc: Any = None

    async def async_start_discovery(self, browse: bool) -> None:
        """Start mDNS: advertise games, and browse when there is a lobby."""
        if not self.discovery:
            return
        try:
            self.aiozc = await start_zeroconf()
        except OSError as exc:
            mdnslog.warning(
                "Discovery is off: mDNS could not start (%s). Teammates can still "
                "join by address.",
                exc,
            )
            return
        self.host.advertiser = Advertiser(self.aiozc)
        if browse:
            self.host.finder = Finder(self.aiozc)
            await self.host.finder.async_start()

    async def async_close(self) -> None:
        """Stop everything and close the database."""
        await self.host.stop()
        if self.aiozc is not None:
            await self.aiozc.async_close()
        self.store.close()
        log.info("Database closed")


def async_stop_event() -> asyncio.Event:
    """An event that Ctrl+C or SIGTERM sets, so that the caller stops cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def run_headless(args: argparse.Namespace, data_dir: Path) -> int:
    """Host games with no window until Ctrl+C or SIGTERM: the one named on
    the command line, and any created or joined over HTTP."""
    # float() reads "nan" and "inf" too: nan compares false with everything,
    # so it would pass a plain "< 0" and mean nothing sensible.
    if not math.isfinite(args.idle_unload) or args.idle_unload < 0:
        raise PokerError("--idle-unload takes seconds, 0 or more (0: never).")
    if args.resume is not None and (args.title, args.deck) != (None, None):
        raise PokerError(
            "--resume continues a stored game as it was; leave out --title and "
            "--deck, or start a new game without --resume."
        )
    service = Service(
        data_dir,
        args.host_name,
        discovery=not args.no_discovery,
        many=True,
        idle_unload=args.idle_unload or None,
    )
    store = service.store
    if args.resume is not None:
        # The last game of a headless command line, not the latest changed:
        # that may be one a teammate made on the list page, and the printed
        # address the team has must open the same game as before.
        last = service.settings.get("headless_game")
        if last and not store.exists(last):
            last = None
        game_id = args.resume or last or next((g["id"] for g in store.recent(1)), None)
        if game_id is None:
            raise PokerError(
                "There is no stored game to resume. Start one with --title."
            )
        game = store.load(game_id)
    else:
        game = Game.new(
            args.title if args.title is not None else DEFAULT_TITLE,
            args.host_name,
            args.deck or DEFAULT_DECK,
        )
    if args.passcode is not None:
        game.lock(args.passcode)
    port = args.port if args.port is not None else (store.port_of(game.id) or 0)
    try:
        sock = bound_socket(args.bind, port)
    except PokerError:
        if args.port is not None or port == 0:
            raise
        sock = bound_socket(args.bind, 0)  # the old port is taken now
    # mDNS probing (RFC 6762 section 8.1) is ~1.2 s of waiting: it begins
    # first, and the web server starts meanwhile, aiohttp's import on a
    # thread so that the probes leave on time. No peer can look the game up
    # before the probing ends, so none finds it before it is served.
    await service.async_start_discovery(browse=False)
    if service.host.advertiser is not None:
        service.host.advertiser.advertise_soon(game, sock.getsockname()[1], args.bind)
    await asyncio.to_thread(import_aiohttp)
    await service.host.start(bind=args.bind, sock=sock)
    service.host.primary = game.id
    service.settings.set("headless_game", game.id)
    service.host.open_room(game)
    stop = async_stop_event()
    print(
        f'Hosting "{game.title}" at {service.host.join_url(game.id)} (Ctrl+C stops)',
        flush=True,
    )
    await stop.wait()
    log.info("Stopping")
    await service.async_close()
    return 0


async def run_list(watch: float | None, wait: float = 1.2, within: float = 2.2) -> int:
    """Print the games found on the network (and, with watch, changes)."""
    aiozc = await start_zeroconf()
    finder = Finder(aiozc)
    shown: dict[str, str] = {}

    def line(g: FoundGame) -> str:
        return f"{g.title}\t{g.host}\t{g.url}"

    def on_update() -> None:
        now = {g.id: line(g) for g in finder.games()}
        for gid, text in now.items():
            if gid not in shown:
                print(f"+ {text}", flush=True)
        for gid, text in shown.items():
            if gid not in now:
                print(f"- {text}", flush=True)
        shown.clear()
        shown.update(now)

    try:
        began = time.monotonic()
        await finder.async_start()
        if watch is None:
            # Responders answer a query within 120 ms (RFC 6762 section 6);
            # the wait covers a lost first answer and the browser's resend.
            await asyncio.sleep(wait)
            # Games still being resolved or checked get what is left of the
            # time a user was promised (three seconds, start-up included).
            if finder.tasks:
                left = max(0.1, within - (time.monotonic() - began))
                await asyncio.wait(set(finder.tasks), timeout=left)
            games = finder.games()
            for g in games:
                print(line(g), flush=True)
            if not games:
                print(
                    "No game found on this network. Check that both computers are on "
                    "the same network, or join by address.",
                    file=sys.stderr,
                )
        else:
            finder.on_update = on_update
            stop = async_stop_event()
            log.info("Watching for games for %g s", watch)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), watch)
    finally:
        await finder.async_close()
        await aiozc.async_close()
    return 0


# ---------------------------------------------------------------- crash reports


def write_crash_report(log_dir: Path, exc: BaseException) -> Path | None:
    """Write what a bug report needs into the log folder; the file's path,
    or None when it could not be written.

    Plain text a user can read before sending it: when, which version on
    which system, and the traceback. Never raises: a crash while reporting a
    crash would hide the first one.
    """
    import platform
    import traceback

    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = log_dir / f"crash-{stamp}-{os.getpid()}.txt"
    versions = [f"{APP_NAME} {__version__}", f"Python {sys.version.split()[0]}"]
    for module, attr in (("aiohttp", "__version__"), ("zeroconf", "__version__")):
        with contextlib.suppress(Exception):
            versions.append(f"{module} {getattr(sys.modules[module], attr)}")
    with contextlib.suppress(Exception):
        from PyQt6.QtCore import PYQT_VERSION_STR, QT_VERSION_STR

        versions.append(f"PyQt6 {PYQT_VERSION_STR}, Qt {QT_VERSION_STR}")
    lines = [
        f"{APP_NAME} stopped because of a bug. Please send this file to whoever "
        "gave you the app.",
        "",
        f"When:     {time.strftime('%Y-%m-%d %H:%M:%S %z')}",
        f"Versions: {'; '.join(versions)}",
        f"System:   {platform.platform()} ({platform.machine()})",
        f"Packaged: {'yes' if getattr(sys, 'frozen', False) else 'no'}",
        f"Command:  {' '.join(sys.argv)}",
        "",
        "".join(traceback.format_exception(exc)).rstrip(),
        "",
    ]
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines), encoding="utf-8")
    except OSError as error:
        log.error("The crash report could not be written to %s: %s", path, error)
        return None
    log.info("Crash (%r): report written to %s", exc, path)
    return path


def crash_sentence(report: Path | None) -> str:
    """Say where the crash report is, or that there is none to send."""
    if report is None:
        return (
            f"{APP_NAME} stopped because of a bug, and its report could not be "
            "written to the log folder. Run it again with --debug to see the "
            "error, and send that to whoever gave you the app."
        )
    return (
        f"{APP_NAME} stopped because of a bug. A report is in {report}; "
        "please send it to whoever gave you the app."
    )


def show_fatal(text: str) -> None:
    """Tell the user in a message box where no terminal shows stderr.

    A packaged app on Windows has no console (build.spec: console=False);
    elsewhere stderr is enough.
    """
    if sys.platform == "win32" and getattr(sys, "frozen", False):
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.windll.user32.MessageBoxW(None, text, APP_NAME, 0x10)


# ---------------------------------------------------------------- the desktop window


guilog = logging.getLogger("poker.window")

#: The window's icon (pywebview sets it on Qt and GTK; the packaged app's own
#: icon on Windows and macOS comes from build.spec).
ICON = ASSETS_DIR / "icon.png"
DEFAULT_SIZE = (1100, 760)
MIN_SIZE = (360, 480)
#: A saved size beyond this is a stale setting from a bigger screen.
MAX_SIZE = (7680, 4320)
#: Microsoft's evergreen WebView2 runtime, its EdgeUpdate client id.
WEBVIEW2_CLIENT = "{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}"
WEBVIEW2_DOWNLOAD = "https://go.microsoft.com/fwlink/p/?LinkId=2124703"
#: pywebview's edgechromium backend needs at least this runtime build.
WEBVIEW2_MIN = (86, 0, 622, 0)
#: Set to "start" or "window" to force a crash there, so that the crash
#: report and what the user is told can be checked (README, "Crash reports").
CRASH_ENV = "POKER_DEBUG_CRASH"


def check_display() -> None:
    """Refuse early, in one sentence, where no window can open."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise NoDisplayError(
            "No display found, so the window cannot open. To host without a window "
            'run: python poker.py --headless --title "Your game"'
        )


def read_webview2_versions() -> list[str]:
    """Versions of the WebView2 runtime the Windows registry records."""
    import winreg  # Windows only

    found = []
    keys = [
        (winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate"),
        (winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\EdgeUpdate"),
        (winreg.HKEY_CURRENT_USER, r"SOFTWARE\Microsoft\EdgeUpdate"),
    ]
    for root, path in keys:
        with contextlib.suppress(OSError):
            with winreg.OpenKey(root, rf"{path}\Clients\{WEBVIEW2_CLIENT}") as key:
                found.append(str(winreg.QueryValueEx(key, "pv")[0]))
    return found


def check_webview2(read: Callable[[], list[str]] = read_webview2_versions) -> None:
    """On Windows, refuse in one sentence when WebView2 is missing or too old.

    Without it pywebview falls back to a blank window (its MSHTML backend is
    left out of the build), so the user would see nothing and learn nothing.
    """

    def build(version: str) -> tuple[int, ...]:
        try:
            return tuple(int(part) for part in version.split("."))
        except ValueError:
            return ()

    versions = [v for v in read() if build(v) not in ((), (0, 0, 0, 0))]
    if not any(build(v) >= WEBVIEW2_MIN for v in versions):
        raise WebView2Missing(
            "Planning Poker needs Microsoft Edge WebView2 to show its window, and "
            f"this computer does not have it: install it from {WEBVIEW2_DOWNLOAD} "
            "and start Planning Poker again."
        )


def window_geometry(
    saved: Any, screens: list[tuple[int, int, int, int]] | None = None
) -> dict[str, int | None]:
    """Size and place for the window from saved settings, made safe.

    A setting may be stale (a screen unplugged, a file edited by hand): a
    size is clamped, and a place off every known screen is dropped, so the
    window opens centred rather than out of sight.
    """
    saved = saved if isinstance(saved, dict) else {}

    def number(key: str) -> int | None:
        value = saved.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return int(value)

    width, height = number("width"), number("height")
    width = DEFAULT_SIZE[0] if width is None else width
    height = DEFAULT_SIZE[1] if height is None else height
    width = min(max(width, MIN_SIZE[0]), MAX_SIZE[0])
    height = min(max(height, MIN_SIZE[1]), MAX_SIZE[1])
    x, y = number("x"), number("y")
    if x is None or y is None:
        x = y = None
    elif screens and not any(
        sx <= x + 40 < sx + sw and sy <= y + 10 < sy + sh for sx, sy, sw, sh in screens
    ):
        x = y = None  # its title bar would be on no screen
    return {"width": width, "height": height, "x": x, "y": y}


class WindowLock:
    """One window per user and data folder.

    The first launch holds a lock on a file in the data folder and answers on
    a loopback port written next to it; a later launch finds the lock taken,
    asks the first to bring its window to the front, and exits. A second
    game on one computer needs no second window: the lobby hosts, and
    ``--headless`` hosts more on other ports.
    """

    def __init__(self, data_dir: Path) -> None:
        self.lock_path = data_dir / "window.lock"
        self.info_path = data_dir / "window.json"
        self.file: Any = None
        self.server: socket.socket | None = None
        self.on_raise: Callable[[], None] | None = None
        self.raise_pending = False

    def acquire(self) -> bool:
        """Take the lock; False when another launch holds it."""
        self.file = hold_lock(self.lock_path)
        return self.file is not None

    def listen(self) -> None:
        """Answer later launches on a loopback port, from a thread of ours."""
        token = secrets.token_urlsafe(16)
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(4)
        port = self.server.getsockname()[1]
        tmp = self.info_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"port": port, "token": token, "pid": os.getpid()}))
        os.replace(tmp, self.info_path)
        server = self.server

        def serve() -> None:
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return  # closed: the window is gone
                with conn:
                    conn.settimeout(2)
                    with contextlib.suppress(OSError):
                        said = conn.recv(256).decode(errors="replace").strip()
                        if secrets.compare_digest(said, token):
                            # Raised first, then answered: the second launch
                            # exits on "ok", and the window must be up by then.
                            guilog.info("A second launch asked for this window")
                            self.bring_to_front()
                            conn.sendall(b"ok\n")

        threading.Thread(target=serve, name="poker-instance", daemon=True).start()

    def bring_to_front(self) -> None:
        """Raise the window, or as soon as there is one."""
        if self.on_raise is None:
            self.raise_pending = True
            return
        with contextlib.suppress(Exception):
            self.on_raise()

    def ask_first(self, timeout: float = 10.0) -> bool:
        """Ask the launch that holds the lock to raise its window."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # The first launch may still be starting: retry until it answers.
            with contextlib.suppress(OSError, ValueError, KeyError):
                info = json.loads(self.info_path.read_text())
                with socket.create_connection(
                    ("127.0.0.1", int(info["port"])), timeout=2
                ) as conn:
                    conn.sendall(f"{info['token']}\n".encode())
                    if conn.recv(16).startswith(b"ok"):
                        return True
            time.sleep(0.2)
        return False

    def close(self) -> None:
        """Stop answering and let the next launch have the lock."""
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(OSError):
                self.info_path.unlink()
        if self.file is not None:
            self.file.close()  # closing drops the lock


def crash_page(report: Path | None) -> str:
    """What the window shows after a crash: where the report is."""
    if report is None:
        return (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{APP_NAME} stopped</title></head>"
            "<body style='font:16px system-ui,sans-serif;margin:3em;max-width:40em'>"
            f"<p>{html.escape(crash_sentence(None))}</p></body></html>"
        )
    where = html.escape(str(report))
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{APP_NAME} stopped</title></head>"
        "<body style='font:16px system-ui,sans-serif;margin:3em;max-width:40em'>"
        f"<h1>{APP_NAME} ran into a bug</h1>"
        "<p>Sorry: the game stopped here. A report with the details was "
        f"written to</p><p><code>{where}</code></p><p>Please send that file "
        "to whoever gave you the app, then close this window and start it "
        "again; your games are kept.</p></body></html>"
    )


def close_on_signal(close: Callable[[], None]) -> None:
    """Call ``close`` from a thread when SIGTERM or SIGINT arrives.

    The GUI toolkit owns the main thread and runs no Python while it waits,
    so a Python signal handler would only run at the next GUI callback; the
    wakeup fd is written at once, from C, and a thread of ours acts on it.
    """
    if not hasattr(signal, "SIGTERM") or sys.platform == "win32":
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    signal.set_wakeup_fd(write_fd)

    def wait() -> None:
        if os.read(read_fd, 1):
            guilog.info("Signal received: closing the window")
            close()

    threading.Thread(target=wait, name="poker-signals", daemon=True).start()


def refuse_bridge_call(window: Any, func_name: str, param: Any, value_id: str) -> None:
    """Stand in for pywebview's JS-to-Python dispatcher: answer no page."""
    guilog.debug("A page tried to call into the app (%.40r); refused", func_name)


def close_js_bridge() -> None:
    """Make ``window.pywebview._bridge.call`` reach no Python at all.

    pywebview injects ``window.pywebview`` into every page the window shows,
    a teammate's game page served by another machine included. Even with no
    ``js_api`` its dispatcher moves the window, sets shared state and runs
    DOM event handlers for any page that asks. No page of ours calls Python,
    so the dispatcher is replaced in every module that imported it.
    XXX: Qt's bridge still shows ``alert()`` boxes itself (``_pywebviewAlert``)
    before any dispatcher runs; a page can do no more with it than with alert().
    """
    import importlib

    import webview.util

    platform = {"win32": "edgechromium", "darwin": "cocoa"}.get(sys.platform, "qt")
    modules: list[Any] = [webview.util]
    try:
        modules.append(importlib.import_module(f"webview.platforms.{platform}"))
    except ImportError as exc:  # the GUI start reports what is missing
        guilog.debug("No %s platform module to close: %s", platform, exc)
    for module in modules:
        if hasattr(module, "js_bridge_call"):
            module.js_bridge_call = refuse_bridge_call


def screen_areas(webview: Any) -> list[tuple[int, int, int, int]] | None:
    """The screens' areas as pywebview sees them, or None if it cannot say."""
    try:
        return [(s.x, s.y, s.width, s.height) for s in webview.screens]
    except Exception:  # a backend without screens: keep the saved place
        return None


def run_window(args: argparse.Namespace, data_dir: Path, log_dir: Path) -> int:
    """Open the lobby window; the server runs on its own thread and loop."""
    check_display()
    if sys.platform == "win32":
        check_webview2()
    instance = WindowLock(data_dir)
    # The first launch may be starting (no port yet) or closing (lock not yet
    # released): ask, and retry the lock, for a few seconds.
    deadline = time.monotonic() + 10
    while not instance.acquire():
        if instance.ask_first(timeout=0.5):
            print(
                f"{APP_NAME} is already open on this computer; its window was "
                "brought to the front.",
                file=sys.stderr,
            )
            return 0
        if time.monotonic() > deadline:
            raise PokerError(
                f"{APP_NAME} is already open on this computer but does not "
                "answer. Close it (or end it in the task manager), then start "
                "it again."
            )
    try:
        instance.listen()
        return open_window(args, data_dir, log_dir, instance)
    finally:
        instance.close()


def open_window(
    args: argparse.Namespace, data_dir: Path, log_dir: Path, instance: WindowLock
) -> int:
    """Start the host, show the window until it closes, then stop the host."""
    if sys.platform.startswith("linux") and os.geteuid() == 0:
        # Qt WebEngine refuses to start as root with its sandbox on.
        flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
        if "--no-sandbox" not in flags:
            os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = f"{flags} --no-sandbox".strip()
    if sys.platform.startswith("linux"):
        # Qt, the web view build.spec bundles; pywebview would try GTK first.
        os.environ.setdefault("PYWEBVIEW_GUI", "qt")
    import webview  # only on the GUI path, so a headless build can leave it out

    # The results export links download files; the web view refuses that
    # unless told otherwise.
    webview.settings["ALLOW_DOWNLOADS"] = True
    close_js_bridge()

    # Automation (the tests) may set the lobby key; otherwise a fresh one.
    key = os.environ.get("POKER_LOBBY_KEY") or secrets.token_urlsafe(24)
    service = Service(
        data_dir, args.host_name, discovery=not args.no_discovery, lobby_key=key
    )
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    async def start() -> None:
        if args.port is not None:
            service.settings.set("port", args.port)
        await service.host.start_lobby()
        await service.async_start_discovery(browse=True)

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as exc:  # reported on the GUI thread
            failure.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="poker-host", daemon=True)
    thread.start()
    ready.wait(15)
    if failure:
        raise failure[0]
    lobby = f"http://127.0.0.1:{service.host.lobby_port}/?key={key}"
    geometry = window_geometry(service.settings.get("window"), screen_areas(webview))
    window = webview.create_window(
        APP_NAME, lobby, min_size=MIN_SIZE, background_color="#1f6f5c", **geometry
    )
    crashed: list[Path | None] = []

    def on_loaded() -> None:
        try:
            url = (window.get_current_url() or "").split("?")[0].split("#")[0]
            guilog.info(
                "Page loaded: %s (%s)", window.evaluate_js("document.title"), url
            )
            if os.environ.get(CRASH_ENV) == "window" and not crashed:
                raise RuntimeError(f"crash forced by {CRASH_ENV}=window")
        except Exception as exc:
            if crashed:
                return
            report = write_crash_report(log_dir, exc)
            crashed.append(report)
            window.load_html(crash_page(report))

    def on_shown() -> None:
        guilog.info(
            "Window shown: %sx%s at %s,%s",
            window.width,
            window.height,
            window.x,
            window.y,
        )
        instance.on_raise = window.restore
        if instance.raise_pending:
            instance.bring_to_front()

    def on_closing() -> None:
        with contextlib.suppress(Exception):
            place = {
                "width": window.width,
                "height": window.height,
                "x": window.x,
                "y": window.y,
            }
            service.settings.set("window", place)
            guilog.info("Window size and place saved: %s", place)

    window.events.loaded += on_loaded
    window.events.shown += on_shown
    window.events.closing += on_closing
    close_on_signal(window.destroy)
    guilog.info("Window opening on %s", lobby.split("?")[0])
    gui = "qt" if sys.platform.startswith("linux") else None
    webview.start(
        gui=gui,
        private_mode=False,
        storage_path=str(data_dir / "webview"),
        icon=str(ICON),
    )
    # The window is closed: end the game for everyone, then stop the loop.
    began = time.monotonic()
    future = asyncio.run_coroutine_threadsafe(service.async_close(), loop)
    try:
        future.result(timeout=3)
    except Exception as exc:  # the window is gone; say what went wrong, once
        log.warning("The game did not close cleanly: %r", exc)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=2)
    guilog.info("Closed in %.2f s", time.monotonic() - began)
    return 0


# ---------------------------------------------------------------- command line


def default_host_name() -> str:
    """A name for this machine that teammates recognise."""
    return (socket.gethostname() or "host").split(".")[0][:MAX_NAME]


def port_number(text: str) -> int:
    """Read --port: a TCP port, 0-65535 (0 takes a free one)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    # Checked here, not at bind(): the socket module raises OverflowError,
    # not OSError, for a number out of range.
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"the port must be 0-65535, not {text!r}; leave --port out to take "
            "a free one."
        )
    return port


def host_name_arg(text: str) -> str:
    """Read --host-name: one line of at most MAX_NAME characters, as a name.

    It goes into every listing's TXT record and teammates' terminals.
    """
    try:
        return one_line(text, "host name", MAX_NAME)
    except Refused as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def watch_seconds(text: str) -> float:
    """Read --watch: a finite number of seconds above 0."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(
            f"--watch takes seconds above 0, not {text!r}."
        )
    return seconds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        # "poker.py" from a checkout, "planning-poker" when packaged.
        prog=Path(sys.argv[0]).name or "poker.py",
        description="Planning poker on the office network.",
    )
    parser.add_argument("--headless", action="store_true", help="host with no window")
    # No defaults here: None tells that an option was left out, which
    # --resume needs to know (run_headless fills the defaults in).
    parser.add_argument(
        "--title", help=f"the game's title (default: {DEFAULT_TITLE!r})"
    )
    parser.add_argument(
        "--deck",
        choices=sorted(DECKS),
        help=f"the game's cards (default: {DEFAULT_DECK})",
    )
    parser.add_argument(
        "--port", type=port_number, help="port to host on (default: a free one)"
    )
    parser.add_argument("--bind", default="0.0.0.0", help="address to listen on")
    parser.add_argument(
        "--passcode",
        help="players must type this to join (with --resume: '' opens the game)",
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const="",
        metavar="GAME_ID",
        help="host a stored game again (default: the latest)",
    )
    parser.add_argument(
        "--idle-unload",
        type=float,
        default=IDLE_UNLOAD,
        metavar="SECONDS",
        help="headless: put a game away (stored) after SECONDS with nobody "
        f"connected; 0 never does (default {IDLE_UNLOAD:g})",
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="print the games found on this network, then exit",
    )
    parser.add_argument(
        "--watch",
        type=watch_seconds,
        metavar="SECONDS",
        help="with --list: print games coming and going for SECONDS",
    )
    parser.add_argument(
        "--no-discovery",
        action="store_true",
        help="neither advertise nor look for games over mDNS",
    )
    parser.add_argument(
        "--host-name",
        type=host_name_arg,
        default=default_host_name(),
        help="how this host is named in listings",
    )
    parser.add_argument(
        "--data-dir", type=Path, help="where games and settings are kept"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="log more, to the terminal"
    )
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks on errors"
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    return parser.parse_args(argv)


def setup_logging(verbose: bool, log_dir: Path | None) -> None:
    """Log to the terminal (warnings, or all with --verbose) and to a file."""
    root = logging.getLogger("poker")
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(console)
    if log_dir is not None:
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(
                log_dir / "poker.log",
                maxBytes=1_000_000,
                backupCount=3,
                encoding="utf-8",
            )
        except OSError:
            return
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        root.addHandler(handler)


def data_and_log_dirs(args: argparse.Namespace) -> tuple[Path, Path]:
    """Where games and settings live, and where logs and crash reports go."""
    import platformdirs

    if args.data_dir:
        return args.data_dir, args.data_dir / "logs"
    return (
        Path(platformdirs.user_data_dir(APP_SLUG, appauthor=False)),
        Path(platformdirs.user_log_dir(APP_SLUG, appauthor=False)),
    )


def make_data_dir(data_dir: Path) -> None:
    """Create the data folder and check it takes files, or say why not."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        # mkdir() passes on a folder that exists but is read-only; SQLite
        # would fail later, in the middle of start-up, with a vaguer error.
        probe = data_dir / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise PokerError(
            f"The folder {data_dir} cannot be created or used "
            f"({exc.strerror or exc}). Choose another with --data-dir."
        ) from None


def main(argv: list[str] | None = None) -> int:
    """Run the app; errors reach the user as one sentence."""
    args = parse_args(argv)
    data_dir, log_dir = data_and_log_dirs(args)
    setup_logging(args.verbose, log_dir)
    log.debug("%s %s, logging to %s", APP_NAME, __version__, log_dir)
    try:
        if os.environ.get(CRASH_ENV) == "start":
            raise RuntimeError(f"crash forced by {CRASH_ENV}=start")
        if args.list:
            return asyncio.run(run_list(args.watch))
        make_data_dir(data_dir)
        if args.headless:
            return asyncio.run(run_headless(args, data_dir))
        return run_window(args, data_dir, log_dir)
    except KeyboardInterrupt:
        return 130
    except PokerError as exc:
        if args.debug:
            raise
        print(exc, file=sys.stderr)
        show_fatal(str(exc))
        return 2
    except Exception as exc:
        report = write_crash_report(log_dir, exc)
        if args.debug:
            raise
        text = crash_sentence(report)
        print(text, file=sys.stderr)
        show_fatal(text)
        return 1


if __name__ == "__main__":
    sys.exit(main())
