// The studio page: wires the input (picture, text or a mesh), the engine form, submission, live
// progress, the viewer, the report, downloads and recent jobs. Nothing here talks to another origin.
import { api, isTerminal, watchJob } from "./api.js";
import { SchemaForm } from "./form.js";
import { MaskEditor } from "./mask.js";
import { MESH_EXTENSIONS, MESH_FORMATS, MESH_SCHEMA, isMeshJob, meshFields } from "./mesh.js";
import { BacklitPreview, objectCards } from "./objects.js";
import { ProgressCard } from "./progress.js";
import { renderRecent } from "./recent.js";
import { PalettePanel, renderBuiltPalette } from "./palette.js";
import { formatBytes, renderDownloads, renderReport } from "./report.js";

const $ = (selector) => document.querySelector(selector);

/** What the server decodes (orfeas.imaging.ACCEPTED_FORMATS); the server checks the bytes again. */
const ACCEPTED_TYPES = ["image/png", "image/jpeg", "image/webp", "image/bmp", "image/tiff", "image/gif"];
const ACCEPTED_EXTENSIONS = /\.(png|jpe?g|webp|bmp|tiff?|gif)$/i;
/** Codes of errors about the input itself (orfeas.errors.InputRejected). */
const INPUT_CODES = new Set(["empty", "too_large", "too_many_pixels", "unsupported_type", "corrupt", "no_subject"]);
/** What a typeset text makes with an engine unless the person says otherwise (a name plate): the
 * server's own rule, from GET /api/v1/engines (`rules.text`), never a copy kept here. */
const textMode = (engine) => state.rules.text?.[engine]?.mode;

const state = {
  engines: [],
  textToImage: [],
  rules: { text: {} },
  defaultEngine: null,
  limits: {
    max_upload_bytes: 25 * 1024 * 1024,
    max_image_pixels: 40_000_000,
    max_text_chars: 200,
    max_model_bytes: 100 * 1024 * 1024,
    max_model_faces: 2_000_000,
  },
  ready: false,
  source: "image",
  file: null,
  modelFile: null,
  meshForm: null,
  /** The mesh job this page sent last: its failure is about the file in the picker. */
  sentModelJob: null,
  previewUrl: null,
  engine: null,
  form: null,
  saved: {},
  lettering: null,
  textStyle: "lettering",
  job: null,
  watcher: null,
  viewer: null,
  /** The picture's cut-out and the brush edit that goes with the job (js/mask.js). */
  mask: null,
  recentTimer: 0,
};

const progress = new ProgressCard($("#progress"));

// --- errors next to their controls ----------------------------------------------------------------

function fieldError(name, message) {
  const node = $(`#${name}-error`);
  if (!node) return false;
  node.textContent = message ?? "";
  node.hidden = !message;
  const control = { image: "#image-input", text: "#text-input", model: "#model-input" }[name];
  if (control) $(control).setAttribute("aria-invalid", message ? "true" : "false");
  node.closest("[data-field]")?.classList.toggle("invalid", Boolean(message));
  if (message) node.setAttribute("role", "alert");
  return true;
}

function formError(message) {
  const node = $("#form-error");
  node.textContent = message ?? "";
  node.hidden = !message;
}

function clearErrors() {
  for (const name of ["image", "text", "model", "engine"]) fieldError(name, null);
  formError(null);
  state.form?.clearErrors();
  state.meshForm?.clearErrors();
  state.lettering?.clearErrors();
}

/** Put a server error (ApiError or a failed job's error) next to the control that caused it. */
function showError(error) {
  const field = String(error.field ?? "").replace(/^params\./, "");
  const code = error.code ?? "";
  let shown = false;
  if (field.startsWith("lettering.")) shown = state.lettering?.showError(field.slice(10), error.message) ?? false;
  else if (field === "image" || field === "file") shown = fieldError("image", error.message);
  else if (field === "text") shown = fieldError("text", error.message);
  else if (field === "model") shown = fieldError("model", error.message);
  else if (state.source === "model" && field) shown = state.meshForm?.showError(field, error.message) ?? false;
  else if (field === "engine" || code === "engine_unavailable" || code === "unknown_engine") shown = fieldError("engine", error.message);
  else if (field) shown = state.form?.showError(field, error.message) ?? false;
  if (!shown && !field && INPUT_CODES.has(code)) shown = fieldError(state.source, error.message);
  if (!shown) formError(error.message);
}

