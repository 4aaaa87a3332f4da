// Mesh jobs (the mesh doctor): a model file in, analysed as it is or repaired for printing.
// What the page knows about them besides the Job JSON: the files it takes and the options' form.

/** The formats the server reads (orfeas.mesh.exchange.untrusted); it sniffs the bytes again. */
export const MESH_EXTENSIONS = /\.(stl|obj|ply|glb|3mf)$/i;
export const MESH_FORMATS = "STL, OBJ, PLY, GLB or 3MF";

/** True when ``job`` is a mesh job (older servers: no task, but an input of kind "model"). */
export const isMeshJob = (job) => job?.input?.kind === "model" || job?.task === "analyze" || job?.task === "repair";

/** The format of a mesh job's input ("STL"), from its input link ("…/input.stl"). */
export function meshFormat(job) {
  const name = job?.links?.input ?? job?.input?.filename ?? "";
  const match = /\.([a-z0-9]+)$/i.exec(name);
  return match ? match[1].toUpperCase() : "";
}

export const TASK_WORDS = { analyze: "Mesh analysis", repair: "Mesh repair" };

/**
 * The options of a mesh job as a JSON schema for SchemaForm, written after the server's
 * orfeas.mesh.doctor.DoctorParameters (GET /api/v1/engines does not list them). `task` is the
 * form's mode: units apply to both tasks, the rest to a repair only. "file" stands for "no units
 * sent": the server then takes what the file declares (3MF), else millimetres.
 */
export const MESH_SCHEMA = {
  type: "object",
  properties: {
    task: {
      type: "string",
      enum: ["analyze", "repair"],
      default: "analyze",
      title: "Task",
      enum_labels: { analyze: "Analyze", repair: "Repair" },
      enum_descriptions: {
        analyze: "Check it as it is: closed or not, walls, overhangs, what a slicer will object to. Nothing is changed.",
        repair: "Make it printable: close holes, fix flipped and duplicate faces, drop debris, one manifold solid. Every change is listed.",
      },
    },
    units: {
      type: "string",
      enum: ["file", "mm", "cm", "m", "in"],
      default: "file",
      title: "Units",
      enum_labels: { file: "As the file says", mm: "Millimetres", cm: "Centimetres", m: "Metres", in: "Inches" },
      description: "What one unit in the file is. 3MF files say; other files are read as millimetres.",
    },
    size_mm: {
      type: "number",
      minimum: 1,
      maximum: 10000,
      nullable: true,
      slider: false,
      title: "Size",
      unit: "mm",
      placeholder: "Keep",
      description: "Scale so the longest side is this; empty keeps its size.",
      modes: ["repair"],
    },
    target_faces: {
      type: "integer",
      minimum: 100,
      maximum: 5000000,
      nullable: true,
      slider: false,
      title: "Target faces",
      placeholder: "All",
      description: "Simplify to about this many triangles; empty keeps them all.",
      modes: ["repair"],
    },
    lay_flat: {
      type: "boolean",
      default: false,
      title: "Lay flat",
      description: "Rest the largest flat face on the bed.",
      modes: ["repair"],
    },
    max_volume_loss: {
      type: "number",
      minimum: 0,
      maximum: 1,
      default: 0.02,
      title: "Most volume removed",
      description: "Fail rather than remove a larger share of the volume (0.02 is 2 %).",
      modes: ["repair"],
      advanced: true,
    },
  },
};

/**
 * The form fields of a mesh job from the options form's values. Defaults are left out (the server
 * fills them in, and "file" units mean "send none"), so the same request made by hand with curl
 * and made here is the same job for the result cache.
 */
export function meshFields(values) {
  const fields = {};
  for (const [key, value] of Object.entries(values)) {
    if (key === "task" || value === undefined || value === null || value === "") continue;
    if (value === MESH_SCHEMA.properties[key]?.default) continue;
    fields[key] = String(value);
  }
  return fields;
}
