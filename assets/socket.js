// The one websocket of the game page: finds the game, joins, keeps the seat
// token, dispatches incoming messages by type, pings, and reconnects by
// itself until the host says goodbye or another window takes the seat.

import { MSG, ERR } from "./protocol.js";
import { readStore, writeStore } from "./dom.js";

const PING_EVERY_MS = 10_000;
// Two missed pongs and a bit: the link is dead even if the browser has not
// noticed yet (a laptop lid closed, Wi-Fi gone), so drop it and reconnect.
const SILENCE_LIMIT_MS = 25_000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10_000;
// Tries after a goodbye start here: at the longest wait at once.
const BACKOFF_SLOW = 5;
// A host still unreachable after this long may have moved (a new address
// after a restart): the page may go and look for it (onUnreachable).
const UNREACHABLE_MS = 8_000;

/** The localStorage key of the seat token for one game. */
export function tokenKey(gameId) {
  return `poker.token.${gameId}`;
}

/** GET /api/game, for the game id, title and join URL. */
export async function fetchGameInfo(gameId) {
  const query = gameId ? `?game=${encodeURIComponent(gameId)}` : "";
  const response = await fetch(`/api/game${query}`, { cache: "no-store" });
  if (response.status === 404) {
    const error = new Error(
      "There is no such game on this host: it was never made here, or it was deleted. Check the address with whoever sent it.",
    );
    error.gone = true;
    throw error;
  }
  if (!response.ok) throw new Error(`The host answered ${response.status}.`);
  return response.json();
}

/**
 * Opens and keeps one game socket.
 *
 * options: gameId (or null: asked from /api/game), name, token (one from the
 * page fragment, stored once the game id is known), passcode (a function),
 * handlers (message type -> function(message)), onStatus(status, detail),
 * onInfo(info from /api/game).
 * Statuses: "connecting", "connected", "reconnecting", "closed".
 */
export class GameSocket {
  constructor(options) {
    this.gameId = options.gameId || null;
    // Named in the page address: never swap it for another game.
    this.pinned = Boolean(options.gameId);
    this.name = options.name;
    this.pendingToken = options.token || null;
    this.passcode = options.passcode || (() => null);
    this.handlers = options.handlers || {};
    this.onStatus = options.onStatus || (() => {});
    this.onInfo = options.onInfo || (() => {});
    this.onUnreachable = options.onUnreachable || null;
    this.lostAt = 0;
    this.lastTick = 0;
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastHeard = 0;
    this.welcomed = false;
  }

  /** Starts connecting; call once. */
  start() {
    this.stopped = false;
    window.addEventListener("online", () => this.retryNow());
    this.connect();
  }

