// The subject's cut-out before any model is built: the server's mask (POST /api/v1/mask) laid
// over the picture, a switch of where it comes from (auto, alpha, neural, grabcut, the whole
// picture), and a brush that removes or adds areas with a mouse, a finger or a pen (pointer
// events) or the keyboard (arrow keys and Space on the focused canvas). What the brush painted goes with the job as `mask_edit`: a PNG the mask's size, black
// where it removes, white where it adds, transparent where the server's mask stands.
import { api } from "./api.js";

/** The sources the switch offers, in order, with their labels (the server lists what can run). */
const SOURCES = [
  ["auto", "Auto"],
  ["alpha", "Alpha"],
  ["neural", "Neural"],
  ["grabcut", "GrabCut"],
  ["none", "Whole"],
];
/** What made a mask, as a person reads it (the answer's `source`). */
const MADE_BY = { alpha: "Transparency", neural: "Neural", grabcut: "GrabCut", whole: "Whole picture", none: "Whole picture", edit: "Your edit" };
/** What is left out of the model is dimmed with this; the outline is drawn in the accent colour. */
const DIM = "rgba(8, 10, 16, 0.72)";
const EDGE = "#9aa6ff";

const $ = (selector) => document.querySelector(selector);

function canvas(width, height) {
  const node = document.createElement("canvas");
  node.width = width;
  node.height = height;
  return node;
}

/** A picture file (or a data URL) as something a canvas can draw; null when the browser cannot (TIFF). */
async function drawable(source) {
  const img = new Image();
  img.decoding = "async";
  const url = source instanceof Blob ? URL.createObjectURL(source) : source;
  img.src = url;
  try {
    await img.decode();
    return img;
  } catch {
    return null;
  } finally {
    if (source instanceof Blob) URL.revokeObjectURL(url);
  }
}

export class MaskEditor {
  /**
   * @param {HTMLElement} root the #mask-editor section of the page
   * @param {{onSource?: (name: string) => void}} options told when the person picks a source here
   */
  constructor(root, { onSource } = {}) {
    this.root = root;
    this.onSource = onSource;
    this.view = $("#mask-canvas");
    this.status = $("#mask-status");
    this.note = $("#mask-source-note");
    this.available = Object.fromEntries(SOURCES.map(([name]) => [name, { available: true, reason: "" }]));
    this.chosen = "auto";
    this.file = null;
    this.answer = null; // the server's last mask answer (JSON)
    this.asked = 0; // numbers the requests: only the newest answer is shown
    this.strokes = [];
    this.stroke = null; // the stroke being painted
    this.hover = null; // where the brush is, to show its size
    this.frame = 0;
    this._buildSwitch();
    this._wireBrush();
  }

  /** Which sources can run on this server and why not (GET /api/v1/engines, `masks`). */
  setSources(rows = []) {
    for (const row of rows) {
      if (row.name in this.available) this.available[row.name] = { available: Boolean(row.available), reason: row.reason ?? "" };
    }
    this._renderSwitch();
  }

  get source() {
    return this.chosen;
  }

  /** Pick a source from elsewhere (the form's Mask field): the cut-out follows, the edit stays. */
  choose(name) {
    if (!(name in this.available) || name === this.chosen) return;
    this.chosen = name;
    this._renderSwitch();
    if (this.file) this._ask();
  }

  /** A new picture: ask for its mask and start a fresh edit. */
  async show(file) {
    this.file = file;
    this.asked += 1; // an answer still coming for the last picture is not shown
    this.strokes = [];
    this.keyStroke = null;
    this.keyAt = null;
    this.answer = null;
    this.picture = await drawable(file);
    if (this.file !== file) return;
    this._plain();
    this._updateButtons();
    this.available.alpha.noTransparency = false;
    this.root.hidden = false;
    this._renderSwitch();
    await this._ask();
  }

  /** The picture is gone: hide the editor and forget the edit. */
  clear() {
    this.file = null;
    this.answer = null;
    this.picture = null;
    this.strokes = [];
    this.keyStroke = null;
    this.keyAt = null;
    this.asked += 1;
    this.root.hidden = true;
    this.root.dataset.state = "empty";
    this._updateButtons();
  }

  /** The brush edit as a PNG the mask's size, or null when nothing was painted. */
  editBlob() {
    if (!this.answer || !this.strokes.length) return Promise.resolve(null);
    return new Promise((resolve) => this.editLayer.toBlob((blob) => resolve(blob), "image/png"));
  }

