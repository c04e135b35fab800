// Small DOM helpers shared by both pages. Text goes in through textContent
// only: names, stories, titles and card labels come from other people.

/** Creates an element with classes, attributes and text (never HTML). */
export function el(tag, { cls, text, attrs } = {}) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (value !== undefined && value !== null && value !== false) {
        node.setAttribute(name, value === true ? "" : String(value));
      }
    }
  }
  return node;
}

/** Collects the elements marked data-ref="name" under root, by name. */
export function refs(root) {
  const found = {};
  for (const node of root.querySelectorAll("[data-ref]")) {
    found[node.dataset.ref] = node;
  }
  return found;
}

/** Sets textContent only when it changed, so selections and focus survive. */
export function setText(node, text) {
  const value = text === undefined || text === null ? "" : String(text);
  if (node.textContent !== value) node.textContent = value;
}

/** Shows or hides a node through the hidden attribute. */
export function show(node, visible) {
  if (node.hidden === Boolean(visible)) node.hidden = !visible;
}

/**
 * Makes container's children match items, reusing the child whose
 * data-key matches an item's key, so that CSS transitions (the card flip)
 * run on the same element instead of a fresh one.
 */
export function syncList(container, items, keyOf, create, update) {
  const old = new Map();
  for (const child of container.children) old.set(child.dataset.key, child);
  items.forEach((item, index) => {
    const key = String(keyOf(item));
    let node = old.get(key);
    if (node) {
      old.delete(key);
    } else {
      node = create(item);
      node.dataset.key = key;
    }
    update(node, item, index);
    if (container.children[index] !== node) {
      container.insertBefore(node, container.children[index] || null);
    }
  });
  for (const node of old.values()) node.remove();
}

/** Reads a value from storage, or null when storage is off. */
export function readStore(storage, key) {
  try {
    return storage.getItem(key);
  } catch {
    return null;
  }
}

/** Writes a value to storage; quietly does nothing when storage is off. */
export function writeStore(storage, key, value) {
  try {
    if (value === null || value === undefined) storage.removeItem(key);
    else storage.setItem(key, value);
  } catch {
    // Private windows may refuse storage: the page still works, it only
    // forgets the name or seat at the next reload.
  }
}
