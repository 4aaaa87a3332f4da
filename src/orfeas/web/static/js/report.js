// The printability report and the download list, drawn from a finished Job JSON. A mesh job's
// report also says what the repair changed, or what the analysis found wrong.
import { isMeshJob } from "./mesh.js";

/** Below this a 0.4 mm nozzle cannot lay two lines: walls risk gaps. */
const MIN_WALL_MM = 0.8;
/** Share of the surface overhanging more than 45° above which supports are advised. */
const SUPPORT_SHARE = 0.1;
/** Share of the top surface off the intended shape above which the verdict says so. */
const STRAY_SHARE = 0.01;

const FORMAT_NOTES = {
  stl: "For any slicer",
  "3mf": "Slicers, with units",
  obj: "Modelling tools",
  glb: "Web, AR, with colour",
  ply: "Mesh tools, with colour",
  "stl.zip": "One STL per colour",
};

/** Words for the units a mesh was read in (report.input.units_to_mm). */
const UNIT_NAMES = { 1: "mm", 10: "cm", 1000: "m", 25.4: "inches" };

const sentence = (text) => {
  const s = String(text).trim();
  return s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
};

const number = (value, digits = 1) =>
  typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "–";

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
}

/** A plain-language verdict: a tone ("good" | "warn" | "bad"), a headline and the reasons. */
export function verdict(report) {
  const notes = [];
  if (report.printable === false || report.watertight === false) {
    const problems = Array.isArray(report.problems) ? report.problems : [];
    return {
      tone: "bad",
      headline: "Not ready to print",
      notes: problems.length ? problems.map(sentence) : ["The mesh is not a closed solid."],
    };
  }
  if (typeof report.thinnest_wall_mm === "number" && report.thinnest_wall_mm < MIN_WALL_MM) {
    notes.push(
      `Its thinnest wall is about ${number(report.thinnest_wall_mm, 2)} mm: a 0.4 mm nozzle needs ${MIN_WALL_MM} mm. Make it larger or thicker.`,
    );
  }
  if (typeof report.overhang_share === "number" && report.overhang_share > SUPPORT_SHARE) {
    notes.push(`${Math.round(report.overhang_share * 100)} % of the surface overhangs more than 45°: print with supports.`);
  }
  if (typeof report.bodies === "number" && report.bodies > 1) {
    notes.push(`It is ${report.bodies} separate pieces: it falls apart when printed. Leave “separate parts” off to join them.`);
  }
  const fidelity = report.fidelity;
  if (fidelity && typeof fidelity.stray_share === "number" && fidelity.stray_share > STRAY_SHARE) {
    notes.push(`${number(fidelity.stray_share * 100, 1)} % of its top stands off the picture's shape.`);
  }
  // What the engine itself has to say (revolve: parts left out, thin parts thickened, ...).
  const said = Array.isArray(report.engine?.warnings) ? report.engine.warnings : [];
  notes.push(...said.filter((w) => typeof w === "string"));
  const score = report.quality_score ?? 0;
  if (score >= 0.75 && notes.length === 0) {
    return { tone: "good", headline: "Ready to print", notes: ["A closed, watertight solid: slice it as it is."] };
  }
  if (score >= 0.5) return { tone: "warn", headline: "Printable, with care", notes };
  return { tone: "warn", headline: "Printable, but check it first", notes };
}

/** "One piece", or how many (the report lists the loose ones). */
function pieces(report) {
  if (typeof report.bodies !== "number") return "–";
  return report.bodies === 1 ? "One piece" : `${report.bodies} separate pieces`;
}

/** How closely the model follows its picture: "99.6 % alike, within 0.03 mm". */
function likeness(fidelity) {
  const alike = `${number(fidelity.silhouette_iou * 100, 1)} % alike`;
  const deviation = fidelity.deviation_mm ?? {};
  const worst = Math.max(deviation.mesh_to_intent?.max ?? NaN, deviation.intent_to_mesh?.max ?? NaN);
  return Number.isFinite(worst) ? `${alike}, within ${number(worst, 2)} mm` : `${alike} (silhouette)`;
}

