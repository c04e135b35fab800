// render(state): the only code that writes the game page's DOM. It reads
// the state object and makes the page match it, reusing elements so that
// the reveal flips the very cards that were face down.

import { AWAY_TIMEOUTS, CLAIM_AFTER_S, CUSTOM_DECK, DECKS, ROLE } from "./protocol.js";
import { el, refs, setText, show, syncList } from "./dom.js";
import { formatClock, formatNumber, labelSize, plural, shortcutKeys, webLink } from "./cards.js";

const LABEL_SIZES = ["is-long", "is-longer", "is-longest"];

/** Mark a card label's element with the size class its length wants. */
function sizeLabel(node, card) {
  const size = labelSize(card);
  for (const name of LABEL_SIZES) toggle(node, name, name === size);
}
import { renderBacklog, renderPlayers, renderResults } from "./panels.js";

const CONNECTION_TEXT = {
  idle: "not connected",
  connecting: "connecting…",
  connected: "connected",
  reconnecting: "reconnecting…",
  closed: "disconnected",
  locked: "passcode needed",
};

let ref = null;

function toggle(node, name, on) {
  if (node.classList.contains(name) !== Boolean(on)) node.classList.toggle(name, Boolean(on));
}

/** What the page derives from the state, computed once per render. */
function derive(state) {
  const game = state.game;
  const seatId = state.you ? state.you.seat : null;
  const me = game ? game.seats.find((seat) => seat.id === seatId) || null : null;
  const voters = game ? game.seats.filter((seat) => seat.role === ROLE.VOTER) : [];
  const selected = state.pendingVote !== undefined ? state.pendingVote : state.you?.vote ?? null;
  const storyId = game ? game.storyId : null;
  return {
    game,
    me,
    story: storyId ? state.backlog.find((story) => story.id === storyId) || null : null,
    hasNextStory: state.backlog.some((s) => s.estimate === null && !s.skipped && s.id !== storyId),
    isFacilitator: Boolean(game && seatId && game.facilitator === seatId),
    isObserver: Boolean(me && me.role === ROLE.OBSERVER),
    revealed: Boolean(game && game.revealed),
    voters,
    votedCount: voters.filter((seat) => seat.voted).length,
    selected,
  };
}

// ------------------------------------------------------------ header

function renderHeader(state, view) {
  const title = view.game?.title || state.info?.title || "Planning poker";
  setText(ref.title, title);
  const titleText = `${title} · Planning poker`;
  if (document.title !== titleText) document.title = titleText;
  const host = view.game?.host || state.info?.host;
  setText(ref.host, host ? `hosted by ${host}` : "");

  const lobby = state.lobbyUrl;
  show(ref.back, Boolean(lobby));
  // A headless host's other games; a desktop player has the lobby instead.
  show(ref["all-games"], Boolean(state.info?.games) && !lobby);
  if (lobby && ref.back.getAttribute("href") !== lobby) ref.back.setAttribute("href", lobby);

  const conn = state.conn;
  setText(ref.connection, CONNECTION_TEXT[conn] || conn);
  for (const name of Object.keys(CONNECTION_TEXT)) {
    toggle(ref.connection, `is-${name}`, conn === name);
  }

  const closed = state.closed;
  show(ref.banner, Boolean(closed));
  if (closed) {
    setText(ref["banner-text"], closed.message);
    setText(ref["banner-button"], closed.button || "Connect again");
    show(ref["banner-button"], Boolean(closed.canRetry));
  }
}

// ------------------------------------------------------------ name form

function renderNameForm(state) {
  // No name to ask for a game that is not there (the banner says so).
  const asking = (!state.name || state.askPasscode) && !(state.closed && !state.closed.canRetry && !state.game);
  show(ref["name-form"], asking);
  show(ref["passcode-row"], Boolean(state.askPasscode || (asking && state.info?.locked)));
  if (asking && state.name && !ref["name-input"].value && document.activeElement !== ref["name-input"]) {
    ref["name-input"].value = state.name;
  }
}

// ------------------------------------------------------------ story

