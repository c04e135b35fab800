// The desktop lobby: name, host, join, resume, the games found on the
// network. One state object, one render(); every /api/local call carries
// the per-launch key that the app put in the first address.

import { DECKS, NAME_MAX, PASSCODE_MAX } from "./protocol.js";
import { el, readStore, refs, setText, show, syncList, writeStore } from "./dom.js";

const KEY_STORE = "poker.key";
const POLL_MS = 1000;
const ERROR_SHOWN_MS = 6000;

const state = {
  key: null,
  loaded: false,
  remote: { name: "", games: [], recent: [], hosting: null, notice: null },
  drafts: { name: null, hostTitle: "", hostDeck: "fibonacci", hostPasscode: "", address: "" },
  // A game page whose host stopped answering sent us here to find the game
  // again by its id (it may be back at a new address): { id, token }.
  rejoin: null,
  busy: false,
  joinError: null,
  error: null,
  forbidden: false,
};

let ref = null;
let errorTimer = null;

// ------------------------------------------------------------ the key

/** Takes ?rejoin=GAME and #token=..&name=.. (from a game page), then hides them. */
function takeRejoin() {
  const params = new URLSearchParams(location.search);
  const id = params.get("rejoin");
  if (!id) return null;
  const fragment = new URLSearchParams(location.hash.slice(1));
  params.delete("rejoin");
  const query = params.toString();
  history.replaceState(history.state, "", location.pathname + (query ? `?${query}` : ""));
  return { id, token: fragment.get("token") || "", name: fragment.get("name") || "" };
}

/** Takes ?key= from the address once, keeps it for this tab, hides it. */
function takeKey() {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get("key");
  if (fromUrl) {
    writeStore(sessionStorage, KEY_STORE, fromUrl);
    params.delete("key");
    const query = params.toString();
    history.replaceState(history.state, "", location.pathname + (query ? `?${query}` : "") + location.hash);
    return fromUrl;
  }
  return readStore(sessionStorage, KEY_STORE);
}

class LobbyError extends Error {}

