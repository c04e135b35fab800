// The list page of a headless host that holds many games: its games (each
// links to /?game=ID) and a form that creates one (POST /api/games).

import { el, refs, setText, show } from "./dom.js";

const REFRESH_MS = 5_000;
const DECK_NAMES = {
  fibonacci: "Fibonacci",
  modified: "Modified Fibonacci",
  tshirt: "T-shirt sizes",
  powers: "Powers of two",
};

const state = { host: "", games: [], decks: [], error: "", busy: false };
const ui = refs(document);

/** Says how a game is doing, in a few words. */
function meta(game) {
  const who = game.loaded
    ? `${game.players} connected`
    : `${game.seats} ${game.seats === 1 ? "seat" : "seats"}, put away`;
  return `Round ${game.round} · ${who}`;
}

function gameItem(game) {
  const li = el("li", { cls: "game-item", attrs: { "data-id": game.id } });
  const text = el("div", { cls: "game-item-text" });
  text.append(
    el("p", { cls: "game-item-title", text: game.title }),
    el("p", { cls: "game-item-meta", text: meta(game) }),
  );
  const open = el("a", {
    cls: "button",
    text: "Join",
    attrs: { href: game.url, "data-testid": "host-game-join" },
  });
  li.append(text, open);
  return li;
}

/** The one place that writes the page from the state. */
function render() {
  setText(ui.host, state.host ? `Hosted by ${state.host}` : "");
  ui.games.replaceChildren(...state.games.map(gameItem));
  show(ui.empty, state.games.length === 0);
  if (ui.deck.options.length !== state.decks.length) {
    ui.deck.replaceChildren(
      ...state.decks.map((name) =>
        el("option", { text: DECK_NAMES[name] || name, attrs: { value: name } }),
      ),
    );
  }
  setText(ui.error, state.error);
  show(ui.error, Boolean(state.error));
  ui.submit.disabled = state.busy;
}

async function refresh() {
  try {
    const response = await fetch("/api/games", { cache: "no-store" });
    if (!response.ok) throw new Error(`The host answered ${response.status}.`);
    const answer = await response.json();
    state.host = answer.host;
    state.games = answer.games;
    state.decks = answer.decks;
  } catch {
    // The host may be restarting: the next refresh tries again.
  }
  render();
}

async function create(event) {
  event.preventDefault();
  state.busy = true;
  state.error = "";
  render();
  try {
    const response = await fetch("/api/games", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ title: ui.title.value, deck: ui.deck.value }),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || `The host answered ${response.status}.`);
    location.assign(answer.url);
    return;
  } catch (error) {
    state.error = error.message;
  }
  state.busy = false;
  render();
}

document.querySelector("[data-form=create]").addEventListener("submit", create);
refresh();
setInterval(refresh, REFRESH_MS);
