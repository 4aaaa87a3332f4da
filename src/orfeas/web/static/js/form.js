// Parameter controls built from an engine's JSON schema (GET /api/v1/engines), so a new engine or
// parameter shows up without changes here. What is read from each property:
//   title, description         label and help text (pydantic's automatic "Size Mm" titles are
//                              replaced by a label made from the name: "size_mm" → "Size")
//   type, enum, default        the kind of control and its starting value (anyOf [T, null] is T)
//   minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf   ranges and steps
//   unit   (extra)             shown after the value ("mm"); else guessed from a _mm/_px suffix
//   modes  (extra)             the values of `mode` this property applies to; hidden for others
//   advanced (extra, boolean)  placed in a folded "Advanced" group
//   enum_descriptions (extra)  {value: sentence} shown under a choice
//   enum_labels (extra)        {value: label} instead of the value made readable ("in" → "Inches")
//   placeholder (extra)        shown in an empty number or text box (what leaving it empty means)
//   slider (extra, boolean)    false: a number box only (ranges are otherwise given a slider)
//   mode_defaults (extra)      {mode: value}: the default when that mode is chosen (a keychain is
//                              smaller than a sign); a value the person typed is kept
// The property named `mode` (an enum; another name with the `modeKey` option) picks the mode; it
// is drawn first, as a row of buttons.

const AUTO_UNITS = { mm: "mm", px: "px", deg: "°", s: "s", pct: "%" };

/** Sentences for the relief engine's modes, used when the schema carries no enum_descriptions. */
const KNOWN_CHOICES = {
  puffy: "The outline inflated into a rounded body, like a cushion or a keychain.",
  relief: "A bas-relief: the subject raised from a flat plate.",
  extrude: "The outline cut out with straight walls and a flat top: signs, name plates, logos.",
  keychain: "The design raised on a backing that follows its outline, with a ring to hang it by.",
  lithophane: "The whole picture as thickness: print in white, hold up to light.",
  heightmap: "The picture is a height map: brighter is higher.",
  revolve: "A round thing seen from the side (a chess piece, a bottle, a vase) turned into a solid or a vessel.",
};

let uid = 0;

/** Merge $ref / allOf / anyOf-with-null into one plain property description. */
export function resolveProperty(property, schema) {
  let prop = { ...property };
  const deref = (p) => {
    const name = p.$ref?.split("/").pop();
    return name && schema.$defs?.[name] ? { ...schema.$defs[name], ...p, $ref: undefined } : p;
  };
  prop = deref(prop);
  if (Array.isArray(prop.allOf) && prop.allOf.length === 1) prop = { ...deref(prop.allOf[0]), ...prop };
  if (Array.isArray(prop.anyOf)) {
    const kinds = prop.anyOf.filter((p) => p.type !== "null");
    if (kinds.length === 1) prop = { ...deref(kinds[0]), ...prop, nullable: true };
  }
  if (!prop.type && prop.enum) prop.type = typeof prop.enum[0] === "number" ? "number" : "string";
  return prop;
}

export function unitOf(key, prop) {
  if (prop.unit) return prop.unit;
  const suffix = key.split("_").at(-1);
  return key.includes("_") ? AUTO_UNITS[suffix] ?? "" : "";
}

export function labelOf(key, prop) {
  const words = key.split("_");
  const automatic = words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(" ");
  if (prop.title && prop.title !== automatic) return prop.title;
  if (words.length > 1 && AUTO_UNITS[words.at(-1)]) words.pop();
  const text = words.join(" ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const humanise = (value) => {
  const text = String(value).replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
};

/** Digits worth showing for a value between lo and hi. */
function decimalsFor(lo, hi, integer) {
  if (integer) return 0;
  const span = Math.abs(hi - lo) || 1;
  return Math.max(0, Math.min(3, 2 - Math.floor(Math.log10(span))));
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "className") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter(Boolean));
  return node;
}

/** One control: its element, how to read it, how to set it. */
class Field {
  constructor(key, prop, value, onChange) {
    this.key = key;
    this.prop = prop;
    this.id = `f${++uid}-${key}`;
    this.unit = unitOf(key, prop);
    this.onChange = onChange;
    this.modes = Array.isArray(prop.modes) ? prop.modes : null;
    this.errorNode = element("p", { className: "field-error", id: `${this.id}-error`, hidden: true });
    this.root = element("div", { className: "field", "data-field": key });
    const kind = prop.enum ? "choice" : prop.type;
    if (kind === "choice") this._choice(value);
    else if (kind === "boolean") this._boolean(value);
    else if (kind === "integer" || kind === "number") this._number(value);
    else this._text(value);
    this.root.append(this.errorNode);
  }

