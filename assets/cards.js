// Pure helpers about cards and numbers: no DOM, no state.

const SPECIAL_KEYS = { "?": "?", "☕": "C", coffee: "C" };

function isSizeDeck(deck) {
  return deck.name === "tshirt" || deck.cards.some((card) => /^X*[SML]$/i.test(card));
}

/**
 * The keyboard shortcut shown on each card, in deck order.
 *
 * Digits 1-9 and 0 always pick the first ten cards. T-shirt decks show a
 * letter instead: the first letter of the size that no smaller card took
 * (XS is X, S, M, L), and a digit for the rest (XL, XXL); "?" is "?" and
 * the coffee card is C wherever the deck has them.
 */
export function shortcutKeys(deck) {
  const used = new Set();
  const sizes = isSizeDeck(deck);
  const keys = deck.cards.map((card, index) => {
    const special = SPECIAL_KEYS[card] || SPECIAL_KEYS[card.toLowerCase()];
    if (special && (sizes || index >= 10) && !used.has(special)) {
      used.add(special);
      return special;
    }
    const first = card.charAt(0).toUpperCase();
    if (sizes && /[A-Z]/.test(first) && !used.has(first)) {
      used.add(first);
      return first;
    }
    return index < 10 ? String((index + 1) % 10) : null;
  });
  return keys;
}

/** The card index a key press picks, or -1. */
export function cardForKey(deck, key) {
  if (/^[0-9]$/.test(key)) {
    const index = key === "0" ? 9 : Number(key) - 1;
    return index < deck.cards.length ? index : -1;
  }
  const wanted = key.length === 1 ? key.toUpperCase() : key;
  const index = shortcutKeys(deck).findIndex((k) => k === wanted);
  if (index !== -1) return index;
  // "?" and C work even where the card shows its digit instead.
  return deck.cards.findIndex((card) => SPECIAL_KEYS[card] === wanted);
}

/** The number a card stands for, or null ("?", coffee, sizes). */
export function numericValue(card) {
  if (card === null || card === undefined) return null;
  if (card === "½") return 0.5;
  const value = Number(card);
  return card !== "" && Number.isFinite(value) ? value : null;
}

/** A number for people: at most two decimals, no trailing zeros. */
export function formatNumber(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  const rounded = Math.round(value * 100) / 100;
  return String(rounded);
}

/** "1 numeric vote" / "3 numeric votes". */
export function plural(count, one, many) {
  return `${count} ${count === 1 ? one : many}`;
}

/** "1:05" for 65 seconds. */
export function formatClock(seconds) {
  const minutes = Math.floor(seconds / 60);
  return `${minutes}:${String(seconds % 60).padStart(2, "0")}`;
}

/** The text as a web address when it is one (http or https), else null. */
export function webLink(text) {
  if (!text || !/^https?:\/\//i.test(text)) return null;
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}
