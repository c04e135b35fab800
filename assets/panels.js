// The facilitator's side panels and the session results, drawn for
// render.js (the one entry that writes the page): players to hand the role
// to or remove, the backlog with its CSV import preview, and the results
// table with its export links. Text from people goes in by textContent.

import { ROLE } from "./protocol.js";
import { el, setText, show, syncList } from "./dom.js";
import { formatNumber, plural, webLink } from "./cards.js";

// A 5,000-story backlog would make thousands of rows; the queue's head is
// what a meeting works on.
const BACKLOG_SHOWN = 200;

function toggle(node, name, on) {
  if (node.classList.contains(name) !== Boolean(on)) node.classList.toggle(name, Boolean(on));
}

function button(text, action, extra = {}) {
  return el("button", {
    cls: extra.cls || "link-button",
    text,
    attrs: { type: "button", "data-action": action, ...extra.attrs },
  });
}

// ------------------------------------------------------------ players

/** Everyone but the facilitator, with "Make facilitator" and "Remove". */
export function renderPlayers(state, view, ref) {
  if (!view.isFacilitator) return;
  const others = view.game.seats.filter((seat) => seat.id !== state.you?.seat);
  syncList(
    ref.players,
    others,
    (seat) => seat.id,
    () => {
      const li = el("li", { cls: "player", attrs: { "data-testid": "player" } });
      li.append(
        el("span", { cls: "player-name" }),
        button("Make facilitator", "pass", { attrs: { "data-testid": "pass-button" } }),
        button("Remove", "remove-seat", { cls: "link-button is-danger", attrs: { "data-testid": "remove-button" } }),
      );
      return li;
    },
    (li, seat) => {
      const bits = [seat.name];
      if (seat.role === ROLE.OBSERVER) bits.push("(observer)");
      if (!seat.connected) bits.push("(away)");
      setText(li.children[0], bits.join(" "));
      li.children[1].dataset.seat = seat.id;
      // The host refuses the role to someone away: nobody would run the table.
      show(li.children[1], seat.connected);
      li.children[2].dataset.seat = seat.id;
    },
  );
  const removing = view.game.seats.find((seat) => seat.id === state.ui.removing);
  show(ref["remove-confirm"], Boolean(removing));
  if (removing) {
    setText(ref["remove-text"], `Remove ${removing.name} from the game? They are told, with your reason if you give one.`);
    if (ref["remove-reason"].value !== state.ui.removeReason) ref["remove-reason"].value = state.ui.removeReason;
  }
}

// ------------------------------------------------------------ backlog

function storyRow() {
  const li = el("li", { cls: "backlog-item", attrs: { "data-testid": "backlog-item" } });
  const text = el("div", { cls: "backlog-text" });
  text.append(el("span", { cls: "backlog-key" }), el("span", { cls: "backlog-title" }));
  const badge = el("span", { cls: "backlog-badge", attrs: { "data-testid": "backlog-estimate" } });
  const actions = el("div", { cls: "backlog-actions" });
  actions.append(
    button("Estimate", "story-start", { attrs: { "data-testid": "story-start" } }),
    button("↑", "story-up", { attrs: { "aria-label": "Move up" } }),
    button("↓", "story-down", { attrs: { "aria-label": "Move down" } }),
    button("Edit", "story-edit", { attrs: { "data-testid": "story-edit-button" } }),
    button("Skip", "story-skip", { attrs: { "data-testid": "story-skip" } }),
    button("✕", "story-remove", { cls: "link-button is-danger", attrs: { "aria-label": "Remove" } }),
  );
  li.append(text, badge, actions);
  return li;
}

function storyEditor(story) {
  const li = el("li", { cls: "backlog-item is-editing" });
  const form = el("form", { cls: "story-edit-form", attrs: { "data-form": "story-edit" } });
  const title = el("input", {
    cls: "text-input",
    attrs: { name: "title", maxlength: 500, required: true, "aria-label": "Title", "data-testid": "edit-title" },
  });
  const key = el("input", {
    cls: "text-input",
    attrs: { name: "key", maxlength: 200, placeholder: "Key or link", "aria-label": "Key or link" },
  });
  const description = el("textarea", {
    cls: "text-input",
    attrs: { name: "description", maxlength: 2000, rows: 2, "aria-label": "Description" },
  });
  title.value = story.title;
  key.value = story.key;
  description.value = story.description;
  const buttons = el("div", { cls: "inline-form" });
  buttons.append(
    el("button", { cls: "button is-primary", text: "Save", attrs: { type: "submit", "data-testid": "edit-save" } }),
    button("Cancel", "story-edit-cancel", { cls: "button is-quiet" }),
  );
  form.append(title, key, description, buttons);
  li.append(form);
  return li;
}

function updateStoryRow(li, story, view) {
  const current = story.id === view.game.storyId;
  toggle(li, "is-current", current);
  toggle(li, "is-done", story.estimate !== null);
  toggle(li, "is-skipped", story.skipped);
  setText(li.querySelector(".backlog-key"), story.key && !webLink(story.key) ? story.key : "");
  setText(li.querySelector(".backlog-title"), story.title);
  li.querySelector(".backlog-title").title = story.description || story.title;
  const badge = li.querySelector(".backlog-badge");
  let status = "";
  if (story.estimate !== null) status = story.estimate;
  else if (current) status = "now";
  else if (story.skipped) status = "skipped";
  setText(badge, status);
  show(badge, Boolean(status));
  const actions = li.querySelector(".backlog-actions");
  show(actions, view.isFacilitator);
  for (const action of actions.children) action.dataset.id = story.id;
  setText(actions.querySelector("[data-action=story-skip]"), story.skipped ? "Unskip" : "Skip");
  show(actions.querySelector("[data-action=story-start]"), !current);
}