// --- the input: a picture, text or a mesh --------------------------------------------------------------

function checkFile(file) {
  const typeOk = ACCEPTED_TYPES.includes(file.type) || (!file.type && ACCEPTED_EXTENSIONS.test(file.name));
  if (!typeOk) return `“${file.name}” is not a picture ORFEAS reads: use PNG, JPEG, WebP, BMP, TIFF or GIF.`;
  if (file.size === 0) return "The file is empty.";
  const limit = state.limits.max_upload_bytes;
  if (limit && file.size > limit) {
    return `The file is ${formatBytes(file.size)}; the largest this server accepts is ${formatBytes(limit)}.`;
  }
  return null;
}

function setFile(file) {
  if (MESH_EXTENSIONS.test(file.name ?? "")) return setModelFile(file); // a mesh chosen as a picture
  clearErrors();
  if (state.source !== "image") setSource("image");
  const problem = checkFile(file);
  if (problem) {
    clearFile();
    fieldError("image", problem);
    return false;
  }
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.file = file;
  state.previewUrl = URL.createObjectURL(file);
  const img = $("#image-preview");
  const icon = $("#preview-icon");
  img.hidden = false;
  icon.hidden = true;
  img.onerror = () => {
    // Not drawable here (TIFF, or not a picture at all): a file icon and the name; the server decides.
    img.hidden = true;
    icon.hidden = false;
  };
  img.onload = () => {
    showBacklit();
    state.palette.setImage(img);
  };
  img.src = state.previewUrl;
  $("#file-name").textContent = file.name || "Pasted picture";
  $("#file-size").textContent = formatBytes(file.size);
  $("#dropzone .drop-empty").hidden = true;
  $("#dropzone .drop-full").hidden = false;
  $("#dropzone").classList.add("has-file");
  $("#image-clear").hidden = false;
  state.mask.show(file); // the cut-out is asked for at once, before any model is built
  return true;
}

let backlit;
/** The lithophane's backlit preview, for the picture and parameters as they are now. */
function showBacklit() {
  backlit ??= new BacklitPreview($("#backlit"));
  backlit.update(state.source === "image" && state.file ? $("#image-preview") : null, state.form);
}

function clearFile() {
  state.file = null;
  state.mask.clear();
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.previewUrl = null;
  $("#image-input").value = "";
  $("#image-preview").removeAttribute("src");
  $("#dropzone .drop-empty").hidden = false;
  $("#dropzone .drop-full").hidden = true;
  $("#dropzone").classList.remove("has-file");
  $("#image-clear").hidden = true;
  showBacklit();
  state.palette?.setImage(null);
}

/** Check a mesh file before it is sent (by name and size; the server reads it in full). */
function checkModelFile(file) {
  if (!MESH_EXTENSIONS.test(file.name ?? "")) {
    return `“${file.name || "This file"}” is not a mesh ORFEAS reads: use ${MESH_FORMATS}.`;
  }
  if (file.size === 0) return "The file is empty.";
  const limit = state.limits.max_model_bytes;
  if (limit && file.size > limit) {
    return `The file is ${formatBytes(file.size)}; the largest mesh this server accepts is ${formatBytes(limit)}.`;
  }
  return null;
}

function setModelFile(file) {
  clearErrors();
  if (state.source !== "model") setSource("model");
  const problem = checkModelFile(file);
  if (problem) {
    clearModelFile();
    fieldError("model", problem);
    return false;
  }
  state.modelFile = file;
  $("#model-format").textContent = file.name.split(".").pop().toUpperCase();
  $("#model-name").textContent = file.name;
  $("#model-size").textContent = formatBytes(file.size);
  $("#model-dropzone .drop-empty").hidden = true;
  $("#model-dropzone .drop-full").hidden = false;
  $("#model-dropzone").classList.add("has-file");
  $("#model-clear").hidden = false;
  return true;
}

function clearModelFile() {
  state.modelFile = null;
  $("#model-input").value = "";
  $("#model-dropzone .drop-empty").hidden = false;
  $("#model-dropzone .drop-full").hidden = true;
  $("#model-dropzone").classList.remove("has-file");
  $("#model-clear").hidden = true;
}

/** Typeset text makes a name plate. */
const isNameplate = () => state.source === "text" && state.textStyle === "lettering";

