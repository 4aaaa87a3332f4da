// The printability report and the download list, drawn from a finished Job JSON.

/** Below this a 0.4 mm nozzle cannot lay two lines: walls risk gaps. */
const MIN_WALL_MM = 0.8;
/** Share of the surface overhanging more than 45° above which supports are advised. */
const SUPPORT_SHARE = 0.1;

const FORMAT_NOTES = {
  stl: "For any slicer",
  "3mf": "Slicers, with units",
  obj: "Modelling tools",
  glb: "Web, AR, with colour",
  ply: "Mesh tools, with colour",
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
      notes: problems.length ? problems.map(String) : ["The mesh is not a closed solid."],
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
    notes.push(`It is ${report.bodies} separate pieces.`);
  }
  const score = report.quality_score ?? 0;
  if (score >= 0.75 && notes.length === 0) {
    return { tone: "good", headline: "Ready to print", notes: ["A closed, watertight solid: slice it as it is."] };
  }
  if (score >= 0.5) return { tone: "warn", headline: "Printable, with care", notes };
  return { tone: "warn", headline: "Printable, but check it first", notes };
}

function row(label, value, tone) {
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dd = document.createElement("dd");
  dd.textContent = value;
  if (tone) dd.dataset.tone = tone;
  return [dt, dd];
}

/** Fill ``container`` with the report of ``job`` (or a placeholder when there is none). */
export function renderReport(container, job) {
  const report = job?.report;
  container.replaceChildren();
  if (!report) {
    const p = document.createElement("p");
    p.className = "placeholder";
    p.textContent =
      job?.state === "failed"
        ? "No report: the job failed."
        : "Generate a model to see whether it will print: watertightness, walls, overhangs and filament.";
    container.append(p);
    return;
  }
  const v = verdict(report);
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
  );
  const filament = [...list.querySelectorAll("dt")].find((dt) => dt.textContent === "Filament");
  if (filament && report.filament_assumption) filament.nextElementSibling.title = report.filament_assumption;
  container.append(box, meter, list);
}

/** Fill ``container`` with one download link per artifact. */
export function renderDownloads(container, job) {
  container.replaceChildren();
  const artifacts = (job?.artifacts ?? []).filter((a) => a.name !== "input.png");
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
    a.innerHTML = `<span class="badge"></span><span class="download-text"><span class="download-name"></span><span class="download-note"></span></span><span class="download-size"></span>`;
    a.querySelector(".badge").textContent = format.toUpperCase();
    a.querySelector(".download-name").textContent = artifact.name;
    a.querySelector(".download-note").textContent = FORMAT_NOTES[format] ?? "";
    a.querySelector(".download-size").textContent = formatBytes(artifact.size);
    a.setAttribute("aria-label", `Download ${artifact.name} (${formatBytes(artifact.size)})`);
    const li = document.createElement("li");
    li.append(a);
    list.append(li);
  }
  container.append(list);
}
