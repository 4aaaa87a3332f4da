// The recent-jobs list: thumbnail (the job's input picture, its text, or a mesh's format), state,
// age; open or cancel.
import { TASK_WORDS, isMeshJob, meshFormat } from "./mesh.js";

const STATE_WORDS = {
  queued: "Queued",
  running: "Running",
  succeeded: "Done",
  failed: "Failed",
  cancelled: "Cancelled",
};

export function age(iso, now = Date.now()) {
  const then = Date.parse(iso);
  if (!Number.isFinite(then)) return "";
  const s = Math.max(0, (now - then) / 1000);
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(then).toLocaleDateString(undefined, { day: "numeric", month: "short" });
}

function titleOf(job) {
  if (job.input?.kind === "text") return `“${job.input.text ?? ""}”`;
  if (isMeshJob(job)) return job.input?.filename || `Mesh${meshFormat(job) ? ` (${meshFormat(job)})` : ""}`;
  return job.input?.filename || "Picture";
}

/** What made the model: "relief · puffy", "Mesh repair"; "· cached" when the result was reused. */
function madeBy(job) {
  let text;
  if (isMeshJob(job)) text = TASK_WORDS[job.task] ?? "Mesh";
  else text = job.params?.mode ? `${job.engine} · ${job.params.mode}` : job.engine ?? "";
  return job.cached ? `${text} · cached` : text;
}

function thumbnail(job) {
  const box = document.createElement("span");
  box.className = "thumb";
  const fallback = () => {
    box.replaceChildren();
    box.classList.add("thumb-icon");
    box.textContent = job.input?.kind === "text" ? "Aa" : "◇";
  };
  if (isMeshJob(job)) {
    // The input is a mesh, not a picture: its format stands in for a thumbnail.
    box.classList.add("thumb-icon", "thumb-format");
    box.textContent = meshFormat(job) || "3D";
    return box;
  }
  if (job.input?.kind !== "text" && job.links?.input) {
    const img = document.createElement("img");
    img.alt = "";
    img.loading = "lazy";
    img.decoding = "async";
    img.src = job.links.input;
    img.addEventListener("error", fallback, { once: true });
    box.append(img);
  } else fallback();
  return box;
}

/**
 * Draw ``jobs`` into ``list``.
 * @param {{onOpen: (job) => void, onCancel: (job) => void, currentId: string | null}} actions
 */
export function renderRecent(list, jobs, { onOpen, onCancel, currentId }) {
  list.replaceChildren();
  if (!jobs.length) {
    const li = document.createElement("li");
    li.className = "placeholder";
    li.textContent = "No jobs yet.";
    list.append(li);
    return;
  }
  for (const job of jobs) {
    const li = document.createElement("li");
    li.className = "job";
    li.dataset.jobId = job.id;
    li.dataset.state = job.state;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "job-open";
    if (job.id === currentId) open.setAttribute("aria-current", "true");
    const text = document.createElement("span");
    text.className = "job-text";
    const title = document.createElement("span");
    title.className = "job-title";
    title.textContent = titleOf(job);
    const meta = document.createElement("span");
    meta.className = "job-meta";
    const pill = document.createElement("span");
    pill.className = `pill pill-${job.state}`;
    pill.textContent = STATE_WORDS[job.state] ?? job.state;
    const time = document.createElement("time");
    time.dateTime = job.created_at ?? "";
    time.title = job.created_at ? new Date(job.created_at).toLocaleString() : "";
    time.textContent = age(job.created_at);
    const engine = document.createElement("span");
    engine.className = "job-engine";
    engine.textContent = madeBy(job);
    meta.append(pill, time);
    text.append(title, engine, meta);
    // Named by its visible text (WCAG 2.5.3, label in name), with "Open" for screen readers.
    const verb = document.createElement("span");
    verb.className = "visually-hidden";
    verb.textContent = "Open ";
    open.append(verb, thumbnail(job), text);
    open.addEventListener("click", () => onOpen(job));
    li.append(open);
    if (job.state === "queued" || job.state === "running") {
      const cancel = document.createElement("button");
      cancel.type = "button";
      cancel.className = "tool tool-small tool-danger job-cancel";
      cancel.setAttribute("aria-label", `Cancel ${titleOf(job)}`);
      cancel.textContent = "Cancel";
      cancel.addEventListener("click", () => onCancel(job));
      li.append(cancel);
    }
    list.append(li);
  }
}