/** Typeset text starts as a name plate; a picture (uploaded, or painted from text) in the engine's
 * own default mode, as the pipeline does. A mode the person chose stays. */
function switchDefaultMode(nameplate) {
  const modeProp = state.form && engineByName(state.engine)?.parameters?.properties?.mode;
  const plate = textMode(state.engine);
  if (!modeProp?.enum || !plate) return;
  const [from, to] = nameplate ? [modeProp.default, plate] : [plate, modeProp.default];
  if (state.form.mode === from) state.form.setMode(to);
}

function setSource(source) {
  if (state.source === source) return;
  const was = state.source;
  state.source = source;
  $(`#source-${source}`).checked = true;
  $("#image-source").hidden = source !== "image";
  $("#text-source").hidden = source !== "text";
  // A mesh job has no engine: the doctor's own options replace the engine and its parameters.
  $("#model-source").hidden = source !== "model";
  $("#mesh-options").hidden = source !== "model";
  $("#engine-field").hidden = source === "model";
  $("#params").hidden = source === "model";
  clearErrors();
  const plateBefore = was === "text" && state.textStyle === "lettering";
  if (plateBefore !== isNameplate()) switchDefaultMode(isNameplate());
  renderEngines();
  updateLettering();
  updateSubmit();
  showBacklit();
  state.palette?.update();
}

/** The submit button says what it will do, and waits for the server (and, to generate, an engine). */
function updateSubmit() {
  const task = state.meshForm?.mode;
  $("#submit-text").textContent =
    state.source !== "model" ? "Generate 3D model" : task === "repair" ? "Repair mesh" : "Analyze mesh";
  const button = $("#submit");
  if (!button.classList.contains("busy")) button.disabled = !state.ready || (state.source !== "model" && !state.engine);
}

function wireInput() {
  for (const radio of document.querySelectorAll('input[name="source"]')) {
    radio.addEventListener("change", () => radio.checked && setSource(radio.value));
  }
  $("#image-input").addEventListener("change", (event) => {
    const file = event.target.files?.[0];
    if (file) setFile(file);
  });
  $("#image-clear").addEventListener("click", () => {
    clearFile();
    clearErrors();
    $("#image-input").focus();
  });
  $("#model-input").addEventListener("change", (event) => {
    const file = event.target.files?.[0];
    if (file) setModelFile(file);
  });
  $("#model-clear").addEventListener("click", () => {
    clearModelFile();
    clearErrors();
    $("#model-input").focus();
  });
  const zones = [$("#dropzone"), $("#model-dropzone")];
  const hasFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes("Files");
  for (const zone of zones) {
    zone.addEventListener("dragenter", (event) => hasFiles(event) && zone.classList.add("dragging"));
    zone.addEventListener("dragleave", (event) => {
      if (!zone.contains(event.relatedTarget)) zone.classList.remove("dragging");
    });
  }
  // A file dropped anywhere is taken (and never opened by the browser in place of the studio).
  window.addEventListener("dragover", (event) => {
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = hasFiles(event) ? "copy" : "none";
  });
  window.addEventListener("drop", (event) => {
    event.preventDefault();
    for (const zone of zones) zone.classList.remove("dragging");
    const file = event.dataTransfer?.files?.[0];
    if (!file) return;
    // A mesh by its name goes to the mesh picker (setFile sends it there); with Mesh chosen, so
    // does anything that is not a picture, to be refused there with the reason.
    if (state.source === "model" && !file.type.startsWith("image/")) setModelFile(file);
    else setFile(file);
  });
  document.addEventListener("paste", (event) => {
    const file = [...(event.clipboardData?.files ?? [])].find((f) => f.type.startsWith("image/"));
    if (!file) return; // text pasted into the text box goes where it was meant to
    event.preventDefault();
    setFile(file.name ? file : new File([file], "pasted.png", { type: file.type }));
  });
  const text = $("#text-input");
  text.addEventListener("input", () => {
    $("#text-count").textContent = String(text.value.length);
    fieldError("text", null);
  });
  text.addEventListener("keydown", (event) => {
    // Enter submits; Shift+Enter starts another line of lettering.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("#job-form").requestSubmit();
    }
  });
}

// --- engines and their parameters ---------------------------------------------------------------------