  _hint(extra = "") {
    const parts = [this.prop.description, extra].filter(Boolean);
    if (!parts.length) return null;
    return element("p", { className: "hint", id: `${this.id}-hint`, text: parts.join(" ") });
  }

  _describe(input, hint) {
    const ids = [hint && hint.id, this.errorNode.id].filter(Boolean).join(" ");
    input.setAttribute("aria-describedby", ids);
  }

  _choice(value) {
    const options = this.prop.enum;
    const descriptions = this.prop.enum_descriptions ?? {};
    const labels = this.prop.enum_labels ?? {};
    const labelFor = (option) => labels[option] ?? humanise(option);
    this.describeChoice = (v) => descriptions[v] ?? (this.key === "mode" ? KNOWN_CHOICES[v] : "") ?? "";
    if (options.length <= 4 || this.key === "mode") {
      // A row of buttons (radios): fewer clicks than a menu and every choice visible. The mode
      // always gets one: it decides which other fields there are.
      this.kind = "segmented";
      const fieldset = element("fieldset", { className: "segmented-field" });
      fieldset.append(element("legend", { text: labelOf(this.key, this.prop) }));
      const row = element("div", { className: "segmented", role: "presentation" });
      this.radios = options.map((option) => {
        const input = element("input", { type: "radio", name: this.id, id: `${this.id}-${option}`, value: option });
        input.checked = option === value;
        input.addEventListener("change", () => this._changed());
        row.append(input, element("label", { for: input.id, text: labelFor(option) }));
        return input;
      });
      // The chosen value's own sentence replaces the general description when there is one.
      const hasNotes = options.some((o) => this.describeChoice(o));
      const hint = hasNotes ? null : this._hint();
      if (hasNotes && this.prop.description) fieldset.title = this.prop.description;
      this.choiceNote = element("p", { className: "hint choice-note", id: `${this.id}-note` });
      fieldset.append(...[row, this.choiceNote, hint].filter(Boolean));
      this.radios.forEach((r) => this._describe(r, hint ?? this.choiceNote));
      this.root.append(fieldset);
      this._updateChoiceNote();
      return;
    }
    this.kind = "select";
    const select = element("select", { id: this.id });
    for (const option of options) select.append(element("option", { value: option, text: labelFor(option) }));
    select.value = value;
    select.addEventListener("change", () => this._changed());
    const hint = this._hint();
    this._describe(select, hint);
    this.input = select;
    this.root.append(element("label", { for: this.id, text: labelOf(this.key, this.prop) }), select, hint);
  }

  _updateChoiceNote() {
    if (!this.choiceNote) return;
    const text = this.describeChoice(this.value());
    this.choiceNote.textContent = text;
    this.choiceNote.hidden = !text;
  }

  _boolean(value) {
    this.kind = "boolean";
    const input = element("input", { type: "checkbox", id: this.id, role: "switch" });
    input.checked = Boolean(value);
    input.addEventListener("change", () => this._changed());
    const hint = this._hint();
    this._describe(input, hint);
    this.input = input;
    const label = element("label", { for: this.id, className: "switch" }, input, element("span", { className: "switch-track", "aria-hidden": "true" }), element("span", { text: labelOf(this.key, this.prop) }));
    this.root.classList.add("field-boolean");
    this.root.append(label, hint);
  }

