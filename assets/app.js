// The game page: one state object, changed by socket messages and by what
// people do, then handed to render(). Events are delegated to the document.

import { CUSTOM_DECK, ERR, MSG, NAME_MAX, PASSCODE_MAX, ROLE } from "./protocol.js";
import { GameSocket, fetchGameInfo, tokenKey } from "./socket.js";
import { render } from "./render.js";
import { readStore, writeStore } from "./dom.js";
import { cardForKey, formatNumber } from "./cards.js";

const NAME_KEY = "poker.name";
const LOBBY_KEY = "poker.lobby";
const ERROR_SHOWN_MS = 6000;
const COPIED_SHOWN_MS = 2000;
const TIMER_TICK_MS = 250;

const params = new URLSearchParams(location.search);

const state = {
  name: readStore(localStorage, NAME_KEY) || "",
  askPasscode: false,
  passcode: "",
  gameId: params.get("game") || null,
  token: null, // this seat's token, for export links of a locked game
  info: null, // GET /api/game: id, title, host, joinUrl
  conn: "idle",
  closed: null, // { message, canRetry, button } once the socket gave up
  game: null,
  you: null, // { seat, vote }
  backlog: [], // story records, in queue order (`backlog` messages)
  clockOffset: 0, // the host's clock minus this one, in ms (from `state.now`)
  pendingVote: undefined, // a vote sent but not yet confirmed by `you`
  lobbyUrl: readStore(sessionStorage, LOBBY_KEY),
  error: null, // { message }
  announcement: "",
  ui: {
    editingStory: false,
    storyDraft: "",
    newStory: "",
    copied: false,
    focus: null,
    estimate: "", // the final estimate being picked or typed
    customDeck: false, // the custom deck editor is open
    customCards: "",
    deckRequest: null, // the last set_deck sent, to repeat with confirm
    confirmDeck: null, // { message } while the host asks to confirm
    removing: null, // the seat id the facilitator is about to remove
    removeReason: "",
    editingStoryId: null,
    import: null, // { name, data, columns, preview, error } of a CSV file
  },
};

let socket = null;
let errorTimer = null;
let copiedTimer = null;

function update() {
  render(state);
}

function showError(message) {
  state.error = { message };
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => {
    state.error = null;
    update();
  }, ERROR_SHOWN_MS);
}

// ------------------------------------------------------------ the fragment

/** Takes name, token and lobby from #name=..&token=..&lobby=.., then drops it. */
function readFragment() {
  if (location.hash.length < 2) return null;
  const fragment = new URLSearchParams(location.hash.slice(1));
  const name = (fragment.get("name") || "").trim().slice(0, NAME_MAX);
  if (name) {
    state.name = name;
    writeStore(localStorage, NAME_KEY, name);
  }
  const lobby = fragment.get("lobby");
  if (lobby) {
    try {
      // Only a web address: a javascript: link here would run on click.
      const url = new URL(lobby);
      if (url.protocol === "http:" || url.protocol === "https:") {
        state.lobbyUrl = url.href;
        writeStore(sessionStorage, LOBBY_KEY, url.href);
      }
    } catch {
      // Not a URL: no lobby link, nothing else lost.
    }
  }
  history.replaceState(history.state, "", location.pathname + location.search);
  const token = fragment.get("token") || null;
  if (token && state.gameId) {
    writeStore(localStorage, tokenKey(state.gameId), token);
    return null;
  }
  return token; // Stored by the socket once it knows the game id.
}

// ------------------------------------------------------------ messages from the host

function announce(text) {
  // A live region speaks only when its text changes: make a repeat differ.
  state.announcement = text === state.announcement ? `${text}\u00a0` : text;
}

function announceChange(before, after) {
  if (!before) return;
  if (!before.revealed && after.revealed && after.result) {
    const r = after.result;
    const parts = [`Cards revealed. ${r.count} ${r.count === 1 ? "vote" : "votes"}.`];
    if (r.numeric) parts.push(`Mean ${formatNumber(r.mean)}, median ${formatNumber(r.median)}.`);
    if (r.consensus) parts.push("Consensus!");
    announce(parts.join(" "));
  } else if (after.round !== before.round) {
    announce(`Round ${after.round} started.${after.story ? ` Story: ${after.story}` : ""}`);
  }
}

