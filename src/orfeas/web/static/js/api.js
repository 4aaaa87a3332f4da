// The HTTP API, as the page uses it. Every failure becomes an ApiError carrying the server's
// {"error": {"code", "message", "field"}} so the page can show it next to the right control.
// URLs are relative to the page, so the studio also works behind a reverse proxy's sub-path.

const BASE = "api/v1";
const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

export class ApiError extends Error {
  constructor(status, code, message, field = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export const isTerminal = (job) => TERMINAL.has(job?.state);

async function request(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { headers: { Accept: "application/json" }, ...options });
  } catch {
    throw new ApiError(0, "network", "The ORFEAS server cannot be reached. Is it running?");
  }
  if (response.status === 204) return null;
  const body = (response.headers.get("content-type") || "").includes("json")
    ? await response.json().catch(() => null)
    : null;
  if (!response.ok) {
    const error = body?.error ?? {};
    throw new ApiError(
      response.status,
      error.code ?? `http_${response.status}`,
      error.message ?? `The server answered ${response.status} ${response.statusText}.`,
      error.field ?? null,
    );
  }
  return body;
}

const jobUrl = (id) => `${BASE}/jobs/${encodeURIComponent(id)}`;

export const api = {
  engines: () => request(`${BASE}/engines`),
  jobs: (limit = 12) => request(`${BASE}/jobs?limit=${limit}`),
  job: (id) => request(jobUrl(id)),
  /** DELETE cancels a queued or running job (and deletes a finished one). */
  cancel: (id) => request(jobUrl(id), { method: "DELETE" }),

  /** ``edit``: a painted correction of the picture's mask (a PNG Blob), or null. */
  submitImage(file, engine, params, edit = null) {
    const form = new FormData();
    form.append("image", file, file.name || "image");
    if (edit) form.append("mask_edit", edit, "mask-edit.png");
    form.append("engine", engine);
    form.append("params", JSON.stringify(params));
    return request(`${BASE}/jobs`, { method: "POST", body: form });
  },

  /** The picture's subject mask from ``source`` (auto, alpha, neural, grabcut, none); nothing is stored. */
  mask(file, source = "auto") {
    const form = new FormData();
    form.append("image", file, file.name || "image");
    form.append("mask", source);
    return request(`${BASE}/mask`, { method: "POST", body: form });
  },

  /** A mesh job: ``task`` "analyze" or "repair", ``fields`` its options as form fields (strings). */
  submitModel(file, task, fields = {}) {
    const form = new FormData();
    form.append("model", file, file.name || "model.stl");
    form.append("task", task);
    for (const [key, value] of Object.entries(fields)) form.append(key, value);
    return request(`${BASE}/jobs`, { method: "POST", body: form });
  },

  /** ``extra`` names a text-to-image step and its options: {text_to_image: "diffusion", diffusion: {...}}. */
  submitText(text, engine, params, lettering, extra = {}) {
    const body = { text, engine, params, ...extra };
    if (lettering) body.lettering = lettering;
    return request(`${BASE}/jobs`, {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  },
};

/**
 * Follow a job until it ends: the server's event stream, or polling when the stream drops.
 * @param {object} job the Job JSON as submitted or fetched
 * @param {(job: object, via: "stream" | "poll") => void} onUpdate called with each new state
 * @returns {{stop: () => void}}
 */
export function watchJob(job, onUpdate) {
  let stopped = false;
  let source = null;
  let timer = 0;
  const stop = () => {
    stopped = true;
    source?.close();
    clearTimeout(timer);
  };

  const poll = async (delay = 700, failures = 0) => {
    if (stopped) return;
    try {
      const current = await api.job(job.id);
      if (stopped) return;
      onUpdate(current, "poll");
      if (isTerminal(current)) return stop();
      failures = 0;
    } catch (error) {
      if (error.status === 404) return stop(); // the job is gone
      failures += 1;
    }
    // Back off while the server is away, up to five seconds between tries.
    timer = setTimeout(() => poll(Math.min(delay * (failures ? 1.6 : 1), 5000), failures), delay);
  };

  if (typeof EventSource === "undefined") {
    poll();
    return { stop };
  }
  source = new EventSource(job.links?.events ?? `${jobUrl(job.id)}/events`);
  let last = job;
  source.addEventListener("job", (event) => {
    try {
      last = JSON.parse(event.data);
    } catch {
      return;
    }
    onUpdate(last, "stream");
    if (isTerminal(last)) stop();
  });
  // The stream ends after the terminal state; an error before that means it dropped.
  source.addEventListener("error", () => {
    if (stopped) return;
    source.close();
    if (!isTerminal(last)) poll();
  });
  return { stop };
}