function likenessTone(fidelity) {
  return fidelity.silhouette_iou >= 0.95 && !(fidelity.stray_share > STRAY_SHARE) ? "good" : "warn";
}

function row(label, value, tone) {
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dd = document.createElement("dd");
  dd.textContent = value;
  if (tone) dd.dataset.tone = tone;
  return [dt, dd];
}

/** A small note that the job's result was the earlier one of an identical job. */
function cacheNote(job) {
  const note = document.createElement("p");
  note.className = "cache-note";
  note.append("From the cache: the same input was done before");
  if (job.cached_from) {
    const link = document.createElement("a");
    link.href = `#job=${encodeURIComponent(job.cached_from)}`;
    link.textContent = "see that job";
    note.append(" (", link, ")");
  }
  note.append(".");
  return note;
}

/** A titled list of sentences (what a repair changed, what an analysis found). */
function sentenceList(id, title, items, empty, tone) {
  const section = document.createElement("section");
  section.className = "report-list";
  section.dataset.tone = tone;
  section.setAttribute("aria-labelledby", id);
  const heading = document.createElement("h3");
  heading.id = id;
  heading.textContent = title;
  section.append(heading);
  if (!items.length) {
    const p = document.createElement("p");
    p.className = "report-list-empty";
    p.textContent = empty;
    section.append(p);
    return section;
  }
  const list = document.createElement("ul");
  for (const item of items) {
    const li = document.createElement("li");
    li.textContent = sentence(item);
    list.append(li);
  }
  section.append(list);
  return section;
}

/** For a mesh job: the repair's changes, or the problems an analysis found. */
function meshSection(job, report) {
  const task = report.task ?? job.task;
  if (task === "repair") {
    const changes = Array.isArray(report.changes) ? report.changes : [];
    return sentenceList("report-changes", "What the repair changed", changes, "Nothing: the mesh was already sound.", "good");
  }
  const problems = Array.isArray(report.problems) ? report.problems : [];
  const section = sentenceList("report-problems", "Problems found", problems, "None: it is a closed, printable solid.", problems.length ? "bad" : "good");
  if (problems.length) {
    const hint = document.createElement("p");
    hint.className = "hint";
    hint.textContent = "Choose Repair in the form and send it again to fix what can be fixed.";
    section.append(hint);
  }
  return section;
}

/** How a mesh job's input was read: "STL · inches → mm". */
function readAs(report) {
  const input = report.input ?? {};
  const format = input.format ? String(input.format).toUpperCase() : "–";
  const factor = Number(input.units_to_mm);
  if (!Number.isFinite(factor) || factor === 1) return `${format} · mm`;
  return `${format} · ${UNIT_NAMES[factor] ?? `× ${factor}`} → mm`;
}