/** Shows the banner of a socket the host closed, with a button to retry. */
function closeWith(message, button) {
  state.closed = { message, canRetry: true, button };
  update();
}

const handlers = {
  [MSG.WELCOME](message) {
    state.gameId = message.game;
    state.token = message.token || readStore(localStorage, tokenKey(message.game));
    state.closed = null;
    state.askPasscode = false;
    if (!state.info || state.info.id !== message.game) loadInfo();
  },
  [MSG.STATE](message) {
    announceChange(state.game, message.game);
    if (typeof message.now === "number") state.clockOffset = message.now * 1000 - Date.now();
    if (state.game && state.game.round !== message.game.round) {
      state.ui.editingStory = false;
      state.ui.estimate = "";
    }
    state.game = message.game;
    state.you = message.you;
    state.pendingVote = undefined;
    update();
  },
  [MSG.SEAT](message) {
    if (!state.game) return;
    const seats = state.game.seats;
    const index = seats.findIndex((seat) => seat.id === message.seat.id);
    if (index === -1) seats.push(message.seat);
    else seats[index] = message.seat;
    update();
  },
  [MSG.BACKLOG](message) {
    state.backlog = message.stories;
    update();
  },
  [MSG.YOU](message) {
    if (!state.you) return;
    state.you.vote = message.vote;
    state.pendingVote = undefined;
    update();
  },
  [MSG.ERROR](message) {
    if (message.ref === MSG.VOTE) state.pendingVote = undefined;
    if (message.code === ERR.TAKEN_OVER) {
      state.closed = {
        message: "This seat is now open in another window.",
        canRetry: true,
        button: "Play in this window",
      };
    } else if (message.code === ERR.CONFIRM_NEEDED && message.ref === MSG.SET_DECK) {
      state.ui.confirmDeck = { message: message.message };
    } else if (message.code === ERR.BAD_PASSCODE) {
      // The socket waits for the person, not for the network.
      state.conn = "locked";
      state.askPasscode = true;
      state.ui.focus = "passcode-input";
      showError(message.message || "That passcode is not right.");
    } else {
      showError(message.message || "The host refused that.");
    }
    update();
  },
  [MSG.REMOVED](message) {
    // Joining again takes a new seat (the old token is forgotten): it is
    // the player's own choice, never the page's.
    closeWith(message.reason || "The facilitator removed you from the game.", "Join again");
  },
  [MSG.GOODBYE](message) {
    // The reason says what happened; the page adds what happens next.
    closeWith(
      `${message.reason || "The host closed the game."} This page joins again by itself when the host is back.`,
      "Try now",
    );
  },
  [MSG.PONG]() {},
};

function onStatus(status, detail) {
  state.conn = status;
  if (status === "connected") state.closed = null;
  if (status === "closed" && !state.closed) {
    // A detail comes only with a game the host does not have: no retry.
    state.closed = {
      message: detail || "Lost the connection to the host. Check the network, then press Connect again.",
      canRetry: !detail,
    };
  }
  update();
}

async function loadInfo() {
  try {
    state.info = await fetchGameInfo(state.gameId);
    update();
  } catch (error) {
    // A game the host has never heard of: say so before asking a name.
    // Otherwise the join URL and QR wait for the next welcome.
    if (error.gone && !state.game) {
      state.closed = { message: error.message, canRetry: false };
      if (socket) socket.stop();
      update();
    }
  }
}

function connect(pendingToken) {
  socket = new GameSocket({
    gameId: state.gameId,
    name: state.name,
    token: pendingToken,
    passcode: () => state.passcode || null,
    handlers,
    onStatus,
    onInfo(info) {
      state.info = info;
      state.gameId = info.id;
    },
    onUnreachable: state.lobbyUrl ? lookForMovedHost : null,
  });
  socket.start();
}

/**
 * The host has not answered for a while. Opened from the desktop app, the
 * page goes back to its lobby, which looks for this game id on the network
 * (mDNS) and opens it at its new address with the same seat token.
 */
function lookForMovedHost() {
  if (!state.lobbyUrl || !state.gameId) return;
  const lobby = new URL(state.lobbyUrl);
  lobby.searchParams.set("rejoin", state.gameId);
  const fragment = new URLSearchParams({ name: state.name });
  const token = readStore(localStorage, tokenKey(state.gameId));
  if (token) fragment.set("token", token);
  lobby.hash = fragment.toString();
  location.href = lobby.href;
}

