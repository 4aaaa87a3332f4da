// Validate GLB files with the Khronos glTF validator; prints one JSON line per file.
import { readFileSync } from "node:fs";
import validator from "gltf-validator";

for (const path of process.argv.slice(2)) {
  const report = await validator.validateBytes(new Uint8Array(readFileSync(path)));
  const { numErrors, numWarnings } = report.issues;
  const errors = report.issues.messages.filter((m) => m.severity === 0).map((m) => `${m.code}: ${m.message}`);
  console.log(JSON.stringify({ path, numErrors, numWarnings, errors }));
}