function renderStory(state, view) {
  const game = view.game;
  // Rounds of this story, as people count them: a re-vote is its round 2,
  // whatever the game's round number.
  const same = (record) => (game.storyId ? record.storyId === game.storyId : !record.storyId && record.story === game.story);
  const played = (game.history || []).filter(same).length;
  setText(ref.round, `Story · round ${game.revealed ? Math.max(played, 1) : played + 1}`);
  const editing = view.isFacilitator && state.ui.editingStory;
  const story = game.story;
  setText(ref.story, story || (view.isFacilitator ? "No story yet. Add one so everyone knows what they estimate." : "No story yet."));
  toggle(ref.story, "is-empty", !story);
  show(ref.story, !editing);
  show(ref["story-edit"], view.isFacilitator && !editing);
  setText(ref["story-edit"], story ? "Edit" : "Add story");
  show(ref["story-form"], editing);
  if (editing && ref["story-input"].value !== state.ui.storyDraft) {
    ref["story-input"].value = state.ui.storyDraft;
  }

  const key = view.story ? view.story.key : "";
  const link = webLink(key);
  show(ref["story-meta"], Boolean(key) && !editing);
  show(ref["story-link"], Boolean(link));
  show(ref["story-key"], Boolean(key) && !link);
  setText(ref["story-link"], link ? key : "");
  if (link && ref["story-link"].getAttribute("href") !== link) ref["story-link"].setAttribute("href", link);
  setText(ref["story-key"], link ? "" : key);
  const description = view.story ? view.story.description : "";
  show(ref["story-description"], Boolean(description) && !editing);
  setText(ref["story-description"], description);
}

// ------------------------------------------------------------ seats

function createSeat() {
  const li = el("li", { cls: "seat", attrs: { "data-testid": "seat" } });
  const card = el("div", { cls: "seat-card", attrs: { "aria-hidden": "true" } });
  const inner = el("div", { cls: "seat-card-inner" });
  inner.append(
    el("div", { cls: "seat-card-face seat-card-back" }),
    el("div", { cls: "seat-card-face seat-card-front" }),
  );
  inner.lastChild.append(el("span", { cls: "seat-card-value" }));
  card.append(inner);
  const name = el("div", { cls: "seat-name" });
  const status = el("span", { cls: "visually-hidden seat-status" });
  const tags = el("div", { cls: "seat-tags" });
  const remove = el("button", {
    cls: "link-button seat-remove",
    text: "Remove",
    attrs: { type: "button", "data-action": "remove", "data-testid": "seat-remove", hidden: true },
  });
  li.append(card, name, status, tags, remove);
  return li;
}

/** "away since 14:03" from epoch seconds, or plain "away". */
function awayText(seat) {
  if (!seat.awaySince) return "away";
  const since = new Date(seat.awaySince * 1000);
  return `away since ${since.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`;
}

function seatTags(seat, view, state, extreme) {
  const tags = [];
  if (seat.id === view.game.facilitator) tags.push(["is-facilitator", "★ facilitator"]);
  if (seat.id === state.you?.seat) tags.push(["is-you", "you"]);
  if (seat.role === ROLE.OBSERVER) tags.push(["is-observer", "observer"]);
  if (!seat.connected) tags.push(["is-away", awayText(seat)]);
  if (extreme === "low") tags.push(["is-low", "lowest"]);
  if (extreme === "high") tags.push(["is-high", "highest"]);
  return tags;
}

function seatExtreme(seat, view) {
  const result = view.game.result;
  if (!view.revealed || !result) return null;
  // The host names them: the lowest and highest numeric cards' voters.
  if ((result.lowest || []).includes(seat.id)) return "low";
  if ((result.highest || []).includes(seat.id)) return "high";
  return null;
}

function updateSeat(li, seat, state, view) {
  const observer = seat.role === ROLE.OBSERVER;
  const extreme = seatExtreme(seat, view);
  li.dataset.seatId = seat.id;
  toggle(li, "is-voted", seat.voted);
  toggle(li, "is-away", !seat.connected);
  toggle(li, "is-observer", observer);
  toggle(li, "is-you", seat.id === state.you?.seat);
  toggle(li, "is-facilitator", seat.id === view.game.facilitator);
  toggle(li, "is-low", extreme === "low");
  toggle(li, "is-high", extreme === "high");
  const hasCard = seat.voted || (view.revealed && seat.vote !== null && seat.vote !== undefined);
  toggle(li, "has-card", hasCard);

  const value = li.querySelector(".seat-card-value");
  // The face is written only once revealed: before that no value exists,
  // and leaving the last one in place keeps the flip back calm.
  if (view.revealed) {
    setText(value, seat.vote ?? "–");
    sizeLabel(value, seat.vote ?? "–");
  }
  const name = li.querySelector(".seat-name");
  setText(name, seat.name);
  name.title = seat.name;

  let status;
  if (observer) status = "observes";
  else if (view.revealed) status = seat.vote ? `voted ${seat.vote}` : "did not vote";
  else status = seat.voted ? "has voted" : "has not voted yet";
  if (!seat.connected) status += ", away";
  setText(li.querySelector(".seat-status"), status);

  const remove = li.querySelector(".seat-remove");
  remove.dataset.seat = seat.id;
  remove.title = `Remove ${seat.name} from the table`;
  show(remove, view.isFacilitator && !seat.connected && seat.id !== view.game.facilitator);

  const tagBox = li.querySelector(".seat-tags");
  const tags = seatTags(seat, view, state, extreme);
  const signature = tags.map((tag) => tag.join(":")).join(" ");
  if (tagBox.dataset.tags !== signature) {
    tagBox.dataset.tags = signature;
    tagBox.replaceChildren(...tags.map(([cls, text]) => el("span", { cls: `tag ${cls}`, text })));
  }
}