// ------------------------------------------------------------ what people do

function send(type, fields) {
  if (socket && socket.send(type, fields)) return true;
  showError("Not connected to the host right now; try again in a moment.");
  update();
  return false;
}

function vote(card) {
  if (!state.game || state.game.revealed) return;
  const current = state.pendingVote !== undefined ? state.pendingVote : state.you?.vote;
  const next = current === card ? null : card;
  if (send(MSG.VOTE, { card: next })) {
    state.pendingVote = next;
    update();
  }
}

async function copyJoinUrl() {
  const url = state.info?.joinUrl;
  if (!url) return;
  let done = false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(url);
      done = true;
    }
  } catch {
    done = false;
  }
  if (!done) {
    // Plain http on a LAN address is not a secure context: select the text
    // and use the older copy command, which still works on a click.
    const node = document.querySelector("[data-testid=join-url]");
    const range = document.createRange();
    range.selectNodeContents(node);
    const selection = getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    try {
      done = document.execCommand("copy");
    } catch {
      done = false;
    }
  }
  if (!done) {
    showError("Could not copy: the address is selected, press Ctrl+C.");
  } else {
    state.ui.copied = true;
    clearTimeout(copiedTimer);
    copiedTimer = setTimeout(() => {
      state.ui.copied = false;
      update();
    }, COPIED_SHOWN_MS);
  }
  update();
}

const actions = {
  vote(target) {
    vote(target.dataset.card);
  },
  reveal() {
    send(MSG.REVEAL);
  },
  role(target) {
    const role = target.dataset.role === ROLE.OBSERVER ? ROLE.OBSERVER : ROLE.VOTER;
    send(MSG.SET_ROLE, { role });
  },
  "edit-story"() {
    state.ui.editingStory = true;
    state.ui.storyDraft = state.game?.story || "";
    state.ui.focus = "story-input";
    update();
  },
  "cancel-story"() {
    state.ui.editingStory = false;
    state.ui.focus = "story-edit";
    update();
  },
  copy() {
    copyJoinUrl();
  },
  "next-round"() {
    forms["new-round"]();
  },
  retry() {
    state.closed = null;
    if (socket) socket.retryNow();
    update();
  },
  "next-story"() {
    send(MSG.NEXT_STORY);
  },
  "story-start"(target) {
    send(MSG.NEXT_STORY, { id: target.dataset.id });
  },
  "story-up"(target) {
    moveStory(target.dataset.id, -1);
  },
  "story-down"(target) {
    moveStory(target.dataset.id, 1);
  },
  "story-skip"(target) {
    const story = state.backlog.find((s) => s.id === target.dataset.id);
    if (story) send(MSG.STORY_SKIP, { id: story.id, skipped: !story.skipped });
  },
  "story-remove"(target) {
    send(MSG.STORY_REMOVE, { id: target.dataset.id });
  },
  "story-edit"(target) {
    state.ui.editingStoryId = target.dataset.id;
    update();
  },
  "story-edit-cancel"() {
    state.ui.editingStoryId = null;
    update();
  },
  "pick-estimate"(target) {
    state.ui.estimate = target.dataset.value;
    update();
  },
  "timer-start"() {
    const seconds = Number(document.querySelector("[data-ref=timer-select]").value);
    const reveal = document.querySelector("[data-ref=timer-reveal]").checked;
    send(MSG.START_TIMER, { seconds, reveal });
  },
  "timer-stop"() {
    send(MSG.STOP_TIMER);
  },
  pass(target) {
    send(MSG.PASS_FACILITATOR, { seat: target.dataset.seat });
  },
  claim() {
    send(MSG.CLAIM_FACILITATOR);
  },
  "remove-seat"(target) {
    state.ui.removing = target.dataset.seat;
    state.ui.removeReason = "";
    state.ui.focus = "remove-reason";
    update();
  },
  "remove-confirm"() {
    const reason = state.ui.removeReason.trim();
    if (send(MSG.REMOVE, reason ? { seat: state.ui.removing, reason } : { seat: state.ui.removing })) {
      state.ui.removing = null;
      update();
    }
  },
  "remove-cancel"() {
    state.ui.removing = null;
    update();
  },
  "deck-confirm"() {
    if (state.ui.deckRequest) send(MSG.SET_DECK, { ...state.ui.deckRequest, confirm: true });
    state.ui.confirmDeck = null;
    state.ui.customDeck = false;
    update();
  },
  "deck-cancel"() {
    state.ui.confirmDeck = null;
    update();
  },
  "custom-cancel"() {
    state.ui.customDeck = false;
    update();
  },
  "import-commit"() {
    postImport(true);
  },
  "import-cancel"() {
    state.ui.import = null;
    update();
  },
  remove(target) {
    // The seat's own Remove asks first (and for a reason), as the players
    // panel's does.
    actions["remove-seat"](target);
  },
};

