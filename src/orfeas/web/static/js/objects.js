// Object types as cards, and a backlit preview of a lithophane.
//
// The relief engine's `mode` row (drawn by form.js as radio buttons, so it stays keyboard-usable:
// Tab to it, arrows between objects) gets a small picture on each choice and is laid out as a
// grid of cards. A lithophane is judged held to the light: the preview computes what passes
// through each point of the print — thickness from the picture as the engine makes it (darker is
// thicker, from min_thickness_mm to max_thickness_mm, the frame at the thickest) and light falling
// off exponentially through white PLA — before anything is generated.

const SVG_NS = "http://www.w3.org/2000/svg";

/** Small line drawings, 24 × 24, one per mode: what the object looks like. */
const PICTURES = {
  puffy: ["M12 20c-5-3.2-8-6.2-8-9.6C4 7.5 6 6 8.2 6c1.6 0 2.9.8 3.8 2.1C12.9 6.8 14.2 6 15.8 6 18 6 20 7.5 20 10.4c0 3.4-3 6.4-8 9.6z", "M8 10.5c.6-1 1.5-1.5 2.5-1.5"],
  relief: ["M3 16.5 12 21l9-4.5", "M3 16.5 12 12l9 4.5", "M9 14.5V9l3-2.5L15 9v5.5"],
  extrude: ["M7 5h10l-2 4h-6z", "M7 5v9l2 4h6l2-4V5", "M9 9v9M15 9v9"],
  keychain: ["M9 8h9a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H9a2 2 0 0 1-2-2v-8a2 2 0 0 1 2-2z", "M6.5 4.5a2.5 2.5 0 1 1 0 5 2.5 2.5 0 0 1 0-5z", "M8.3 8.3 9.5 9.5"],
  cutter: ["M4 15l8 4 8-4", "M4 15V9l8-4 8 4v6", "M7 11.5 12 14l5-2.5", "M4 9l8 4 8-4"],
  stamp: ["M4 17h16v3H4z", "M6 14h12v3H6z", "M10 14V9h4v5", "M8.5 9a3.5 3.5 0 1 1 7 0z"],
  lithophane: ["M5 4h14v16H5z", "M15.5 8.5a1.8 1.8 0 1 1-.01 0z", "M5 17l4-5 3 3 2-2 5 4"],
  heightmap: ["M3 18l4-7 3 4 4-9 3 6 4-2", "M3 20h18"],
  revolve: ["M9 4h6", "M10 4c0 3-2 4-2 7s2 4 2 6l-2 3h8l-2-3c0-2 2-3 2-6s-2-4-2-7"],
};

function picture(paths) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "object-picture");
  for (const d of paths) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

/** Draw the mode choices of ``form`` (a SchemaForm) as cards with pictures; nothing to do for a
 * form without a mode row (another engine). */
export function objectCards(form) {
  const field = form?.fields.get("mode");
  if (!field?.radios) return;
  field.root.classList.add("object-cards");
  for (const radio of field.radios) {
    const label = field.root.querySelector(`label[for="${radio.id}"]`);
    const paths = PICTURES[radio.value];
    if (!label || !paths || label.querySelector(".object-picture")) continue;
    const name = document.createElement("span");
    name.className = "object-name";
    name.append(...label.childNodes);
    label.replaceChildren(picture(paths), name);
  }
}

/** How much light a millimetre of white PLA lets through (transmission e^(−μ·t), μ per mm). */
const ATTENUATION_PER_MM = 1.2;
/** The preview's longest side (px) and the light behind the print (a warm window). */
const PREVIEW_SIDE = 320;
const LIGHT = [255, 238, 205];

/** The backlit preview in ``figure`` (a <figure> with a <canvas>): shown for a lithophane with a
 * picture, redrawn by ``update`` when the picture or a parameter changes. */
export class BacklitPreview {
  constructor(figure) {
    this.figure = figure;
    this.canvas = figure.querySelector("canvas");
    this.image = null;
  }

  /** ``image``: an <img> showing the chosen picture (or null); ``form``: the relief parameters. */
  update(image, form) {
    const values = form?.snapshot?.() ?? {};
    const ready = image && image.complete && image.naturalWidth > 0 && !image.hidden;
    const show = values.mode === "lithophane" && ready;
    this.figure.hidden = !show;
    if (show) this._draw(image, values);
  }

  _draw(image, p) {
    const scale = Math.min(1, PREVIEW_SIDE / Math.max(image.naturalWidth, image.naturalHeight));
    const w = Math.max(1, Math.round(image.naturalWidth * scale));
    const h = Math.max(1, Math.round(image.naturalHeight * scale));
    this.canvas.width = w;
    this.canvas.height = h;
    const context = this.canvas.getContext("2d", { willReadFrequently: true });
    context.fillStyle = "#fff"; // transparent parts of the picture count as white, as the engine has them
    context.fillRect(0, 0, w, h);
    context.drawImage(image, 0, 0, w, h);
    const pixels = context.getImageData(0, 0, w, h);
    const lo = Number(p.min_thickness_mm ?? 0.8);
    const hi = Number(p.max_thickness_mm ?? 3);
    // The frame, in preview pixels: the picture's longest side is size_mm (a cylinder: once around).
    const longest = p.shape === "cylinder" ? Math.PI * Number(p.diameter_mm ?? 80) * Math.max(1, h / w) : Number(p.size_mm ?? 80);
    const frame = Math.round((Number(p.frame_mm ?? 0) / longest) * Math.max(w, h));
    const brightest = Math.exp(-ATTENUATION_PER_MM * lo);
    const data = pixels.data;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = 4 * (y * w + x);
        let grey = (0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2]) / 255;
        if (p.invert) grey = 1 - grey;
        const inFrame = y < frame || y >= h - frame || (p.shape !== "cylinder" && (x < frame || x >= w - frame));
        const thickness = inFrame ? hi : hi - (hi - lo) * grey;
        const light = Math.exp(-ATTENUATION_PER_MM * thickness) / brightest;
        data[i] = LIGHT[0] * light;
        data[i + 1] = LIGHT[1] * light;
        data[i + 2] = LIGHT[2] * light;
        data[i + 3] = 255;
      }
    }
    context.putImageData(pixels, 0, 0);
    this.canvas.dataset.thickest = String(hi);
  }
}
