// The wire protocol, mirrored from class Msg in poker.py (README, "Protocol").
// Keep both lists in step: a type added on one side only is refused by the
// other as `unknown_type`.

export const MSG = Object.freeze({
  // Client to host.
  JOIN: "join",
  VOTE: "vote",
  REVEAL: "reveal",
  NEW_ROUND: "new_round",
  SET_STORY: "set_story",
  SET_DECK: "set_deck",
  SET_ROLE: "set_role",
  SET_AUTO_REVEAL: "set_auto_reveal",
  REMOVE: "remove",
  PASS_FACILITATOR: "pass_facilitator",
  CLAIM_FACILITATOR: "claim_facilitator",
  ESTIMATE: "estimate",
  NEXT_STORY: "next_story",
  STORY_ADD: "story_add",
  STORY_EDIT: "story_edit",
  STORY_MOVE: "story_move",
  STORY_REMOVE: "story_remove",
  STORY_SKIP: "story_skip",
  START_TIMER: "start_timer",
  STOP_TIMER: "stop_timer",
  SET_AWAY_TIMEOUT: "set_away_timeout",
  PING: "ping",
  // Host to client.
  WELCOME: "welcome",
  STATE: "state",
  SEAT: "seat",
  YOU: "you",
  BACKLOG: "backlog",
  ERROR: "error",
  REMOVED: "removed",
  GOODBYE: "goodbye",
  PONG: "pong",
});

// Codes carried by an `error` message.
export const ERR = Object.freeze({
  BAD_JSON: "bad_json",
  BAD_MESSAGE: "bad_message",
  UNKNOWN_TYPE: "unknown_type",
  BINARY: "binary",
  NOT_JOINED: "not_joined",
  NOT_ALLOWED: "not_allowed",
  BAD_CARD: "bad_card",
  REVEALED: "revealed",
  TOO_FAST: "too_fast",
  TAKEN_OVER: "taken_over",
  BAD_PASSCODE: "bad_passcode",
  CONFIRM_NEEDED: "confirm_needed",
  BAD_DECK: "bad_deck",
  BACKLOG_FULL: "backlog_full",
  BACKLOG_DONE: "backlog_done",
  STORAGE: "storage",
  TABLE_FULL: "table_full",
});

export const ROLE = Object.freeze({ VOTER: "voter", OBSERVER: "observer" });

// Built-in deck names the facilitator may pick (`set_deck`), with the
// labels people see.
export const DECKS = Object.freeze([
  ["fibonacci", "Fibonacci"],
  ["modified", "Modified Fibonacci"],
  ["tshirt", "T-shirt sizes"],
  ["powers", "Powers of two"],
]);

// The deck the facilitator types (`set_deck` with `cards`).
export const CUSTOM_DECK = "custom";

// Limits from the README, checked here too so people learn of them early.
export const NAME_MAX = 40;
export const STORY_MAX = 500;
export const ESTIMATE_MAX = 20;
export const PASSCODE_MAX = 64;
// Seconds a facilitator must be away before others may take the table
// (CLAIM_AFTER in poker.py).
export const CLAIM_AFTER_S = 30;

// Choices the facilitator has for how long an away seat is kept
// (`set_away_timeout`, seconds; 0 keeps it for ever), with their labels.
export const AWAY_TIMEOUTS = Object.freeze([
  [60, "1 minute"],
  [300, "5 minutes"],
  [600, "10 minutes"],
  [1800, "30 minutes"],
  [3600, "1 hour"],
  [0, "never"],
]);