const engineByName = (name) => state.engines.find((e) => e.name === name);
/** Text-to-image steps (diffusion) are not 3D engines: in text mode they replace lettering. The
 * server lists them in `text_to_image` (older answers: among the engines, named "diffusion"). */
const isTextToImage = (engine) => engine.kind === "text-to-image" || engine.name === "diffusion";
const textToImage = (name) => state.textToImage.find((e) => e.name === name);

function renderEngines() {
  const box = $("#engines");
  const engines = state.engines;
  box.replaceChildren();
  for (const engine of engines) {
    const id = `engine-${engine.name}`;
    const option = document.createElement("div");
    option.className = "engine-option";
    option.classList.toggle("unavailable", !engine.available);
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "engine";
    input.id = id;
    input.value = engine.name;
    input.disabled = !engine.available;
    input.checked = engine.name === state.engine;
    input.addEventListener("change", () => input.checked && chooseEngine(engine.name));
    const label = document.createElement("label");
    label.htmlFor = id;
    const name = document.createElement("span");
    name.className = "engine-name";
    name.textContent = engine.name;
    const version = document.createElement("span");
    version.className = "engine-version";
    version.textContent = engine.version ? `v${engine.version}` : "";
    const note = document.createElement("span");
    note.className = "engine-note";
    note.id = `${id}-note`;
    note.textContent = engine.available
      ? engine.description ?? (engine.name === state.defaultEngine ? "Default · runs on the CPU" : "")
      : `Unavailable: ${engine.reason || "the server did not say why."}`;
    note.title = note.textContent; // the note is cut to three lines; the whole reason stays here
    input.setAttribute("aria-describedby", note.id);
    label.append(name, version, note);
    option.append(input, label);
    box.append(option);
  }
  if (!engines.length) box.textContent = "The server lists no engines.";
  renderTextStyle();
}

function chooseEngine(name) {
  const engine = engineByName(name);
  if (!engine) return;
  if (state.form && state.engine) state.saved[state.engine] = state.form.snapshot();
  state.engine = name;
  const saved = state.saved[name] ?? {};
  const mode = saved.mode ?? (state.source === "text" ? textMode(name) : undefined);
  const onChange = (field) => {
    formError(null);
    if (field.key === "mask") state.mask.choose(field.value()); // the cut-out follows the Mask field
    if (field.key !== "palette") state.palette.update();
    showBacklit();
  };
  state.form = new SchemaForm($("#params"), engine.parameters, { values: saved, mode, onChange });
  state.form.set("mask", state.mask.source);
  objectCards(state.form);
  showBacklit();
  state.palette.update();
  fieldError("engine", null);
  for (const input of document.querySelectorAll('input[name="engine"]')) input.checked = input.value === name;
}

/** In text mode, a choice between lettering and an available text-to-image engine. */
function renderTextStyle() {
  let box = $("#text-style");
  const generators = state.textToImage.filter((e) => e.available);
  if (!generators.length) {
    box?.remove();
    state.textStyle = "lettering";
    return;
  }
  if (!box) {
    box = document.createElement("fieldset");
    box.id = "text-style";
    box.className = "text-style";
    $("#text-source").insertBefore(box, $("#text-source").firstChild);
  }
  box.replaceChildren();
  const legend = document.createElement("legend");
  legend.textContent = "Text becomes";
  const row = document.createElement("div");
  row.className = "segmented";
  for (const [value, text] of [["lettering", "Lettering"], ...generators.map((g) => [g.name, `A picture (${g.name})`])]) {
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "text-style";
    input.id = `text-style-${value}`;
    input.value = value;
    input.checked = state.textStyle === value;
    input.addEventListener("change", () => {
      const plateBefore = isNameplate();
      state.textStyle = value;
      if (plateBefore !== isNameplate()) switchDefaultMode(isNameplate());
      updateLettering();
    });
    const label = document.createElement("label");
    label.htmlFor = input.id;
    label.textContent = text;
    row.append(input, label);
  }
  box.append(legend, row);
}

/** Lettering options (or the text-to-image engine's parameters) are shown for text only. */
function updateLettering() {
  const details = $("#lettering");
  details.hidden = state.source !== "text";
  if (details.hidden) return;
  const generator = state.textStyle !== "lettering" ? textToImage(state.textStyle) : null;
  const schema = generator ? generator.parameters : (state.serverLettering ?? { properties: {} });
  details.querySelector("summary").textContent = generator ? `${generator.name} options` : "Lettering";
  if (details.dataset.schemaFor !== (generator?.name ?? "lettering")) {
    state.lettering = new SchemaForm($("#lettering-fields"), schema);
    details.dataset.schemaFor = generator?.name ?? "lettering";
    details.open = Boolean(generator); // a text-to-image engine's options matter: show them
  }
}