  /** The new picture alone while its mask is found (nothing of the last picture's cut-out stays). */
  _plain() {
    this.base = this.effective = this.composed = null;
    const context = this.view.getContext("2d");
    if (!this.picture) {
      context.clearRect(0, 0, this.view.width, this.view.height);
      return;
    }
    const scale = Math.min(1, 1024 / Math.max(this.picture.naturalWidth, this.picture.naturalHeight));
    this.view.width = Math.max(1, Math.round(this.picture.naturalWidth * scale));
    this.view.height = Math.max(1, Math.round(this.picture.naturalHeight * scale));
    context.drawImage(this.picture, 0, 0, this.view.width, this.view.height);
  }

  // --- the server's mask ---------------------------------------------------------------------------

  async _ask() {
    const file = this.file;
    const source = this.chosen;
    const ticket = ++this.asked;
    this.root.dataset.state = "loading";
    $("#mask-busy").hidden = false;
    this.status.textContent = "Finding the subject…";
    try {
      const answer = await api.mask(file, source);
      if (ticket !== this.asked) return;
      await this._take(answer);
    } catch (error) {
      if (ticket !== this.asked) return;
      this._refused(error, source);
    } finally {
      if (ticket === this.asked) $("#mask-busy").hidden = true;
    }
  }

  async _take(answer) {
    const png = await drawable(answer.mask);
    if (!png) throw new Error("The mask could not be drawn.");
    const { width, height } = answer;
    // The mask becomes an alpha channel: opaque where the subject is.
    const base = canvas(width, height);
    const context = base.getContext("2d", { willReadFrequently: true });
    context.drawImage(png, 0, 0, width, height);
    const pixels = context.getImageData(0, 0, width, height);
    for (let i = 0; i < pixels.data.length; i += 4) {
      pixels.data[i + 3] = pixels.data[i];
      pixels.data[i] = pixels.data[i + 1] = pixels.data[i + 2] = 255;
    }
    context.putImageData(pixels, 0, 0);
    this.base = base;
    this.answer = answer;
    this.available.alpha.noTransparency = !answer.picture?.transparent;
    this.view.width = width;
    this.view.height = height;
    this._rebuild();
    this.root.dataset.state = "ready";
    this.root.dataset.source = answer.source;
    this._renderSwitch();
    this._say();
  }

  _refused(error, source) {
    // A source that cannot answer for this picture (alpha on an opaque photo, say): say why and
    // go back to the last cut-out that worked.
    this.status.textContent = error.message;
    this.root.dataset.state = this.answer ? "ready" : "failed";
    if (this.answer && source !== this.answer.asked) {
      this.chosen = this.answer.asked;
      this._renderSwitch();
      this.onSource?.(this.chosen);
    }
  }

  _say() {
    const a = this.answer;
    const made = MADE_BY[a.source] ?? a.source;
    const sure = a.source === "none" ? "" : ` · ${Math.round(a.confidence * 100)} % sure`;
    this.status.textContent = `${made}${sure} · ${a.seconds.toFixed(2)} s`;
  }

  // --- the source switch ---------------------------------------------------------------------------

  _buildSwitch() {
    const row = $("#mask-sources");
    this.radios = SOURCES.map(([name, label]) => {
      const input = document.createElement("input");
      input.type = "radio";
      input.name = "mask-source";
      input.id = `mask-source-${name}`;
      input.value = name;
      input.addEventListener("change", () => {
        if (!input.checked) return;
        this.chosen = name;
        this.onSource?.(name);
        if (this.file) this._ask();
      });
      const text = document.createElement("label");
      text.htmlFor = input.id;
      text.textContent = label;
      row.append(input, text);
      return input;
    });
    this._renderSwitch();
  }

  _renderSwitch() {
    const reasons = [];
    for (const input of this.radios) {
      const state = this.available[input.value];
      const why = input.value === "alpha" && state.noTransparency ? "this picture has no transparent background" : state.reason;
      // `auto` always runs (it says what it fell back to); the others are off when they cannot.
      input.disabled = input.value !== "auto" && (!state.available || (input.value === "alpha" && state.noTransparency));
      input.checked = input.value === this.chosen;
      input.nextElementSibling.title = input.disabled ? `Unavailable: ${why}` : why;
      if (input.disabled) reasons.push(`${input.nextElementSibling.textContent} is off: ${why}.`);
      input.setAttribute("aria-describedby", "mask-source-note");
    }
    const fellBack = this.answer?.reason ? `Used ${MADE_BY[this.answer.source] ?? this.answer.source}: ${this.answer.reason}.` : "";
    this.note.textContent = [fellBack, ...reasons].filter(Boolean).join(" ");
    this.note.hidden = !this.note.textContent;
  }