  _number(value) {
    this.kind = "number";
    const p = this.prop;
    const integer = p.type === "integer";
    const lo = p.minimum ?? p.exclusiveMinimum;
    const hi = p.maximum ?? p.exclusiveMaximum;
    this.integer = integer;
    this.decimals = decimalsFor(lo ?? 0, hi ?? 100, integer);
    const step = p.multipleOf ?? (integer ? 1 : 10 ** -this.decimals);
    const input = element("input", {
      type: "number",
      id: this.id,
      inputmode: integer ? "numeric" : "decimal",
      min: lo,
      max: hi,
      step,
      placeholder: p.placeholder,
    });
    input.value = value ?? "";
    const range = lo !== undefined && hi !== undefined ? `${fmt(lo)}–${fmt(hi)}${this.unit ? ` ${this.unit}` : ""}.` : "";
    const hint = this._hint(range);
    this._describe(input, hint);
    this.input = input;
    const label = labelOf(this.key, p);
    const controls = element("div", { className: "number-row" });
    // A slider beside the box; logarithmic when the range spans two decades or more. None for
    // wide linear ranges (a seed) or when the schema says "slider": false.
    const log = lo > 0 && hi / lo >= 100;
    const slide = lo !== undefined && hi !== undefined && p.slider !== false && (log || hi - lo <= 10000);
    if (slide) {
      this.log = log;
      const slider = element("input", {
        type: "range",
        min: 0,
        max: 1000,
        step: 1,
        "aria-label": `${label} slider`,
        "aria-describedby": hint?.id,
      });
      this.toSlider = (v) => (this.log ? (Math.log(v / lo) / Math.log(hi / lo)) * 1000 : ((v - lo) / (hi - lo)) * 1000);
      this.fromSlider = (t) => (this.log ? lo * (hi / lo) ** (t / 1000) : lo + ((hi - lo) * t) / 1000);
      slider.value = String(this.toSlider(Number(value ?? lo)));
      slider.addEventListener("input", () => {
        input.value = String(this._round(this.fromSlider(Number(slider.value))));
        this._changed();
      });
      input.addEventListener("input", () => {
        const v = Number(input.value);
        if (input.value !== "" && Number.isFinite(v)) slider.value = String(this.toSlider(Math.min(hi, Math.max(lo, v))));
        this._changed();
      });
      this.slider = slider;
      controls.append(slider);
    } else {
      input.addEventListener("input", () => this._changed());
    }
    const box = element("div", { className: "number-box" }, input, this.unit ? element("span", { className: "unit", text: this.unit, "aria-hidden": "true" }) : null);
    controls.append(box);
    this.root.append(element("label", { for: this.id, text: label }), controls, hint);
  }

  _round(v) {
    const p = this.prop;
    if (p.multipleOf) {
      // The schema's step wins (a picture width in multiples of 8), kept inside the range.
      const m = p.multipleOf;
      const lo = Math.ceil((p.minimum ?? -Infinity) / m) * m;
      const hi = Math.floor((p.maximum ?? Infinity) / m) * m;
      return Math.min(hi, Math.max(lo, Math.round(v / m) * m));
    }
    if (this.integer) {
      // Large integers (face counts) snap to round numbers.
      const magnitude = 10 ** Math.max(0, Math.floor(Math.log10(Math.abs(v) || 1)) - 1);
      return Math.round(v / magnitude) * magnitude;
    }
    return Number(v.toFixed(this.decimals));
  }

  _text(value) {
    this.kind = "text";
    const input = element("input", { type: "text", id: this.id, maxlength: this.prop.maxLength, placeholder: this.prop.placeholder });
    input.value = value ?? "";
    input.addEventListener("input", () => this._changed());
    const hint = this._hint();
    this._describe(input, hint);
    this.input = input;
    this.root.append(element("label", { for: this.id, text: labelOf(this.key, this.prop) }), input, hint);
  }

  _changed() {
    this.touched = true; // the person's own value: a mode's default no longer replaces it
    this.setError(null);
    this._updateChoiceNote();
    this.onChange?.(this);
  }

  value() {
    if (this.kind === "segmented") return this.radios.find((r) => r.checked)?.value ?? this.prop.default;
    if (this.kind === "boolean") return this.input.checked;
    if (this.kind === "number") return this.input.value.trim() === "" ? undefined : Number(this.input.value);
    return this.input.value;
  }

  setValue(value) {
    if (this.kind === "segmented") this.radios.forEach((r) => (r.checked = r.value === String(value)));
    else if (this.kind === "boolean") this.input.checked = Boolean(value);
    else {
      this.input.value = value ?? "";
      if (this.slider && value !== undefined) this.slider.value = String(this.toSlider(Number(value)));
    }
    this._updateChoiceNote();
  }

  /** A message for this value, or null when it is acceptable (the server has the last word). */
  check() {
    const v = this.value();
    const p = this.prop;
    if (this.kind !== "number") return null;
    if (v === undefined) return p.nullable ? null : "Enter a number.";
    if (!Number.isFinite(v)) return "Enter a number.";
    if (this.integer && !Number.isInteger(v)) return "Enter a whole number.";
    const unit = this.unit ? ` ${this.unit}` : "";
    if (p.minimum !== undefined && v < p.minimum) return `At least ${fmt(p.minimum)}${unit}.`;
    if (p.maximum !== undefined && v > p.maximum) return `At most ${fmt(p.maximum)}${unit}.`;
    if (p.exclusiveMinimum !== undefined && v <= p.exclusiveMinimum) return `More than ${fmt(p.exclusiveMinimum)}${unit}.`;
    if (p.exclusiveMaximum !== undefined && v >= p.exclusiveMaximum) return `Less than ${fmt(p.exclusiveMaximum)}${unit}.`;
    if (p.multipleOf && Math.abs(v / p.multipleOf - Math.round(v / p.multipleOf)) > 1e-9) {
      return `Use a multiple of ${fmt(p.multipleOf)}${unit}.`;
    }
    return null;
  }

