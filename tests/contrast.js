// Runs in the game page (tests/test_browser_ui.py): every piece of visible
// text, and every field, with its colour, the colour behind it that gives
// the lowest contrast, and whether it counts as large. Backgrounds are
// composed from the element up to the first opaque one; a gradient counts as
// each of its colour stops, so the worst stop is what is judged. Disabled
// controls are left out, as WCAG 1.4.3 leaves them out.

async () => {
  // Measure settled colours, not the first frame of a transition. Waiting
  // for frames is not enough: headless Chromium may not advance the clock
  // of a page that is not in front, leaving a 0.01 ms transition at its
  // start, so every transition or animation that ends is finished here.
  const frame = () => new Promise((done) => requestAnimationFrame(done));
  await frame();
  for (const a of document.getAnimations()) {
    if (Number.isFinite(a.effect?.getComputedTiming().endTime)) a.finish();
  }
  await frame();
  const parse = (text) => {
    let m = text.match(/^rgba?\(([^)]+)\)$/);
    if (m) {
      const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
      return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    }
    m = text.match(/^color\(srgb ([^)]+)\)$/);
    if (m) {
      const p = m[1].split(/[\s\/]+/).filter(Boolean).map(Number);
      return [p[0] * 255, p[1] * 255, p[2] * 255, p.length > 3 ? p[3] : 1];
    }
    return null;
  };
  const stops = (image) =>
    (image.match(/(rgba?\([^)]+\)|color\(srgb [^)]+\))/g) || []).map(parse);
  const over = (top, under) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat(1);
  };
  const lum = (c) => {
    const ch = c.slice(0, 3).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
  };
  const ratio = (a, b) => {
    const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const backgrounds = (node) => {
    const layers = [];
    for (let el = node; el; el = el.parentElement) {
      const style = getComputedStyle(el);
      const colour = parse(style.backgroundColor);
      const grads = style.backgroundImage.includes("gradient") ? stops(style.backgroundImage) : [];
      const layer = [];
      if (colour && colour[3] > 0) layer.push(colour);
      layers.push({ colour: colour && colour[3] > 0 ? colour : null, grads });
      const opaqueGrad = grads.length && grads.every((g) => g && g[3] === 1);
      if ((colour && colour[3] === 1) || opaqueGrad) break;
    }
    let found = [[255, 255, 255, 1]];
    for (const layer of layers.reverse()) {
      let next = found;
      if (layer.colour) next = next.map((c) => over(layer.colour, c));
      const grads = layer.grads.filter((g) => g && g[3] > 0);
      if (grads.length) next = next.flatMap((c) => grads.map((g) => over(g, c)));
      found = next.slice(0, 24);
    }
    return found;
  };
  const hidden = (el) =>
    el.closest(".visually-hidden") || !el.checkVisibility({ opacityProperty: true, visibilityProperty: true });
  const disabled = (el) => el.closest(":disabled, [aria-disabled=true]");
  const out = [];
  const judge = (el, colourText, what) => {
    const style = getComputedStyle(el);
    const rect = el.getBoundingClientRect();
    if (rect.width < 2 || rect.height < 2) return;
    let opacity = 1;
    for (let up = el; up; up = up.parentElement) opacity *= Number(getComputedStyle(up).opacity);
    const ink = parse(colourText);
    if (!ink) return;
    ink[3] *= opacity;
    const size = parseFloat(style.fontSize);
    const bold = Number(style.fontWeight) >= 700;
    const large = size >= 24 || (size >= 18.66 && bold);
    let worst = Infinity;
    let behind = null;
    for (const bg of backgrounds(el)) {
      const r = ratio(over(ink, bg), bg);
      if (r < worst) [worst, behind] = [r, bg];
    }
    const hex = (c) => "#" + c.slice(0, 3).map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
    out.push({
      what: `${what} ${(el.dataset.testid || el.className || el.tagName).toString().slice(0, 60)}`
        + ` (${hex(over(ink, behind))} on ${hex(behind)})`,
      ratio: Math.round(worst * 100) / 100,
      large,
    });
  };
  for (const el of document.body.querySelectorAll("*")) {
    if (hidden(el) || disabled(el)) continue;
    if (["INPUT", "SELECT", "TEXTAREA"].includes(el.tagName)) {
      if (el.type === "checkbox" || el.type === "file") continue;
      const text = el.value ? "value" : "placeholder";
      const colour = el.value || el.tagName === "SELECT"
        ? getComputedStyle(el).color
        : getComputedStyle(el, "::placeholder").color;
      if (el.value || el.placeholder || el.tagName === "SELECT") judge(el, colour, text);
      continue;
    }
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (own) judge(el, getComputedStyle(el).color, JSON.stringify(el.textContent.trim().slice(0, 24)));
  }
  return out;
}
