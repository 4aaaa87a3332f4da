// The progress card: stage names as steps, a bar, and the cancel button.

/** The pipeline's stages (orfeas.pipeline.STAGES) with words for people; unknown ones show as-is. */
const STAGE_LABELS = {
  queued: "Waiting for a worker",
  decode: "Reading the input",
  mask: "Finding the subject",
  height: "Shaping",
  mesh: "Building the mesh",
  simplify: "Simplifying",
  verify: "Checking printability",
  export: "Writing files",
};
const STAGES = ["decode", "mask", "height", "mesh", "simplify", "verify", "export"];
/** Mesh jobs (orfeas.pipeline.mend) go through fewer stages, and "mesh" there is the repair. */
const TASK_STAGES = {
  analyze: { stages: ["decode", "verify", "export"], labels: { decode: "Reading the mesh" } },
  repair: { stages: ["decode", "mesh", "export"], labels: { decode: "Reading the mesh", mesh: "Repairing" } },
};

export class ProgressCard {
  constructor(root) {
    this.root = root;
    this.title = root.querySelector("#progress-title");
    this.percent = root.querySelector("#progress-percent");
    this.bar = root.querySelector("#progress-bar");
    this.steps = root.querySelector("#stages");
    this.cancel = root.querySelector("#cancel-job");
    this.reset();
    this._drawSteps(null, null);
  }

  _drawSteps(current, state) {
    if (current && !this.stages.includes(current)) {
      // An engine with stages of its own: put them where they are first seen.
      const at = this.lastIndex ?? 0;
      this.stages.splice(at + 1, 0, current);
    }
    const index = current ? this.stages.indexOf(current) : -1;
    this.lastIndex = index >= 0 ? index : this.lastIndex;
    this.steps.replaceChildren(
      ...this.stages.map((stage, i) => {
        const li = document.createElement("li");
        li.dataset.stage = stage;
        li.textContent = this.labels[stage] ?? stage;
        if (state === "succeeded" || i < index) li.className = "done";
        else if (i === index) {
          li.className = state === "running" ? "current" : state;
          li.setAttribute("aria-current", "step");
        }
        return li;
      }),
    );
  }

  /** Show the state of ``job`` (Job JSON). */
  update(job) {
    this.root.hidden = false;
    const state = job.state;
    const fraction = state === "succeeded" ? 1 : Math.max(0, Math.min(1, Number(job.progress) || 0));
    const pct = Math.round(fraction * 100);
    this.root.dataset.state = state;
    this.bar.setAttribute("aria-valuenow", String(pct));
    this.bar.firstElementChild.style.width = `${pct}%`;
    this.percent.textContent = `${pct} %`;
    let title;
    if (state === "queued") title = STAGE_LABELS.queued;
    else if (state === "running") title = this.labels[job.stage] ?? job.stage ?? "Starting";
    else if (state === "succeeded") title = job.cached ? "Done · from the cache" : `Done${seconds(job)}`;
    else if (state === "cancelled") title = "Cancelled";
    else title = `Failed: ${job.error?.message ?? "the job did not finish."}`;
    this.title.textContent = title;
    this.cancel.hidden = !(state === "queued" || state === "running");
    this._drawSteps(job.stage ?? null, state);
  }

  /** Start over for a job of ``task`` ("generate", "analyze", "repair"). */
  reset(task = "generate") {
    const set = TASK_STAGES[task];
    this.stages = [...(set?.stages ?? STAGES)];
    this.labels = { ...STAGE_LABELS, ...(set?.labels ?? {}) };
    this.lastIndex = undefined;
  }

  hide() {
    this.root.hidden = true;
  }
}

function seconds(job) {
  const start = Date.parse(job.started_at ?? job.created_at);
  const end = Date.parse(job.finished_at);
  if (!Number.isFinite(start) || !Number.isFinite(end) || end < start) return "";
  return ` in ${((end - start) / 1000).toFixed(1)} s`;
}