/** The queue everyone sees; the facilitator also edits it and imports. */
export function renderBacklog(state, view, ref) {
  const stories = state.backlog;
  const panel = view.isFacilitator || stories.length > 0;
  show(ref.backlog, panel);
  if (!panel) return;
  const done = stories.filter((story) => story.estimate !== null).length;
  setText(ref["backlog-count"], stories.length ? `${done} of ${stories.length} estimated` : "");
  show(ref["next-story"], view.isFacilitator);
  ref["next-story"].disabled = !view.hasNextStory || state.conn !== "connected";
  const editing = state.ui.editingStoryId;
  const shown = stories.slice(0, BACKLOG_SHOWN);
  syncList(
    ref["backlog-list"],
    shown,
    // A row being edited is another element: a form in place of the text.
    (story) => (story.id === editing ? `edit:${story.id}` : story.id),
    (story) => (story.id === editing ? storyEditor(story) : storyRow()),
    (li, story) => {
      if (story.id !== editing) updateStoryRow(li, story, view);
    },
  );
  show(ref["backlog-more"], stories.length > shown.length);
  setText(ref["backlog-more"], `… and ${stories.length - shown.length} more`);
  show(ref["story-add"], view.isFacilitator);
  show(ref["import-label"], view.isFacilitator && !state.ui.import);
  renderImport(state, view, ref);
}

function fillColumns(select, columns, chosen, optional) {
  const options = [...(optional ? [["-1", "None"]] : []), ...columns.map((name, i) => [String(i), name || `Column ${i + 1}`])];
  const signature = options.map((o) => o.join("=")).join("|");
  if (select.dataset.options !== signature) {
    select.dataset.options = signature;
    select.replaceChildren(...options.map(([value, text]) => el("option", { text, attrs: { value } })));
  }
  const value = String(chosen ?? -1);
  if (select.value !== value) select.value = value;
}

/** The preview of a CSV file: the columns to use and the first stories. */
function renderImport(state, view, ref) {
  const file = state.ui.import;
  show(ref.import, Boolean(file) && view.isFacilitator);
  if (!file) {
    if (ref["import-file"].value) ref["import-file"].value = "";
    return;
  }
  const preview = file.preview;
  let summary = `Reading ${file.name}…`;
  if (file.error) summary = file.error;
  else if (preview) {
    summary = `${file.name}: ${plural(preview.stories, "story", "stories")} to import.`;
    if (!preview.obvious) summary += " Which column holds the titles?";
  }
  setText(ref["import-summary"], summary);
  toggle(ref["import-summary"], "form-error", Boolean(file.error));
  const columns = preview ? preview.columns : [];
  for (const name of ["title", "key", "description"]) {
    const select = ref[`import-${name}`];
    fillColumns(select, columns, file.columns[name], name !== "title");
    select.closest("label").hidden = !preview;
  }
  syncList(
    ref["import-sample"],
    preview && !file.error ? preview.sample : [],
    (story) => `${story.key}\u0000${story.title}`,
    () => el("li"),
    (li, story) => setText(li, story.key ? `${story.key} · ${story.title}` : story.title),
  );
  ref["import-commit"].disabled = !preview || Boolean(file.error) || state.conn !== "connected";
}

// ------------------------------------------------------------ results

/** One row per story played, its last round's numbers, as the export has. */
function sessionRows(game, backlog) {
  const rows = new Map();
  for (const round of game.history || []) {
    const id = round.storyId || `typed:${round.story}`;
    const row = rows.get(id) || { id, key: round.key, title: round.story, rounds: 0, final: null };
    row.rounds += 1;
    row.mean = round.mean;
    row.median = round.median;
    row.consensus = round.consensus;
    row.final = round.final || row.final;
    rows.set(id, row);
  }
  for (const story of backlog) {
    const row = rows.get(story.id);
    if (row) {
      row.key = story.key;
      row.title = story.title;
      row.final = story.estimate || row.final;
    }
  }
  return [...rows.values()];
}

export function renderResults(state, view, ref) {
  const rows = sessionRows(view.game, state.backlog);
  show(ref.results, rows.length > 0);
  if (!rows.length) return;
  const game = encodeURIComponent(view.game.id);
  // A link cannot send a header: a locked game's results need the token in it.
  const token = view.game.locked && state.token ? `&token=${encodeURIComponent(state.token)}` : "";
  for (const [format, name] of [["csv", "export-csv"], ["md", "export-md"]]) {
    const href = `/api/export?game=${game}&format=${format}${token}`;
    if (ref[name].getAttribute("href") !== href) ref[name].setAttribute("href", href);
  }
  syncList(
    ref["results-body"],
    rows,
    (row) => row.id,
    () => {
      const tr = el("tr", { attrs: { "data-testid": "results-row" } });
      for (let i = 0; i < 7; i += 1) tr.append(el("td"));
      return tr;
    },
    (tr, row) => {
      const cells = [
        row.key || "",
        row.title,
        row.final || "–",
        formatNumber(row.mean),
        formatNumber(row.median),
        row.consensus ? "yes" : "no",
        row.rounds,
      ];
      cells.forEach((text, i) => setText(tr.children[i], text));
      toggle(tr, "is-current", row.id === view.game.storyId);
    },
  );
}
