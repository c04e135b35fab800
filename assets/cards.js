// Pure helpers about cards and numbers: no DOM, no state.

const SPECIAL_KEYS = { "?": "?", "☕": "C", coffee: "C" };

function isSizeDeck(deck) {
  return deck.name === "tshirt" || deck.cards.some((card) => /^X*[SML]$/i.test(card));
}

/**
 * The keyboard shortcut shown on each card, in deck order.
 *
 * What you press is what you get: a card that is one digit has that digit
 * (8 is 8, not the eighth card), "?" is "?" and the coffee card is C. In a
 * T-shirt deck a size has the first letter no smaller size took (XS is X,
 * then S, M, L). Every other card gets the first digit no card shows, in
 * deck order (13 is 4 in Fibonacci), while digits last.
 */
export function shortcutKeys(deck) {
  const used = new Set();
  const sizes = isSizeDeck(deck);
  const take = (key) => {
    if (!key || used.has(key)) return null;
    used.add(key);
    return key;
  };
  const keys = deck.cards.map((card) => {
    const special = SPECIAL_KEYS[card] || SPECIAL_KEYS[card.toLowerCase()];
    if (special) return take(special);
    if (/^[0-9]$/.test(card)) return take(card);
    const first = card.charAt(0).toUpperCase();
    return sizes && /[A-Z]/.test(first) ? take(first) : null;
  });
  const free = [..."1234567890"].filter((digit) => !used.has(digit));
  return keys.map((key) => (key === null && free.length ? free.shift() : key));
}

/** The card index a key press picks, or -1. */
export function cardForKey(deck, key) {
  const wanted = key.length === 1 ? key.toUpperCase() : key;
  return shortcutKeys(deck).findIndex((k) => k === wanted);
}

/** How many characters a card shows, as people count them (👩🏽‍💻 is one). */
export function visibleLength(card) {
  if (typeof Intl !== "undefined" && Intl.Segmenter) {
    return [...new Intl.Segmenter().segment(card)].length;
  }
  return [...card].length;
}

/** The size class of a card's label: long labels get a smaller type. */
export function labelSize(card) {
  const length = visibleLength(card);
  if (length <= 2) return "";
  if (length === 3) return "is-long";
  return length <= 5 ? "is-longer" : "is-longest";
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