  // --- the brush -------------------------------------------------------------------------------------

  _wireBrush() {
    const view = this.view;
    view.addEventListener("pointerdown", (event) => {
      if (!this.answer || (event.pointerType === "mouse" && event.button !== 0)) return;
      event.preventDefault();
      view.setPointerCapture(event.pointerId);
      const pressure = event.pointerType === "pen" && event.pressure > 0 ? 0.5 + event.pressure : 1;
      this.stroke = this._begin(event.pointerId, this._at(event), pressure);
      this._schedule();
    });
    view.addEventListener("pointermove", (event) => {
      this.hover = event.pointerType === "touch" ? null : this._at(event);
      const stroke = this.stroke;
      if (stroke && stroke.id === event.pointerId) {
        const moves = event.getCoalescedEvents?.() ?? [event];
        for (const move of moves.length ? moves : [event]) {
          stroke.points.push(this._at(move));
          this._paint(stroke, stroke.points.length - 2);
        }
      }
      this._schedule();
    });
    const end = (event) => {
      if (this.stroke && this.stroke.id === event.pointerId) this.stroke = null;
      if (event.type !== "pointerup") this.hover = null;
      this._schedule();
    };
    for (const type of ["pointerup", "pointercancel", "pointerleave"]) view.addEventListener(type, end);
    view.addEventListener("keydown", (event) => this._key(event));
    view.addEventListener("focus", () => {
      this.keyAt ??= [this.view.width / 2, this.view.height / 2];
      this._schedule();
    });
    view.addEventListener("blur", () => {
      this.keyStroke = null;
      this._schedule();
    });
    $("#mask-undo").addEventListener("click", () => {
      this.keyStroke = null;
      this.strokes.pop();
      this._rebuild();
      this._updateButtons();
    });
    $("#mask-clear").addEventListener("click", () => {
      this.keyStroke = null;
      this.strokes = [];
      this._rebuild();
      this._updateButtons();
    });
    $("#mask-size").addEventListener("input", () => this._schedule());
  }

  /** The brush by keyboard: arrow keys move it (Shift: farther), Space or Enter puts it down or
   * lifts it (down, it paints as it moves), Escape lifts it. */
  _key(event) {
    if (!this.answer) return;
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const move = moves[event.key];
    if (move) {
      const step = (this.view.width / 50) * (event.shiftKey ? 4 : 1);
      const [x, y] = this.keyAt ?? [this.view.width / 2, this.view.height / 2];
      this.keyAt = [
        Math.min(Math.max(x + move[0] * step, 0), this.view.width - 1),
        Math.min(Math.max(y + move[1] * step, 0), this.view.height - 1),
      ];
      if (this.keyStroke) {
        this.keyStroke.points.push(this.keyAt);
        this._paint(this.keyStroke, this.keyStroke.points.length - 2);
      }
    } else if (event.key === " " || event.key === "Enter") {
      if (this.keyStroke) this.keyStroke = null;
      else {
        this.keyAt ??= [this.view.width / 2, this.view.height / 2];
        this.keyStroke = this._begin("keyboard", this.keyAt, 1);
      }
    } else if (event.key === "Escape" && this.keyStroke) {
      this.keyStroke = null;
    } else return;
    event.preventDefault(); // the arrows and Space paint here, they do not scroll the page
    this._schedule();
  }

  /** A new stroke at ``point`` in the brush's current mode, painted at once. */
  _begin(id, point, scale) {
    const mode = document.querySelector('input[name="mask-brush"]:checked')?.value ?? "remove";
    const stroke = { id, mode, radius: this._radius() * scale, points: [point] };
    this.strokes.push(stroke);
    this._paint(stroke, 0);
    this._updateButtons();
    return stroke;
  }

  /** The brush's radius in mask pixels: its size is set in screen pixels. */
  _radius() {
    const shown = this.view.getBoundingClientRect().width || this.view.width;
    return (Number($("#mask-size").value) / 2) * (this.view.width / shown);
  }

  /** A pointer's position in mask pixels. */
  _at(event) {
    const box = this.view.getBoundingClientRect();
    return [((event.clientX - box.left) / box.width) * this.view.width, ((event.clientY - box.top) / box.height) * this.view.height];
  }