async function loadEngines() {
  const status = $("#server-status");
  try {
    const answer = await api.engines();
    state.engines = (answer.engines ?? []).filter((e) => !isTextToImage(e));
    state.textToImage = answer.text_to_image ?? (answer.engines ?? []).filter(isTextToImage);
    state.defaultEngine = answer.default ?? state.engines[0]?.name ?? null;
    state.rules = { text: {}, ...(answer.rules ?? {}) };
    state.limits = { ...state.limits, ...(answer.limits ?? {}) };
    state.serverLettering = answer.lettering ?? null;
    state.mask.setSources(answer.masks ?? []);
    $("#text-input").maxLength = state.limits.max_text_chars;
    $("#text-max").textContent = String(state.limits.max_text_chars);
    $("#image-hint").textContent = `PNG, JPEG, WebP, BMP, TIFF or GIF, up to ${formatBytes(state.limits.max_upload_bytes)}.`;
    const faces = Number(state.limits.max_model_faces);
    $("#model-hint").textContent = `${MESH_FORMATS}, up to ${formatBytes(state.limits.max_model_bytes)}${
      Number.isFinite(faces) && faces > 0 ? ` and ${faces.toLocaleString("en")} triangles` : ""
    }.`;
    const usable = state.engines.filter((e) => e.available);
    const first = engineByName(state.defaultEngine)?.available ? state.defaultEngine : usable[0]?.name;
    renderEngines();
    if (first) chooseEngine(first);
    else fieldError("engine", "No engine can run on this server: see the reasons above.");
    updateLettering();
    state.ready = true;
    updateSubmit();
    status.dataset.state = "ready";
    status.querySelector(".status-text").textContent = `Ready · ${usable.length} engine${usable.length === 1 ? "" : "s"}`;
    return true;
  } catch (error) {
    status.dataset.state = "offline";
    status.querySelector(".status-text").textContent = "Server unreachable · retrying";
    $("#engines").textContent = error.message;
    setTimeout(loadEngines, 4000);
    return false;
  }
}

// --- submitting and following a job -------------------------------------------------------------------

/** Check the form for a picture or text job; a function that sends it, or null (problems shown). */
function generateRequest() {
  const engine = engineByName(state.engine);
  if (!engine) {
    fieldError("engine", "Choose an engine.");
    return null;
  }
  const { values, problems } = state.form.collect();
  const invalid = [...problems];
  let lettering = null;
  if (state.source === "image") {
    if (!state.file) {
      fieldError("image", "Choose, drop or paste a picture first.");
      invalid.unshift({ focus: () => $("#image-input").focus() });
    }
  } else {
    const text = $("#text-input").value;
    if (!text.trim()) {
      fieldError("text", "Type the text to make.");
      invalid.unshift({ focus: () => $("#text-input").focus() });
    } else if (text.length > state.limits.max_text_chars) {
      fieldError("text", `At most ${state.limits.max_text_chars} characters.`);
      invalid.unshift({ focus: () => $("#text-input").focus() });
    }
    if (state.lettering) {
      const collected = state.lettering.collect();
      invalid.push(...collected.problems);
      lettering = collected.values;
    }
  }
  if (invalid.length) {
    invalid[0].focus();
    return null;
  }
  if (state.source === "image") {
    const file = state.file;
    return async () => api.submitImage(file, engine.name, values, await state.mask.editBlob());
  }
  const text = $("#text-input").value;
  if (state.textStyle !== "lettering") {
    const options = { text_to_image: state.textStyle, [state.textStyle]: lettering };
    return () => api.submitText(text, engine.name, values, null, options);
  }
  return () => api.submitText(text, engine.name, values, lettering);
}

/** Check the form for a mesh job (analyze or repair); a function that sends it, or null. */
function meshRequest() {
  const { values, problems } = state.meshForm.collect();
  const invalid = [...problems];
  if (!state.modelFile) {
    fieldError("model", `Choose or drop a mesh file first (${MESH_FORMATS}).`);
    invalid.unshift({ focus: () => $("#model-input").focus() });
  }
  if (invalid.length) {
    invalid[0].focus();
    return null;
  }
  const file = state.modelFile;
  return async () => {
    const job = await api.submitModel(file, values.task ?? "analyze", meshFields(values));
    state.sentModelJob = job.id;
    return job;
  };
}