  setError(message) {
    this.errorNode.textContent = message ?? "";
    this.errorNode.hidden = !message;
    this.root.classList.toggle("invalid", Boolean(message));
    for (const input of this.radios ?? [this.input]) input?.setAttribute("aria-invalid", message ? "true" : "false");
  }

  focus() {
    (this.radios?.find((r) => r.checked) ?? this.radios?.[0] ?? this.input)?.focus();
  }
}

const fmt = (n) => (Math.abs(n) >= 10000 ? n.toLocaleString("en") : String(n));

/** The controls for one JSON schema, with mode-dependent visibility. */
export class SchemaForm {
  /**
   * @param {HTMLElement} container emptied and filled with the controls
   * @param {object} schema a JSON schema of an object
   * @param {{values?: object, mode?: string, modeKey?: string, onChange?: Function}} options
   */
  constructor(container, schema, { values = {}, mode, modeKey = "mode", onChange } = {}) {
    this.container = container;
    this.modeKey = modeKey;
    this.fields = new Map();
    container.replaceChildren();
    const main = element("div", { className: "fields" });
    const advancedBody = element("div", { className: "fields" });
    for (const [key, raw] of Object.entries(schema?.properties ?? {})) {
      const prop = resolveProperty(raw, schema);
      if (!["string", "number", "integer", "boolean"].includes(prop.type)) continue; // nothing to draw
      if (prop.format === "path") continue; // server-side paths are not the page's business
      let value = key in values ? values[key] : prop.default;
      if (key === modeKey && mode !== undefined && prop.enum?.includes(mode)) value = mode;
      const given = key in values && values[key] !== undefined;
      const field = new Field(key, prop, value, (f) => {
        if (f.key === modeKey) this._applyMode();
        onChange?.(f);
      });
      // A value given back (the form rebuilt) counts as the person's unless it is some default.
      const defaults = [prop.default, ...Object.values(prop.mode_defaults ?? {})];
      field.touched = given && !defaults.includes(values[key]);
      this.fields.set(key, field);
      (prop.advanced ? advancedBody : main).append(field.root);
    }
    const modeField = this.fields.get(modeKey);
    if (modeField) {
      modeField.root.classList.add("field-mode");
      container.append(modeField.root);
    }
    container.append(main);
    if (advancedBody.childElementCount) {
      const details = element("details", { className: "advanced" }, element("summary", { text: "Advanced" }), advancedBody);
      container.append(details);
    }
    this._applyMode();
  }

  get mode() {
    return this.fields.get(this.modeKey)?.value();
  }

  setMode(value) {
    const field = this.fields.get(this.modeKey);
    if (!field || !field.prop.enum.includes(value)) return;
    field.setValue(value);
    this._applyMode();
  }

  _applyMode() {
    const mode = this.mode;
    for (const field of this.fields.values()) {
      field.root.hidden = Boolean(field.modes && mode !== undefined && !field.modes.includes(mode));
      const own = field.prop.mode_defaults;
      if (own && !field.touched) field.setValue(mode in own ? own[mode] : field.prop.default);
    }
    for (const details of this.container.querySelectorAll("details.advanced")) {
      details.hidden = ![...details.querySelectorAll(".field")].some((f) => !f.hidden);
    }
  }

  /** Every value of the visible controls (the server fills in the rest) and the problems found. */
  collect() {
    const values = {};
    const problems = [];
    for (const field of this.fields.values()) {
      if (field.root.hidden) continue;
      const problem = field.check();
      field.setError(problem);
      if (problem) problems.push(field);
      const value = field.value();
      if (value !== undefined) values[field.key] = value;
    }
    return { values, problems };
  }

  /** Every value, hidden ones included: kept while the person switches engines or modes. */
  snapshot() {
    return Object.fromEntries([...this.fields].map(([k, f]) => [k, f.value()]));
  }

  /** Show ``message`` at the control named ``key``; false when there is no such control. */
  showError(key, message) {
    const field = this.fields.get(key);
    if (!field) return false;
    field.root.hidden = false;
    field.root.closest("details")?.setAttribute("open", "");
    field.setError(message);
    field.focus();
    return true;
  }

  clearErrors() {
    for (const field of this.fields.values()) field.setError(null);
  }
}