/**
 * Players sit around the table: the first half (rounded up) across it, the
 * rest on the near side, in the order they joined. A seat that changes side
 * when someone joins is drawn afresh there; nothing is turning at that time.
 */
function renderSeats(state, view) {
  const seats = view.game.seats;
  const across = Math.ceil(seats.length / 2);
  const sides = [
    [ref["seats-across"], seats.slice(0, across)],
    [ref["seats-near"], seats.slice(across)],
  ];
  for (const [list, part] of sides) {
    syncList(list, part, (seat) => seat.id, createSeat, (li, seat) => updateSeat(li, seat, state, view));
  }
}

function renderTableCenter(state, view) {
  const total = view.voters.length;
  let status;
  if (view.revealed) {
    status = "Cards are on the table.";
  } else if (total === 0) {
    status = "Waiting for voters to join.";
  } else if (view.votedCount === 0) {
    status = view.isObserver ? `0 of ${total} voted.` : `Pick a card. 0 of ${total} voted.`;
  } else if (view.votedCount < total) {
    status = `${view.votedCount} of ${total} voted.`;
  } else if (view.isFacilitator) {
    status = "Everyone has voted. Reveal when ready.";
  } else {
    status = "Everyone has voted. Waiting for the reveal.";
  }
  setText(ref.status, status);
  renderTimer(state, view);
  show(ref.reveal, view.isFacilitator && !view.revealed);
  // The same new round as the side panel's, where the eyes are after a
  // reveal (on a phone the panel is far below).
  show(ref["next-round"], view.isFacilitator && view.revealed);
  ref["next-round"].disabled = state.conn !== "connected";
  ref.reveal.disabled = view.votedCount === 0 || state.conn !== "connected";
  toggle(ref.reveal, "is-ready", total > 0 && view.votedCount === total);
  // A facilitator who is away (gone for good, or back as a new seat after
  // losing their token) would leave nobody to reveal or start a round.
  const runner = view.game.seats.find((seat) => seat.id === view.game.facilitator);
  const hostNow = (Date.now() + state.clockOffset) / 1000;
  const goneLong = !runner || (!runner.connected && hostNow - (runner.awaySince ?? hostNow) >= CLAIM_AFTER_S);
  const claimable = Boolean(view.me) && !view.isFacilitator && goneLong;
  show(ref.claim, claimable);
  if (claimable) setText(ref.claim, runner ? `${runner.name} is away: take over the table` : "Take over the table");
  ref.claim.disabled = state.conn !== "connected";
}

/** The countdown, on the host's clock (the offset comes with each state). */
function renderTimer(state, view) {
  const timer = view.game.timer;
  const running = Boolean(timer) && !view.revealed;
  show(ref.timer, running);
  if (!running) return;
  const left = Math.max(0, timer.ends * 1000 - (Date.now() + state.clockOffset));
  const seconds = Math.ceil(left / 1000);
  setText(ref.timer, seconds > 0 ? formatClock(seconds) : "Time is up");
  toggle(ref.timer, "is-urgent", seconds <= 10);
  toggle(ref.timer, "is-up", seconds === 0);
}

// ------------------------------------------------------------ result