async function submit(event) {
  event.preventDefault();
  clearErrors();
  const send = state.source === "model" ? meshRequest() : generateRequest();
  if (!send) return;
  const button = $("#submit");
  button.disabled = true;
  button.classList.add("busy");
  try {
    followJob(await send());
    refreshRecent();
  } catch (error) {
    showError(error);
  } finally {
    button.classList.remove("busy");
    updateSubmit();
  }
}

function setViewerState(model) {
  const viewer = $("#viewer");
  viewer.dataset.model = model;
  $("#viewer-empty").hidden = model === "loaded";
  const words = {
    none: "Your model appears here, standing on a print bed in millimetres.",
    working: "Working on it… the model appears here when it is ready.",
    loading: "Loading the model…",
    failed: "No model: the job did not finish.",
    nowebgl: state.viewerProblem ?? "This browser cannot show 3D (WebGL is off). The downloads still work.",
  };
  if (words[model]) $("#viewer-empty p").textContent = words[model];
  $(".viewer-toolbar").hidden = model === "nowebgl";
  if (model !== "loaded") $("#dimensions").hidden = true;
}

function followJob(job) {
  state.watcher?.stop();
  state.job = job;
  history.replaceState(null, "", `#job=${encodeURIComponent(job.id)}`);
  progress.reset(job.task ?? (isMeshJob(job) ? "analyze" : "generate"));
  progress.update(job);
  state.viewer?.clear();
  setViewerState(state.viewer ? "working" : "nowebgl");
  renderReport($("#report"), null);
  renderDownloads($("#downloads"), null);
  markCurrent();
  if (isTerminal(job)) return finish(job);
  state.watcher = watchJob(job, (update) => {
    if (state.job?.id !== update.id) return;
    state.job = update;
    progress.update(update);
    if (isTerminal(update)) finish(update);
  });
}

async function finish(job) {
  progress.update(job);
  renderReport($("#report"), job);
  renderBuiltPalette($("#built-palette"), job);
  renderDownloads($("#downloads"), job);
  refreshRecent();
  if (job.state === "failed") {
    setViewerState(state.viewer ? "failed" : "nowebgl");
    // A mesh this page just sent that cannot be repaired: the reason goes next to the picker.
    const mine = job.id === state.sentModelJob && state.source === "model";
    if (job.error) showError({ ...job.error, field: job.error.field ?? (mine ? "model" : null) });
    return;
  }
  if (job.state !== "succeeded") return setViewerState(state.viewer ? "none" : "nowebgl");
  const glb = (job.artifacts ?? []).find((a) => a.format === "glb" || a.name.endsWith(".glb"));
  if (!state.viewer || !glb) return setViewerState(state.viewer ? "none" : "nowebgl");
  setViewerState("loading");
  try {
    const size = await state.viewer.load(glb.url);
    if (state.job?.id !== job.id) return;
    setViewerState("loaded");
    setTurning(job.report?.engine?.mode === "revolve");
    const dims = $("#dimensions");
    // Shown as "W 60.0 D 52.1 H 14.3 mm"; read out as a sentence.
    const spoken = document.createElement("span");
    spoken.className = "visually-hidden";
    spoken.textContent = `Size ${size.x.toFixed(1)} by ${size.y.toFixed(1)} by ${size.z.toFixed(1)} millimetres`;
    const shown = document.createElement("span");
    shown.className = "dimensions-shown";
    shown.setAttribute("aria-hidden", "true");
    for (const [axis, value] of [["W", size.x], ["D", size.y], ["H", size.z]]) {
      const part = document.createElement("span");
      part.innerHTML = `<b>${axis}</b> ${value.toFixed(1)}`;
      shown.append(part);
    }
    shown.append(" mm");
    dims.replaceChildren(spoken, shown);
    dims.hidden = false;
  } catch (error) {
    setViewerState("none");
    formError(`The model could not be shown: ${error.message ?? error}`);
  }
}

async function cancelJob(job) {
  try {
    const answer = await api.cancel(job.id);
    if (answer && state.job?.id === answer.id) progress.update(answer);
  } catch (error) {
    formError(error.message);
  }
  refreshRecent();
}

