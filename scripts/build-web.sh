#!/usr/bin/env bash
# Build the studio page's vendored assets: `npm ci` in src/orfeas/web (exact versions from the
# lockfile, node_modules/ stays there), then copy the ES modules the page imports — and everything
# they import in turn — into src/orfeas/web/static/vendor/, which the service serves under
# /static/vendor/. No bundler: the page loads these files through an import map.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
web="$root/src/orfeas/web"
vendor="$web/static/vendor"

command -v npm >/dev/null || { echo "build-web: npm (Node.js 20+) is required" >&2; exit 1; }

# npm ci only when the lockfile changed since the last install (it wipes node_modules each time).
stamp="$web/node_modules/.package-lock.json"
if [[ ! -f "$stamp" || "$web/package-lock.json" -nt "$stamp" || "$web/package.json" -nt "$stamp" ]]; then
  (cd "$web" && npm ci --silent --no-audit --no-fund)
fi

rm -rf "$vendor"
mkdir -p "$vendor"
# The entry points the page imports (see static/index.html's import map); their imports are followed.
node - "$web/node_modules/three" "$vendor/three" <<'JS'
const fs = require("fs");
const path = require("path");
const [pkg, out] = process.argv.slice(2);
const entries = [
  "build/three.module.js",
  "examples/jsm/controls/OrbitControls.js",
  "examples/jsm/loaders/GLTFLoader.js",
];
// Map an import specifier to a file inside the three package (bare names as the import map does).
function resolve(spec, from) {
  if (spec === "three") return "build/three.module.js";
  if (spec.startsWith("three/addons/")) return "examples/jsm/" + spec.slice("three/addons/".length);
  if (spec.startsWith(".")) return path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  throw new Error(`build-web: ${from} imports '${spec}', which the import map does not provide`);
}
// Only statements at the start of a line: the doc comments also contain "import ... from" examples.
const patterns = [/^(?:import|export)\b[^;]*?\bfrom\s*['"]([^'"]+)['"]/gms, /^import\s*['"]([^'"]+)['"]/gm];
const seen = new Set();
const queue = [...entries];
while (queue.length) {
  const rel = queue.pop();
  if (seen.has(rel)) continue;
  seen.add(rel);
  const source = fs.readFileSync(path.join(pkg, rel), "utf8");
  for (const re of patterns) for (const m of source.matchAll(re)) queue.push(resolve(m[1], rel));
  fs.mkdirSync(path.dirname(path.join(out, rel)), { recursive: true });
  fs.writeFileSync(path.join(out, rel), source);
}
fs.copyFileSync(path.join(pkg, "LICENSE"), path.join(out, "LICENSE"));
const version = JSON.parse(fs.readFileSync(path.join(pkg, "package.json"), "utf8")).version;
console.log(`build-web: three ${version}: ${[...seen].sort().join(", ")}`);
JS
