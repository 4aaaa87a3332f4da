// Colour prints in the studio: the picture's colours as swatches before generating (quantised
// here, in the browser), merging two by clicking them, and the palette the model was built with.
//
// Why in the browser and not an endpoint: the preview follows every change of the count at once,
// sends nothing (no second upload, so no second set of upload caps to keep in step with job
// submission), and is only a preview — the server quantises again when it builds (OpenCV's
// k-means with the speck and thin-region cleaning a print needs) and the report's swatches show
// what was built. Same idea here: k-means in CIELAB on the picture shrunk to PREVIEW_SIDE px.

const PREVIEW_SIDE = 160;
const MERGE_DELTA_E = 10; // colours closer than this are one (as the server does)

function element(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key === "background") node.style.background = value; // CSSOM: allowed by the page's CSP
    else if (key === "attrs") for (const [a, v] of Object.entries(value)) node.setAttribute(a, v);
    else node[key] = value;
  }
  node.append(...children);
  return node;
}

function hex([r, g, b]) {
  return `#${[r, g, b].map((v) => Math.round(v).toString(16).padStart(2, "0")).join("")}`;
}

function toLab([r, g, b]) {
  const lin = (c) => {
    c /= 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const [R, G, B] = [lin(r), lin(g), lin(b)];
  const x = (0.4124 * R + 0.3576 * G + 0.1805 * B) / 0.95047;
  const y = 0.2126 * R + 0.7152 * G + 0.0722 * B;
  const z = (0.0193 * R + 0.1192 * G + 0.9505 * B) / 1.08883;
  const f = (t) => (t > 216 / 24389 ? Math.cbrt(t) : (24389 / 27 * t + 16) / 116);
  return [116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))];
}