  _updateButtons() {
    $("#mask-undo").disabled = !this.strokes.length;
    $("#mask-clear").disabled = !this.strokes.length;
    this.root.dataset.strokes = String(this.strokes.length);
  }

  /** Draw ``stroke`` from point ``from`` on: onto the cut-out (what the model will be) and the edit. */
  _paint(stroke, from) {
    _trace(this.effective.getContext("2d"), stroke, from, stroke.mode === "remove" ? "destination-out" : "source-over", "#fff");
    _trace(this.editLayer.getContext("2d"), stroke, from, "source-over", stroke.mode === "remove" ? "#000" : "#fff");
    this.stale = true;
  }

  /** The cut-out and the edit again from the server's mask and every stroke (after undo or clear). */
  _rebuild() {
    if (!this.base) return;
    const { width, height } = this.base;
    this.effective = canvas(width, height);
    this.effective.getContext("2d").drawImage(this.base, 0, 0);
    this.editLayer = canvas(width, height);
    for (const stroke of this.strokes) this._paint(stroke, 0);
    this.stale = true;
    this._schedule();
  }

  _schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this._draw());
  }

  /** The picture with what is left out dimmed and the cut-out's outline, then the brush where it
   * hovers (the picture is composed again only when the cut-out changed). */
  _draw() {
    this.frame = 0;
    if (!this.effective) return;
    if (this.stale || !this.composed) this._compose();
    const { width } = this.view;
    const context = this.view.getContext("2d");
    context.clearRect(0, 0, this.view.width, this.view.height);
    context.drawImage(this.composed, 0, 0);
    // The brush where the pointer hovers, or where the keyboard has it while the canvas has focus
    // (in the accent colour while it is down).
    const keyed = this.view.matches(":focus-visible") ? this.keyAt : null;
    const at = this.hover ?? keyed;
    if (at && this.answer) {
      context.beginPath();
      context.arc(at[0], at[1], this._radius(), 0, Math.PI * 2);
      context.lineWidth = Math.max(1, width / 300) * (this.keyStroke && at === keyed ? 2 : 1);
      context.strokeStyle = this.keyStroke && at === keyed ? EDGE : "rgba(255, 255, 255, 0.85)";
      context.stroke();
    }
  }

  _compose() {
    this.stale = false;
    const { width, height } = this.view;
    this.composed = canvas(width, height);
    const context = this.composed.getContext("2d");
    if (this.picture) context.drawImage(this.picture, 0, 0, width, height);
    else {
      context.fillStyle = "#5a6070"; // a picture the browser cannot draw (TIFF): the mask alone
      context.fillRect(0, 0, width, height);
    }
    const outside = canvas(width, height);
    const dim = outside.getContext("2d");
    dim.fillStyle = DIM;
    dim.fillRect(0, 0, width, height);
    dim.globalCompositeOperation = "destination-out";
    dim.drawImage(this.effective, 0, 0);
    context.drawImage(outside, 0, 0);
    context.drawImage(_outline(this.effective, Math.max(1.5, width / 400)), 0, 0);
  }
}

/** Stroke the points of ``stroke`` from index ``from`` with round ends, as one line. */
function _trace(context, stroke, from, operation, colour) {
  const points = stroke.points.slice(Math.max(0, from));
  context.save();
  context.globalCompositeOperation = operation;
  context.strokeStyle = colour;
  context.fillStyle = colour;
  context.lineWidth = stroke.radius * 2;
  context.lineCap = "round";
  context.lineJoin = "round";
  if (points.length === 1) {
    context.beginPath();
    context.arc(points[0][0], points[0][1], stroke.radius, 0, Math.PI * 2);
    context.fill();
  } else {
    context.beginPath();
    context.moveTo(points[0][0], points[0][1]);
    for (const [x, y] of points.slice(1)) context.lineTo(x, y);
    context.stroke();
  }
  context.restore();
}

/** The outline of a cut-out (its alpha), ``width`` pixels wide, in the edge colour. */
function _outline(mask, width) {
  const edge = canvas(mask.width, mask.height);
  const context = edge.getContext("2d");
  for (let a = 0; a < 8; a += 1) {
    const angle = (a * Math.PI) / 4;
    context.drawImage(mask, Math.cos(angle) * width, Math.sin(angle) * width);
  }
  context.globalCompositeOperation = "destination-out";
  context.drawImage(mask, 0, 0);
  context.globalCompositeOperation = "source-in";
  context.fillStyle = EDGE;
  context.fillRect(0, 0, mask.width, mask.height);
  return edge;
}