function renderResult(state, view) {
  const result = view.revealed ? view.game.result : null;
  show(ref.result, Boolean(result));
  if (!result) return;
  setText(ref.mean, formatNumber(result.mean));
  setText(ref.median, formatNumber(result.median));
  setText(ref.mode, result.mode && result.mode.length ? result.mode.join(", ") : "–");
  const range =
    result.low === null || result.high === null
      ? "–"
      : result.low === result.high
        ? formatNumber(result.low)
        : `${formatNumber(result.low)} – ${formatNumber(result.high)}`;
  setText(ref.range, range);
  let note = `from ${plural(result.numeric, "numeric vote", "numeric votes")}`;
  if (result.count > result.numeric) note += ` (${result.count} cards in all)`;
  if (result.numeric === 0) note = plural(result.count, "card, no numbers", "cards, no numbers");
  if (result.count === 0) note = "Nobody voted this round.";
  setText(ref.numeric, note);
  // Sizes and other words have no numbers: mode and chart say it all.
  toggle(ref.result, "is-words", result.numeric === 0 && result.count > 0);

  show(ref.consensus, Boolean(result.consensus));
  toggle(ref.result, "is-consensus", Boolean(result.consensus));
  if (result.consensus) {
    const card = (result.distribution.find((entry) => entry[1] > 0) || [])[0];
    setText(ref["consensus-text"], card !== undefined ? `Consensus on ${card}!` : "Consensus!");
  }

  const bars = result.distribution.filter((entry) => entry[1] > 0);
  const most = Math.max(1, ...bars.map((entry) => entry[1]));
  const modes = new Set(result.mode || []);
  syncList(
    ref.chart,
    bars,
    (entry) => entry[0],
    () => {
      const column = el("div", { cls: "chart-column", attrs: { "data-testid": "chart-bar" } });
      column.append(
        el("span", { cls: "chart-count" }),
        el("span", { cls: "chart-bar" }),
        el("span", { cls: "chart-label" }),
      );
      return column;
    },
    (column, [card, count]) => {
      column.dataset.card = card;
      column.style.setProperty("--share", String(count / most));
      toggle(column, "is-mode", modes.has(card));
      setText(column.children[0], count);
      setText(column.children[2], card);
      column.title = `${card}: ${plural(count, "vote", "votes")}`;
    },
  );
  ref.chart.setAttribute(
    "aria-label",
    `Votes per card: ${bars.map(([card, count]) => `${card} ${count}`).join(", ") || "none"}`,
  );
  renderEstimate(state, view);
}

/** The final estimate: shown to all once recorded, picked by the facilitator. */
function renderEstimate(state, view) {
  const history = view.game.history || [];
  const last = history[history.length - 1];
  const final = last && last.round === view.game.round ? last.final : null;
  show(ref["final-recorded"], Boolean(final));
  setText(ref["final-recorded"], final ? `Final estimate: ${final}` : "");
  show(ref["estimate-form"], view.isFacilitator);
  if (!view.isFacilitator) return;
  const picked = state.ui.estimate;
  syncList(
    ref["estimate-cards"],
    view.game.deck.cards,
    (card) => `${view.game.deck.name}:${card}`,
    () => el("button", { cls: "chip", attrs: { type: "button", "data-action": "pick-estimate" } }),
    (button, card) => {
      button.dataset.value = card;
      setText(button, card);
      toggle(button, "is-selected", picked === card);
      button.setAttribute("aria-pressed", String(picked === card));
    },
  );
  const input = ref["estimate-input"];
  if (input.value !== picked && document.activeElement !== input) input.value = picked;
  setText(ref["estimate-save"], view.hasNextStory ? "Save and next story" : "Save");
  ref["estimate-save"].disabled = state.conn !== "connected";
}

// ------------------------------------------------------------ deck

function renderDeck(state, view) {
  const deck = view.game.deck;
  const keys = shortcutKeys(deck);
  const canVote = !view.isObserver && !view.revealed && state.conn === "connected";
  syncList(
    ref.deck,
    deck.cards.map((card, index) => ({ card, key: keys[index] })),
    (item) => `${deck.name}:${item.card}`,
    () => {
      const button = el("button", {
        cls: "card",
        attrs: { type: "button", "data-testid": "card", "data-action": "vote" },
      });
      button.append(el("span", { cls: "card-label" }), el("kbd", { cls: "card-key" }));
      return button;
    },
    (button, { card, key }) => {
      button.dataset.card = card;
      const selected = view.selected === card;
      toggle(button, "is-selected", selected);
      sizeLabel(button, card);
      button.setAttribute("aria-pressed", String(selected));
      button.disabled = !canVote;
      setText(button.children[0], card);
      setText(button.children[1], key || "");
      show(button.children[1], Boolean(key));
      button.title = key ? `${card} (key ${key})` : card;
    },
  );

  for (const option of document.querySelectorAll(".role-option")) {
    const on = (option.dataset.role === ROLE.OBSERVER) === view.isObserver;
    option.setAttribute("aria-pressed", String(on));
    toggle(option, "is-selected", on);
    option.disabled = state.conn !== "connected";
  }

  let hint;
  if (view.isObserver) hint = "You are observing: switch to Voter to pick a card.";
  else if (view.revealed && view.isFacilitator) hint = "Cards are revealed. Start the next round when the team is ready.";
  else if (view.revealed) hint = "Cards are revealed. Wait for the next round.";
  else if (view.selected !== null) hint = "Your card is face down. Pick it again to take it back.";
  else hint = "Pick a card: click it, or press the key shown on it.";
  setText(ref["deck-hint"], hint);
}