const dist2 = (a, b) => (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2;

/** The opaque pixels of a picture (shrunk) quantised to at most ``count`` colours (seeded k-means
 * in CIELAB, k-means++ start, near-equal centres merged): {width, height, labels, colours, shares}. */
export function quantise(image, count) {
  const scale = Math.min(1, PREVIEW_SIDE / Math.max(image.naturalWidth, image.naturalHeight));
  const width = Math.max(1, Math.round(image.naturalWidth * scale));
  const height = Math.max(1, Math.round(image.naturalHeight * scale));
  const canvas = element("canvas", { width, height });
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(image, 0, 0, width, height);
  const data = context.getImageData(0, 0, width, height).data;
  const index = [];
  const rgb = [];
  const lab = [];
  for (let i = 0; i < width * height; i++) {
    if (data[4 * i + 3] < 128) continue;
    const pixel = [data[4 * i], data[4 * i + 1], data[4 * i + 2]];
    index.push(i);
    rgb.push(pixel);
    lab.push(toLab(pixel));
  }
  if (!lab.length) return null;
  let seed = 1;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const centres = [lab[Math.floor(random() * lab.length)]];
  const nearest = lab.map((p) => dist2(p, centres[0]));
  while (centres.length < count) {
    const total = nearest.reduce((a, b) => a + b, 0);
    if (total <= 0) break;
    let pick = random() * total;
    let k = 0;
    while (pick > nearest[k] && k < lab.length - 1) pick -= nearest[k++];
    centres.push(lab[k]);
    for (let i = 0; i < lab.length; i++) nearest[i] = Math.min(nearest[i], dist2(lab[i], lab[k]));
  }
  const labels = new Int16Array(lab.length);
  for (let round = 0; round < 12; round++) {
    const sums = centres.map(() => [0, 0, 0, 0]);
    for (let i = 0; i < lab.length; i++) {
      let best = 0;
      for (let k = 1; k < centres.length; k++) if (dist2(lab[i], centres[k]) < dist2(lab[i], centres[best])) best = k;
      labels[i] = best;
      const s = sums[best];
      s[0] += lab[i][0];
      s[1] += lab[i][1];
      s[2] += lab[i][2];
      s[3] += 1;
    }
    sums.forEach((s, k) => s[3] && (centres[k] = [s[0] / s[3], s[1] / s[3], s[2] / s[3]]));
  }
  // Near-equal centres are one colour; empty ones go.
  const owner = centres.map((_, k) => k);
  for (let a = 0; a < centres.length; a++)
    for (let b = a + 1; b < centres.length; b++)
      if (owner[b] === b && dist2(centres[a], centres[b]) < MERGE_DELTA_E ** 2) owner[b] = owner[a];
  const groups = new Map();
  labels.forEach((label, i) => {
    const k = owner[label];
    if (!groups.has(k)) groups.set(k, { sum: [0, 0, 0], n: 0 });
    const g = groups.get(k);
    g.sum[0] += rgb[i][0];
    g.sum[1] += rgb[i][1];
    g.sum[2] += rgb[i][2];
    g.n += 1;
  });
  const kept = [...groups.entries()].sort((a, b) => b[1].n - a[1].n);
  const rank = new Map(kept.map(([k], n) => [k, n]));
  const colours = kept.map(([, g]) => g.sum.map((v) => v / g.n));
  const full = new Int16Array(width * height).fill(-1);
  index.forEach((pixel, i) => (full[pixel] = rank.get(owner[labels[i]])));
  return { width, height, labels: full, colours, shares: kept.map(([, g]) => g.n / lab.length) };
}

/** The swatches and the quantised preview in the create panel, and the built palette in the report. */
export class PalettePanel {
  /**
   * @param {HTMLElement} container where the preview and its swatches go
   * @param {() => object|null} form the parameter form (SchemaForm) in use
   */
  constructor(container, form) {
    this.container = container;
    this.form = form;
    this.image = null;
    this.parts = []; // [[hex, …], …] — a part's colours, merged ones after the first
    this.selected = null;
  }

  /** The picture to preview (an <img> that has loaded), or null. */
  setImage(image) {
    this.image = image;
    this.update();
  }

  _count() {
    const form = this.form();
    const fields = form?.fields;
    if (!fields?.has("colors") || fields.get("colors").root.hidden) return 1;
    const colors = Number(fields.get("colors").value() ?? 1);
    const mode = form.mode;
    const plate = mode !== "keychain" && Number(fields.get("base_mm")?.value() ?? 0) > 0;
    return colors > 1 ? Math.max(1, colors - (plate ? 1 : 0)) : 1;
  }

  /** Recompute the preview from the picture and the form's colour count. */
  update() {
    const count = this._count();
    if (!this.image || count <= 1 || !this.image.complete || !this.image.naturalWidth) {
      this.container.hidden = true;
      this.container.replaceChildren();
      return;
    }
    const result = quantise(this.image, count);
    if (!result) return;
    this.result = result;
    this.parts = result.colours.map((c) => [hex(c)]);
    this.selected = null;
    this._draw();
    this._writePalette();
  }

  _draw() {
    const { width, height, labels, colours } = this.result;
    const canvas = element("canvas", {
      width,
      height,
      className: "palette-preview",
      attrs: { role: "img", "aria-label": `The picture in ${this.parts.length} colours, as it will print` },
    });
    const context = canvas.getContext("2d");
    const picture = context.createImageData(width, height);
    // A merged colour shows as the part it joined.
    const partOf = colours.map((c) => this.parts.findIndex((p) => p.includes(hex(c))));
    labels.forEach((label, i) => {
      if (label < 0) return;
      const part = this.parts[partOf[label]][0];
      picture.data.set([parseInt(part.slice(1, 3), 16), parseInt(part.slice(3, 5), 16), parseInt(part.slice(5, 7), 16), 255], 4 * i);
    });
    context.putImageData(picture, 0, 0);
    const shares = this.parts.map((p) => p.reduce((sum, h) => sum + this.result.shares[colours.findIndex((c) => hex(c) === h)], 0));
    const list = element("ul", { className: "swatches", attrs: { "aria-label": "Colours of the design" } });
    this.parts.forEach((part, n) => {
      const pressed = this.selected === n;
      const button = element(
        "button",
        {
          type: "button",
          className: "swatch",
          attrs: {
            "aria-pressed": String(pressed),
            "aria-label": `Colour ${n + 1}, ${part[0]}${part.length > 1 ? ` (${part.length} merged)` : ""}, ${Math.round(shares[n] * 100)} % of the design. ${pressed ? "Choose another colour to merge it into this one." : "Choose, then choose another, to merge them."}`,
          },
        },
        element("span", { className: "swatch-chip", attrs: { "aria-hidden": "true" }, background: part[0] }),
        element("span", { className: "swatch-label", text: `${part[0]} · ${Math.round(shares[n] * 100)} %` }),
      );
      button.addEventListener("click", () => this._choose(n));
      list.append(element("li", {}, button));
    });
    const status = element("p", { className: "palette-status", attrs: { role: "status", "aria-live": "polite" }, text: this.message ?? "" });
    this.container.replaceChildren(
      element("h3", { className: "palette-title", text: "Colours" }),
      canvas,
      list,
      element("p", { className: "hint", text: "Choose two swatches to print them as one colour." }),
      status,
    );
    this.container.hidden = false;
    this.message = "";
  }

  _choose(n) {
    if (this.selected === null) {
      this.selected = n;
      this.message = `${this.parts[n][0]} chosen: choose the colour to merge into it.`;
    } else if (this.selected === n) {
      this.selected = null;
      this.message = "Nothing chosen.";
    } else {
      const [keep, gone] = [this.selected, n];
      this.message = `${this.parts[gone][0]} merged into ${this.parts[keep][0]}: ${this.parts.length - 1} colours.`;
      this.parts[keep] = [...this.parts[keep], ...this.parts[gone]];
      this.parts.splice(gone, 1);
      this.selected = null;
      this._writePalette();
    }
    const focus = Math.min(n, this.parts.length - 1);
    this._draw();
    this.container.querySelectorAll(".swatch")[focus]?.focus();
  }

  /** The parts as the ``palette`` parameter (when something was merged), so the server builds them. */
  _writePalette() {
    const field = this.form()?.fields?.get("palette");
    if (!field) return;
    const merged = this.parts.some((p) => p.length > 1);
    field.setValue(merged ? this.parts.map((p) => p.join("+")).join(",") : "");
    field.touched = merged;
  }
}

/** The palette a model was built with (the report's ``colours``), as swatches with filament. */
export function renderBuiltPalette(container, job) {
  const colours = job?.report?.colours;
  container.replaceChildren();
  container.hidden = !colours;
  if (!colours) return;
  const list = element("ul", { className: "swatches built", attrs: { "aria-label": "Colours of the model, one extruder each" } });
  for (const part of colours.parts) {
    const label = `T${part.extruder - 1} ${part.hex} ${part.name}: ${Math.round(part.share * 100)} % of the top, about ${part.filament_g} g, ${part.filament_m} m`;
    list.append(
      element(
        "li",
        { className: "swatch", attrs: { "aria-label": label } },
        element("span", { className: "swatch-chip", attrs: { "aria-hidden": "true" }, background: part.hex }),
        element("span", { className: "swatch-label", attrs: { "aria-hidden": "true" }, text: `T${part.extruder - 1} ${part.hex} · ${Math.round(part.share * 100)} % · ${part.filament_g} g` }),
      ),
    );
  }
  container.append(element("h3", { className: "palette-title", text: `${colours.count} colours` }), list);
}