/** Title, key and description as typed in a story form. */
function storyFields(form) {
  const value = (name) => form.elements[name].value.trim();
  return { title: value("title"), key: value("key"), description: value("description") };
}

function moveStory(id, step) {
  const index = state.backlog.findIndex((story) => story.id === id);
  if (index !== -1) send(MSG.STORY_MOVE, { id, to: Math.max(0, index + step) });
}

function setDeck(request) {
  state.ui.deckRequest = request;
  state.ui.confirmDeck = null;
  send(MSG.SET_DECK, request);
}

/** True when "Next story" has a story to take after this one. */
function hasNextStory() {
  const current = state.game?.storyId;
  return state.backlog.some((s) => s.estimate === null && !s.skipped && s.id !== current);
}

// ------------------------------------------------------------ CSV import (HTTP)

async function postImport(commit) {
  const file = state.ui.import;
  if (!file || !state.gameId) return;
  const query = new URLSearchParams({ game: state.gameId });
  for (const [name, column] of Object.entries(file.columns)) {
    if (column !== null && column !== undefined) query.set(name, String(column));
  }
  if (commit) query.set("commit", "1");
  let response;
  let data = {};
  try {
    response = await fetch(`/api/import?${query}`, {
      method: "POST",
      headers: { "X-Poker-Token": readStore(localStorage, tokenKey(state.gameId)) || "" },
      body: file.data,
    });
    data = await response.json();
  } catch {
    file.error = "The host did not answer. Check the connection and try again.";
    update();
    return;
  }
  if (state.ui.import !== file) return; // cancelled meanwhile
  if (!response.ok) {
    file.error = data.error || `The host answered ${response.status}.`;
  } else if (commit) {
    state.ui.import = null;
    announce(`${data.imported} ${data.imported === 1 ? "story" : "stories"} imported.`);
  } else {
    file.error = null;
    file.preview = data;
    file.columns = { title: data.title, key: data.key ?? -1, description: data.description ?? -1 };
  }
  update();
}

async function chooseImportFile(input) {
  const chosen = input.files && input.files[0];
  if (!chosen) return;
  state.ui.import = { name: chosen.name, data: await chosen.arrayBuffer(), columns: {}, preview: null, error: null };
  update();
  postImport(false);
}

const forms = {
  name(form) {
    const name = form.elements.name.value.trim().slice(0, NAME_MAX);
    if (!name) {
      showError("Type your name first.");
      update();
      return;
    }
    const passcode = form.elements.passcode.value.slice(0, PASSCODE_MAX);
    state.name = name;
    writeStore(localStorage, NAME_KEY, name);
    if (state.askPasscode || state.info?.locked) {
      state.passcode = passcode;
      state.askPasscode = false;
    }
    if (socket) {
      socket.name = name;
      socket.retryNow();
    } else {
      connect(pendingToken);
    }
    update();
  },
  story() {
    const story = state.ui.storyDraft.trim();
    // A story from the backlog is renamed there: typing over it with
    // set_story would cut the round loose from its key and estimate.
    const storyId = state.game?.storyId;
    const sent = storyId
      ? send(MSG.STORY_EDIT, { id: storyId, title: story })
      : send(MSG.SET_STORY, { story });
    if (sent) {
      state.ui.editingStory = false;
      state.ui.focus = "story-edit"; // The input is about to vanish under the cursor.
      update();
    }
  },
  "new-round"() {
    const story = state.ui.newStory.trim();
    if (send(MSG.NEW_ROUND, story ? { story } : {})) {
      state.ui.newStory = "";
      update();
    }
  },
  "story-add"(form) {
    const fields = storyFields(form);
    if (fields.title && send(MSG.STORY_ADD, fields)) {
      form.reset();
      state.ui.focus = "add-title";
      update();
    }
  },
  "story-edit"(form) {
    const fields = { id: state.ui.editingStoryId, ...storyFields(form) };
    if (send(MSG.STORY_EDIT, fields)) {
      state.ui.editingStoryId = null;
      update();
    }
  },
  estimate() {
    const value = state.ui.estimate.trim();
    if (!value) {
      showError("Pick a card or type the final estimate first.");
      update();
      return;
    }
    const next = hasNextStory();
    if (send(MSG.ESTIMATE, { value }) && next) send(MSG.NEXT_STORY);
    update();
  },
  "custom-deck"() {
    const cards = state.ui.customCards.split(/[\s,;]+/).filter(Boolean);
    setDeck({ deck: CUSTOM_DECK, cards });
    update();
  },
};