// ------------------------------------------------------------ facilitator and invite

function renderControls(state, view) {
  show(ref.controls, view.isFacilitator);
  if (!view.isFacilitator) return;
  const select = ref["deck-select"];
  if (!select.options.length) {
    for (const [name, label] of DECKS) select.append(el("option", { text: label, attrs: { value: name } }));
    select.append(el("option", { text: "Custom…", attrs: { value: CUSTOM_DECK } }));
  }
  const shownDeck = state.ui.customDeck ? CUSTOM_DECK : view.game.deck.name;
  if (select.value !== shownDeck && document.activeElement !== select) select.value = shownDeck;
  show(ref["deck-editor"], state.ui.customDeck);
  if (ref["custom-cards"].value !== state.ui.customCards) ref["custom-cards"].value = state.ui.customCards;
  show(ref["deck-confirm"], Boolean(state.ui.confirmDeck));
  setText(ref["deck-confirm-text"], state.ui.confirmDeck ? state.ui.confirmDeck.message : "");

  const timing = Boolean(view.game.timer) && !view.revealed;
  show(ref["timer-start"], !timing);
  show(ref["timer-stop"], timing);
  ref["timer-start"].disabled = view.revealed || state.conn !== "connected";
  ref["auto-reveal"].checked = Boolean(view.game.autoReveal);
  const away = ref["away-timeout"];
  const choices = [...AWAY_TIMEOUTS];
  const current = view.game.awayTimeout;
  if (!choices.some(([seconds]) => seconds === current)) {
    choices.push([current, `${Math.round(current / 60)} minutes`]);
  }
  syncList(
    away,
    choices,
    ([seconds]) => seconds,
    () => el("option"),
    (option, [seconds, label]) => {
      option.value = String(seconds);
      setText(option, label);
    },
  );
  if (away.value !== String(current) && document.activeElement !== away) away.value = String(current);
  const offline = state.conn !== "connected";
  away.disabled = offline;
  select.disabled = offline;
  ref["auto-reveal"].disabled = offline;
  ref["new-round"].disabled = offline;
  if (ref["new-story-input"].value !== state.ui.newStory) {
    ref["new-story-input"].value = state.ui.newStory;
  }
}

function renderInvite(state) {
  const url = state.info?.joinUrl || "";
  setText(ref["join-url"], url);
  setText(ref.copy, state.ui.copied ? "Copied" : "Copy");
  toggle(ref.copy, "is-done", state.ui.copied);
  ref.copy.disabled = !url;
  const gameId = state.game?.id || state.info?.id;
  const src = gameId ? `/qr.svg?game=${encodeURIComponent(gameId)}` : "";
  show(ref.qr, Boolean(src));
  if (src && ref.qr.getAttribute("src") !== src) ref.qr.setAttribute("src", src);
}

// ------------------------------------------------------------ page

/** Makes the page match the state. The only writer of the game page DOM. */
export function render(state) {
  if (!ref) ref = refs(document);
  const view = derive(state);
  renderHeader(state, view);
  renderNameForm(state);

  const playing = Boolean(view.game) && !state.askPasscode;
  show(ref.game, playing);
  toggle(document.body, "is-revealed", view.revealed);
  toggle(document.body, "is-facilitator", view.isFacilitator);
  toggle(document.body, "is-consensus", Boolean(view.revealed && view.game.result?.consensus));
  toggle(document.body, "is-observer", view.isObserver);
  toggle(document.body, "is-offline", state.conn !== "connected");
  if (playing) {
    renderStory(state, view);
    renderSeats(state, view);
    renderTableCenter(state, view);
    renderResult(state, view);
    renderDeck(state, view);
    renderControls(state, view);
    renderPlayers(state, view, ref);
    renderBacklog(state, view, ref);
    renderResults(state, view, ref);
    renderInvite(state);
  }

  show(ref.error, Boolean(state.error));
  if (state.error) setText(ref.error, state.error.message);
  setText(ref.announce, state.announcement);

  if (state.ui.focus) {
    const target = ref[state.ui.focus];
    state.ui.focus = null;
    if (target && !target.hidden) target.focus();
  }
}