/** Fill ``container`` with the report of ``job`` (or a placeholder when there is none). */
export function renderReport(container, job) {
  const report = job?.report;
  container.replaceChildren();
  if (job?.cached) container.append(cacheNote(job));
  if (!report) {
    const p = document.createElement("p");
    p.className = "placeholder";
    p.textContent =
      job?.state === "failed"
        ? "No report: the job failed."
        : "Generate a model, or send a mesh, to see whether it will print: watertightness, walls, overhangs and filament.";
    container.append(p);
    return;
  }
  const v = verdict(report);
  const problems = Array.isArray(report.problems) ? report.problems : [];
  if (isMeshJob(job) && v.tone === "bad" && problems.length) {
    // The problems are listed in full just below: the verdict only counts them.
    v.notes = [`${problems.length} problem${problems.length === 1 ? "" : "s"} found: a slicer may refuse it or print it wrong.`];
  }
  const box = document.createElement("div");
  box.className = `verdict verdict-${v.tone}`;
  box.setAttribute("role", "status");
  const headline = document.createElement("strong");
  headline.textContent = v.headline;
  box.append(headline);
  for (const note of v.notes) {
    const p = document.createElement("p");
    p.textContent = note;
    box.append(p);
  }

  const score = Math.round((report.quality_score ?? 0) * 100);
  const meter = document.createElement("div");
  meter.className = "score";
  // No inline style attributes: the page's Content-Security-Policy (style-src 'self') forbids them.
  meter.innerHTML = `<span class="score-label" id="score-label">Quality score</span>
    <span class="score-value">${score}<small>/100</small></span>
    <div class="score-bar" role="meter" aria-labelledby="score-label" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${score}"><span></span></div>`;
  meter.querySelector(".score-bar span").style.width = `${score}%`;

  const size = Array.isArray(report.bbox_mm) ? report.bbox_mm.map((x) => number(x, 1)).join(" × ") + " mm" : "–";
  const list = document.createElement("dl");
  list.className = "facts";
  const wallTone = report.thinnest_wall_mm < MIN_WALL_MM ? "warn" : "good";
  const overhangTone = report.overhang_share > SUPPORT_SHARE ? "warn" : "good";
  list.append(
    ...row("Watertight", report.watertight ? "Yes" : "No", report.watertight ? "good" : "bad"),
    ...row("Size", size),
    ...row("Volume", `${number(report.volume_cm3, 2)} cm³`),
    ...row("Thinnest wall", `≈ ${number(report.thinnest_wall_mm, 2)} mm`, wallTone),
    ...row("Overhangs > 45°", `${number((report.overhang_share ?? 0) * 100, 0)} %`, overhangTone),
    ...row("Filament", `≈ ${number(report.filament_g, 1)} g PLA`),
    ...row("Triangles", Number.isFinite(report.faces) ? report.faces.toLocaleString("en") : "–"),
    ...row("Pieces", pieces(report), report.bodies > 1 ? "warn" : "good"),
  );
  if (report.fidelity) list.append(...row("Like the picture", likeness(report.fidelity), likenessTone(report.fidelity)));
  const capacity = report.engine?.vessel?.capacity_ml;
  if (Number.isFinite(capacity)) list.append(...row("Holds", `${number(capacity, 0)} ml`));
  const filament = [...list.querySelectorAll("dt")].find((dt) => dt.textContent === "Filament");
  if (filament && report.filament_assumption) filament.nextElementSibling.title = report.filament_assumption;
  if (!isMeshJob(job)) {
    container.append(box, meter, list);
    return;
  }
  list.append(...row("Read as", readAs(report)));
  container.append(box, meshSection(job, report), meter, list);
}

/** Fill ``container`` with one download link per artifact (and, for a mesh job, the file as sent). */
export function renderDownloads(container, job) {
  container.replaceChildren();
  const artifacts = (job?.artifacts ?? []).filter((a) => a.name !== "input.png");
  const mesh = isMeshJob(job);
  if (mesh && artifacts.length && job.links?.input) {
    const name = job.links.input.split("/").pop();
    artifacts.push({ name, url: job.links.input, note: job.input?.filename ? `As sent: ${job.input.filename}` : "The file as sent" });
  }
  if (!artifacts.length) {
    const p = document.createElement("p");
    p.className = "placeholder";
    p.textContent = "STL, 3MF, OBJ, GLB and PLY files appear here when the model is ready.";
    container.append(p);
    return;
  }
  const list = document.createElement("ul");
  list.className = "downloads";
  for (const artifact of artifacts) {
    const format = (artifact.format ?? artifact.name.split(".").pop()).toLowerCase();
    const a = document.createElement("a");
    a.href = artifact.url;
    a.download = artifact.name;
    a.className = "download";
    a.dataset.format = format;
    // Named by its visible text (WCAG 2.5.3, label in name), with "Download" for screen readers.
    a.innerHTML = `<span class="visually-hidden">Download </span><span class="badge"></span><span class="download-text"><span class="download-name"></span><span class="download-note"></span></span><span class="download-size"></span>`;
    a.querySelector(".badge").textContent = format.toUpperCase();
    a.querySelector(".download-name").textContent = artifact.name;
    // An analysis's GLB is the mesh as it came, converted for the viewer.
    const note = artifact.note ?? (mesh && job.task === "analyze" && format === "glb" ? "The mesh as it is, for viewing" : FORMAT_NOTES[format]);
    a.querySelector(".download-note").textContent = note ?? "";
    a.querySelector(".download-size").textContent = formatBytes(artifact.size);
    const li = document.createElement("li");
    li.append(a);
    list.append(li);
  }
  container.append(list);
}