  /** Stops for good: no reconnect until retryNow(). */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.stopPing();
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
  }

  /** Connects again at once (after stop(), or to skip a backoff wait). */
  retryNow() {
    if (this.ws && this.stopped === false) return;
    this.stopped = false;
    clearTimeout(this.retryTimer);
    this.attempt = 0;
    this.connect();
  }

  /** Sends one message; false when the socket is not open. */
  send(type, fields = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !this.welcomed) {
      return false;
    }
    this.ws.send(JSON.stringify({ type, ...fields }));
    return true;
  }

  async connect() {
    this.onStatus(this.attempt === 0 ? "connecting" : "reconnecting");
    if (this.gameId && this.attempt >= 2 && !(await this.gameStillThere())) return;
    if (!this.gameId) {
      try {
        const info = await fetchGameInfo(null);
        this.gameId = info.id;
        this.onInfo(info);
      } catch (error) {
        if (error.gone) {
          this.stopped = true;
          this.onStatus("closed", error.message);
        } else {
          this.scheduleRetry();
        }
        return;
      }
    }
    if (this.stopped) return;
    if (this.pendingToken) {
      writeStore(localStorage, tokenKey(this.gameId), this.pendingToken);
      this.pendingToken = null;
    }
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/ws?game=${encodeURIComponent(this.gameId)}`;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    this.welcomed = false;
    ws.addEventListener("open", () => this.onOpen(ws));
    ws.addEventListener("message", (event) => this.onFrame(ws, event));
    ws.addEventListener("close", () => this.onDrop(ws));
    // An "error" event is always followed by "close"; nothing to do twice.
  }

  /**
   * After a few failed tries, asks the host whether the game still exists:
   * a websocket refused with 404 looks like any other drop from here. A page
   * opened without ?game= follows the host to its new game; a page that
   * named its game stops with a sentence.
   */
  async gameStillThere() {
    try {
      await fetchGameInfo(this.gameId);
      return true;
    } catch (error) {
      if (!error.gone) return true; // Host down: keep trying the same game.
      if (!this.pinned) {
        this.gameId = null;
        return true;
      }
      this.stopped = true;
      this.onStatus("closed", error.message);
      return false;
    }
  }

  onOpen(ws) {
    if (ws !== this.ws) return;
    this.lastHeard = Date.now();
    const join = { type: MSG.JOIN, name: this.name };
    const token = readStore(localStorage, tokenKey(this.gameId));
    if (token) join.token = token;
    const passcode = this.passcode();
    if (passcode) join.passcode = passcode;
    ws.send(JSON.stringify(join));
    this.startPing(ws);
  }

  onFrame(ws, event) {
    if (ws !== this.ws) return;
    this.lastHeard = Date.now();
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return; // The host only sends JSON; a stray frame is not worth a fuss.
    }
    if (!message || typeof message.type !== "string") return;
    if (message.type === MSG.WELCOME) {
      this.welcomed = true;
      this.attempt = 0;
      this.lostAt = 0;
      if (message.game) this.gameId = message.game;
      if (message.token) writeStore(localStorage, tokenKey(this.gameId), message.token);
      this.onStatus("connected");
    } else if (message.type === MSG.GOODBYE) {
      // The host closed the game: it may come back (a restart, --resume).
      // Ask again now and then, not at once, and sit down again when it does.
      this.attempt = BACKOFF_SLOW;
      this.lostAt = 0;
      this.onUnreachable = null;
    } else if (message.type === MSG.REMOVED) {
      // The seat is gone: its token gives nothing back, and reconnecting by
      // ourselves would sit the player down again behind the host's back.
      this.stopped = true;
      writeStore(localStorage, tokenKey(this.gameId), null);
    } else if (
      message.type === MSG.ERROR &&
      (message.code === ERR.TAKEN_OVER || message.code === ERR.BAD_PASSCODE)
    ) {
      // Reconnecting would only take the seat back from the other window
      // (or fail the passcode again): wait for the person to decide.
      this.stopped = true;
    }
    const handler = this.handlers[message.type];
    if (handler) handler(message);
  }

  onDrop(ws) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.welcomed = false;
    this.stopPing();
    if (this.stopped) {
      this.onStatus("closed");
      return;
    }
    this.scheduleRetry();
  }

  scheduleRetry() {
    if (this.stopped) return;
    this.onStatus("reconnecting");
    if (!this.lostAt) this.lostAt = Date.now();
    if (this.onUnreachable && Date.now() - this.lostAt > UNREACHABLE_MS) {
      const onUnreachable = this.onUnreachable;
      this.onUnreachable = null; // Once: it may take the page elsewhere.
      onUnreachable();
    }
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    // Jitter spreads a room of laptops that all lost the host at once.
    const wait = base / 2 + Math.random() * (base / 2);
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  startPing(ws) {
    this.stopPing();
    this.lastTick = Date.now();
    this.pingTimer = setInterval(() => {
      if (ws !== this.ws) return;
      const now = Date.now();
      // A tick far later than due means this page was busy (a long script,
      // a sleeping laptop): frames may wait unread behind it, so silence
      // counts from now, not from before the pause.
      if (now - this.lastTick > PING_EVERY_MS * 1.5) this.lastHeard = now;
      this.lastTick = now;
      if (now - this.lastHeard > SILENCE_LIMIT_MS) {
        // Forget this socket now: its close event may take minutes.
        this.onDrop(ws);
        ws.close();
        return;
      }
      if (ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({ type: MSG.PING }));
      }
    }, PING_EVERY_MS);
  }

  stopPing() {
    clearInterval(this.pingTimer);
    this.pingTimer = null;
  }
}