/** Calls the app's local API; throws LobbyError with a sentence for people. */
async function api(method, path, body) {
  const options = { method, headers: { "X-Poker-Key": state.key || "" }, cache: "no-store" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api/local/${path}`, options);
  } catch {
    throw new LobbyError("The app is not answering. Is it still running?");
  }
  if (response.status === 403) {
    state.forbidden = true;
    throw new LobbyError("This lobby only works inside the app.");
  }
  let data = {};
  try {
    data = await response.json();
  } catch {
    data = {};
  }
  if (!response.ok) {
    const error = new LobbyError(data.error || `The app answered ${response.status}.`);
    error.status = response.status;
    throw error;
  }
  return data;
}

function showError(message) {
  state.error = message;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => {
    state.error = null;
    render();
  }, ERROR_SHOWN_MS);
}

// ------------------------------------------------------------ render

function ago(epochSeconds) {
  const seconds = Math.max(0, Date.now() / 1000 - epochSeconds);
  if (seconds < 90) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 36) return `${hours} h ago`;
  const days = Math.round(hours / 24);
  if (days < 14) return `${days} days ago`;
  return new Date(epochSeconds * 1000).toLocaleDateString();
}

function players(count) {
  return `${count} ${count === 1 ? "player" : "players"}`;
}

function gameItem(testid, buttonText, action, buttonTestid) {
  const li = el("li", { cls: "game-item", attrs: { "data-testid": testid } });
  const text = el("div", { cls: "game-item-text" });
  text.append(el("p", { cls: "game-item-title" }), el("p", { cls: "game-item-meta" }));
  const button = el("button", {
    cls: "button",
    text: buttonText,
    attrs: { type: "button", "data-action": action, "data-testid": buttonTestid },
  });
  li.append(text, button);
  return li;
}

function fillItem(li, id, title, meta) {
  li.dataset.gameId = id;
  li.querySelector("button").dataset.gameId = id;
  li.querySelector("button").disabled = state.busy;
  setText(li.querySelector(".game-item-title"), title);
  setText(li.querySelector(".game-item-meta"), meta);
  li.querySelector(".game-item-title").title = title;
}

/** Makes the lobby match the state. The only writer of the lobby DOM. */
function render() {
  if (!ref) ref = refs(document);
  const remote = state.remote;
  const noKey = !state.key || state.forbidden;
  show(ref["no-key"], noKey);
  show(ref.columns, !noKey);

  show(ref.notice, Boolean(remote.notice));
  setText(ref.notice, remote.notice);

  show(ref.rejoin, Boolean(state.rejoin));
  if (state.rejoin) {
    setText(ref["rejoin-text"], "The host of your game stopped answering. Looking for it on the network…");
  }

  show(ref.hosting, Boolean(remote.hosting));
  if (remote.hosting) {
    setText(ref["hosting-name"], remote.hosting.title);
    setText(ref["hosting-url"], remote.hosting.joinUrl ? `Team joins at ${remote.hosting.joinUrl}` : "");
  }

  const nameValue = state.drafts.name !== null ? state.drafts.name : remote.name;
  if (ref.name.value !== nameValue && document.activeElement !== ref.name) ref.name.value = nameValue || "";
  if (ref["host-title"].value !== state.drafts.hostTitle) ref["host-title"].value = state.drafts.hostTitle;
  if (ref["host-passcode"].value !== state.drafts.hostPasscode) ref["host-passcode"].value = state.drafts.hostPasscode;
  const deck = ref["host-deck"];
  if (!deck.options.length) {
    for (const [name, label] of DECKS) deck.append(el("option", { text: label, attrs: { value: name } }));
  }
  if (deck.value !== state.drafts.hostDeck) deck.value = state.drafts.hostDeck;
  if (ref["join-address"].value !== state.drafts.address) ref["join-address"].value = state.drafts.address;
  for (const button of [ref["host-submit"], ref["join-submit"], ref["name-save"]]) button.disabled = state.busy;

  show(ref["join-error"], Boolean(state.joinError));
  setText(ref["join-error"], state.joinError);

  syncList(
    ref.found,
    remote.games,
    (game) => game.id,
    () => gameItem("found-game", "Join", "join-found", "found-game-join"),
    (li, game) => {
      const bits = [`hosted by ${game.host}`, players(game.players)];
      if (game.locked) bits.push("passcode");
      fillItem(li, game.id, game.title, bits.join(" · "));
      li.querySelector("button").dataset.url = game.url;
    },
  );
  show(ref["found-empty"], state.loaded && remote.games.length === 0);

  syncList(
    ref.recent,
    remote.recent,
    (game) => game.id,
    () => {
      const li = gameItem("recent-game", "Resume", "resume", "recent-resume");
      // Results of any stored game; a link sends no header, so the key
      // rides in the address (this site answers only on loopback).
      const links = el("p", { cls: "game-item-links" });
      links.append(
        el("a", { cls: "link-button", text: "CSV", attrs: { "data-testid": "recent-export-csv", download: "" } }),
        el("a", { cls: "link-button", text: "Markdown", attrs: { "data-testid": "recent-export-md", download: "" } }),
      );
      li.querySelector(".game-item-text").append(links);
      return li;
    },
    (li, game) => {
      const bits = [`round ${game.round}`, players(game.players), ago(game.updated)];
      if (game.story) bits.push(game.story);
      fillItem(li, game.id, game.title, bits.join(" · "));
      const query = (format) =>
        `/api/local/export?${new URLSearchParams({ id: game.id, format, key: state.key || "" })}`;
      const [csv, md] = li.querySelectorAll(".game-item-links a");
      if (csv.getAttribute("href") !== query("csv")) csv.setAttribute("href", query("csv"));
      if (md.getAttribute("href") !== query("md")) md.setAttribute("href", query("md"));
      const hosted = remote.hosting && remote.hosting.id === game.id;
      setText(li.querySelector("button"), hosted ? "Open" : "Resume");
    },
  );
  show(ref["recent-empty"], state.loaded && remote.recent.length === 0);

  show(ref.error, Boolean(state.error));
  setText(ref.error, state.error);
}

// ------------------------------------------------------------ polling

/** Opens the game we were sent to find, once it is listed again. */
async function rejoinIfFound() {
  const wanted = state.rejoin;
  if (!wanted || state.busy) return;
  const hosting = state.remote.hosting;
  if (hosting && hosting.id === wanted.id) {
    state.rejoin = null;
    go(hosting.url);
    return;
  }
  const game = state.remote.games.find((found) => found.id === wanted.id);
  if (!game) return;
  await run(async () => {
    const answer = await api("POST", "join", { address: game.url });
    const url = new URL(answer.url);
    const fragment = new URLSearchParams(url.hash.slice(1));
    if (wanted.token) fragment.set("token", wanted.token);
    url.hash = fragment.toString();
    state.rejoin = null;
    go(url.href);
  });
}

async function poll() {
  try {
    state.remote = { ...state.remote, ...(await api("GET", "state")) };
    state.loaded = true;
    await rejoinIfFound();
  } catch (error) {
    if (!state.forbidden) showError(error.message);
  }
  render();
  if (!state.forbidden) setTimeout(poll, POLL_MS);
}

// ------------------------------------------------------------ actions

async function saveName() {
  const name = (state.drafts.name ?? state.remote.name ?? "").trim().slice(0, NAME_MAX);
  if (!name) throw new LobbyError("Type your name first: your team sees it at the table.");
  if (name !== state.remote.name) {
    await api("POST", "name", { name });
    state.remote.name = name;
  }
  state.drafts.name = null;
}

/** Runs one lobby action: no double clicks, errors shown, then render. */
async function run(task, onError = showError) {
  if (state.busy) return;
  state.busy = true;
  render();
  try {
    await task();
  } catch (error) {
    onError(error instanceof LobbyError ? error.message : "Something went wrong. Try again.");
  } finally {
    state.busy = false;
    render();
  }
}

function go(url) {
  if (typeof url === "string" && /^https?:\/\//i.test(url)) location.href = url;
  else throw new LobbyError("The app gave no address to open.");
}

const actions = {
  "join-found"(target) {
    run(async () => {
      await saveName();
      const answer = await api("POST", "join", { address: target.dataset.url });
      go(answer.url);
    });
  },
  resume(target) {
    run(async () => {
      await saveName();
      go((await api("POST", "resume", { id: target.dataset.gameId })).url);
    });
  },
  return() {
    if (state.remote.hosting) go(state.remote.hosting.url);
  },
  stop() {
    run(async () => {
      await api("POST", "stop", {});
      state.remote.hosting = null;
    });
  },
  "cancel-rejoin"() {
    state.rejoin = null;
    render();
  },
};

const forms = {
  name() {
    run(saveName);
  },
  host() {
    run(async () => {
      await saveName();
      const answer = await api("POST", "host", {
        title: state.drafts.hostTitle.trim() || "Planning poker",
        deck: state.drafts.hostDeck,
        passcode: state.drafts.hostPasscode.trim().slice(0, PASSCODE_MAX),
      });
      go(answer.url);
    });
  },
  join() {
    const address = state.drafts.address.trim();
    if (!address) {
      state.joinError = "Type the address the host shows, like 192.168.1.20:8765.";
      render();
      return;
    }
    state.joinError = null;
    run(
      async () => {
        await saveName();
        go((await api("POST", "join", { address })).url);
      },
      (message) => {
        state.joinError = message;
      },
    );
  },
};

document.addEventListener("click", (event) => {
  const target = event.target.closest("[data-action]");
  if (!target || target.disabled) return;
  const action = actions[target.dataset.action];
  if (action) action(target);
});

document.addEventListener("input", (event) => {
  const draft = event.target.dataset.draft;
  if (draft && draft in state.drafts) state.drafts[draft] = event.target.value;
  if (draft === "address") state.joinError = null;
});

document.addEventListener("change", (event) => {
  const draft = event.target.dataset.draft;
  if (draft === "hostDeck") state.drafts.hostDeck = event.target.value;
  // Leaving the name field saves it, so a later Join never loses it.
  // Not through run(): a busy lobby would disable the button being clicked.
  if (draft === "name" && state.drafts.name !== null && state.drafts.name.trim()) {
    saveName()
      .catch((error) => showError(error.message))
      .finally(render);
  }
});

document.addEventListener("submit", (event) => {
  const form = event.target.closest("[data-form]");
  if (!form) return;
  event.preventDefault();
  const handler = forms[form.dataset.form];
  if (handler) handler(form);
});

// ------------------------------------------------------------ start

state.key = takeKey();
state.rejoin = takeRejoin();
render();
if (state.key) poll();