document.addEventListener("click", (event) => {
  const target = event.target.closest("[data-action]");
  if (!target || target.disabled) return;
  const action = actions[target.dataset.action];
  if (action && target.tagName !== "SELECT" && target.type !== "checkbox") action(target);
});

document.addEventListener("change", (event) => {
  const target = event.target;
  if (target.dataset.action === "auto-reveal") {
    send(MSG.SET_AUTO_REVEAL, { on: target.checked });
    update(); // Back to the host's value until it confirms.
  } else if (target.dataset.action === "away-timeout") {
    const seconds = Number(target.value);
    if (state.game && Number.isInteger(seconds) && seconds !== state.game.awayTimeout) {
      send(MSG.SET_AWAY_TIMEOUT, { seconds });
    }
    update();
  } else if (target.dataset.action === "deck") {
    if (target.value === CUSTOM_DECK) {
      state.ui.customDeck = true;
      const deck = state.game?.deck;
      state.ui.customCards = deck && deck.name === CUSTOM_DECK ? deck.cards.join(" ") : "";
      state.ui.focus = "custom-cards";
    } else if (state.game && target.value !== state.game.deck.name) {
      state.ui.customDeck = false;
      setDeck({ deck: target.value });
    }
    update();
  } else if (target.dataset.action === "import-file") {
    chooseImportFile(target);
  } else if (target.dataset.action === "import-column" && state.ui.import) {
    state.ui.import.columns[target.dataset.column] = Number(target.value);
    postImport(false);
  }
});

document.addEventListener("input", (event) => {
  const draft = event.target.dataset.draft;
  if (draft === "story") state.ui.storyDraft = event.target.value;
  else if (draft === "newStory") state.ui.newStory = event.target.value;
  else if (draft === "estimate") state.ui.estimate = event.target.value;
  else if (draft === "customCards") state.ui.customCards = event.target.value;
  else if (draft === "removeReason") state.ui.removeReason = event.target.value;
});

document.addEventListener("submit", (event) => {
  const form = event.target.closest("[data-form]");
  if (!form) return;
  event.preventDefault();
  const handler = forms[form.dataset.form];
  if (handler) handler(form);
});

/** True when a key press belongs to a text field, not to the shortcuts. */
function isTyping(target) {
  if (!(target instanceof Element)) return false;
  if (target.closest("textarea, select, [contenteditable]")) return true;
  return target instanceof HTMLInputElement && !["checkbox", "radio", "button", "submit"].includes(target.type);
}

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && state.ui.editingStory) {
    state.ui.editingStory = false;
    state.ui.focus = "story-edit";
    update();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
  if (isTyping(event.target)) return;
  if (!state.game || !state.name || state.askPasscode) return;
  const index = cardForKey(state.game.deck, event.key);
  if (index === -1) return;
  const card = state.game.deck.cards[index];
  const button = document.querySelector(`[data-testid=card][data-card="${CSS.escape(card)}"]`);
  if (button && button.disabled) return;
  event.preventDefault();
  vote(card);
});

// ------------------------------------------------------------ start

// The countdown moves on its own between messages, and so does the time an
// away facilitator has been gone (the take-over button waits for it).
setInterval(() => {
  const game = state.game;
  if (!game) return;
  const runner = game.seats.find((seat) => seat.id === game.facilitator);
  if ((game.timer && !game.revealed) || (runner && !runner.connected)) update();
}, TIMER_TICK_MS);

const pendingToken = readFragment();
update();
loadInfo(); // The title and host, even on the name form.
if (state.name) {
  connect(pendingToken);
} else {
  state.ui.focus = "name-input";
  update();
}