async function openJob(id) {
  try {
    const job = await api.job(id);
    clearErrors();
    if (isMeshJob(job)) {
      // The form shows how the opened job was asked for (the file itself stays on the server).
      setSource("model");
      if (job.task === "analyze" || job.task === "repair") state.meshForm?.setMode(job.task);
      updateSubmit();
    }
    followJob(job);
  } catch (error) {
    formError(error.status === 404 ? "That job no longer exists." : error.message);
    refreshRecent();
  }
}

// --- recent jobs ---------------------------------------------------------------------------------------

async function refreshRecent() {
  clearTimeout(state.recentTimer);
  let items = [];
  try {
    items = (await api.jobs(12)).items ?? [];
  } catch {
    return; // the status line already says when the server is away
  }
  renderRecent($("#recent"), items, {
    currentId: state.job?.id ?? null,
    onOpen: (job) => openJob(job.id),
    onCancel: cancelJob,
  });
  // While something is still queued or running, keep the list's states fresh.
  if (items.some((j) => !isTerminal(j))) state.recentTimer = setTimeout(refreshRecent, 3000);
}

function markCurrent() {
  for (const button of document.querySelectorAll("#recent .job-open")) {
    const current = button.closest(".job").dataset.jobId === state.job?.id;
    if (current) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

// --- the viewer ----------------------------------------------------------------------------------------

async function startViewer() {
  try {
    const { Viewer, webglAvailable } = await import("./viewer.js");
    if (!webglAvailable()) return setViewerState("nowebgl");
    state.viewer = new Viewer($("#viewer"));
  } catch (error) {
    console.error(error);
    state.viewerProblem = "The 3D viewer could not start (is three.js installed? `make web`). The downloads still work.";
    setViewerState("nowebgl");
    return;
  }
  const wire = $("#wireframe");
  const toggleWire = () => {
    const on = wire.getAttribute("aria-pressed") !== "true";
    wire.setAttribute("aria-pressed", String(on));
    $("#viewer").dataset.wireframe = on ? "on" : "off";
    state.viewer.setWireframe(on);
  };
  wire.addEventListener("click", toggleWire);
  $("#turn").addEventListener("click", () => setTurning($("#turn").getAttribute("aria-pressed") !== "true"));
  $("#reset-view").addEventListener("click", () => state.viewer.resetView());
  $("#viewer").addEventListener("keydown", (event) => {
    if (event.target.tagName !== "CANVAS" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "r" || event.key === "R") state.viewer.resetView();
    if (event.key === "w" || event.key === "W") toggleWire();
    if (event.key === "t" || event.key === "T") setTurning($("#turn").getAttribute("aria-pressed") !== "true");
  });
}

/** Turn the model on the bed, or stop it (a turned object starts turning when it arrives). */
function setTurning(on) {
  $("#turn").setAttribute("aria-pressed", String(on));
  $("#viewer").dataset.turning = on ? "on" : "off";
  state.viewer?.setTurning(on);
}

// --- start ---------------------------------------------------------------------------------------------

function start() {
  // The cut-out's source switch and the form's Mask field say the same thing: each follows the other.
  state.mask = new MaskEditor($("#mask-editor"), { onSource: (name) => state.form?.set("mask", name) });
  state.palette = new PalettePanel($("#palette"), () => (state.source === "image" ? state.form : null));
  state.meshForm = new SchemaForm($("#mesh-options"), MESH_SCHEMA, {
    modeKey: "task",
    onChange: (field) => {
      formError(null);
      if (field.key === "task") updateSubmit();
    },
  });
  wireInput();
  $("#job-form").addEventListener("submit", submit);
  $("#cancel-job").addEventListener("click", () => state.job && cancelJob(state.job));
  $("#refresh-jobs").addEventListener("click", refreshRecent);
  renderReport($("#report"), null);
  renderDownloads($("#downloads"), null);
  const viewerReady = startViewer();
  loadEngines();
  refreshRecent();
  const id = new URLSearchParams(location.hash.slice(1)).get("job");
  if (id) viewerReady.then(() => openJob(id));
  window.addEventListener("hashchange", () => {
    const next = new URLSearchParams(location.hash.slice(1)).get("job");
    if (next && next !== state.job?.id) openJob(next);
  });
}

start();
