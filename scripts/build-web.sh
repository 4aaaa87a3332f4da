#!/usr/bin/env bash
# Build the service's vendored browser assets: `npm ci` in src/orfeas/web (exact versions from the
# lockfile, node_modules/ stays there), then copy into src/orfeas/web/static/vendor/, which the
# service serves under /static/vendor/:
#   three/       the ES modules the studio page imports, and everything they import in turn (no
#                bundler: the page loads these files through an import map);
#   swagger-ui/  Swagger UI's bundle and stylesheet for /docs (orfeas.api.docs);
#   redoc/       ReDoc's standalone bundle for /redoc;
# each with its licence files, and THIRD-PARTY.txt listing package, version and licence.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
web="$root/src/orfeas/web"
vendor="$web/static/vendor"

command -v npm >/dev/null || { echo "build-web: npm (Node.js 20+) is required" >&2; exit 1; }

# npm ci only when the lockfile changed since the last install (it wipes node_modules each time).
stamp="$web/node_modules/.package-lock.json"
if [[ ! -f "$stamp" || "$web/package-lock.json" -nt "$stamp" || "$web/package.json" -nt "$stamp" ]]; then
  # No install scripts: none of these packages needs one, and swagger-ui-dist's (Scarf) would
  # report the install to a third party.
  (cd "$web" && npm ci --silent --no-audit --no-fund --ignore-scripts)
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

modules="$web/node_modules"

# Swagger UI for /docs: the bundle FastAPI's get_swagger_ui_html loads, its stylesheet, licences.
mkdir -p "$vendor/swagger-ui"
for f in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css LICENSE NOTICE; do
  cp "$modules/swagger-ui-dist/$f" "$vendor/swagger-ui/$f"
done

# ReDoc for /redoc: the standalone bundle (React and the rest inside) and its licences, with two
# things done for a page that loads nothing from outside and needs no 'unsafe-inline':
# - the sidebar's "API docs by Redocly" attribution shows a logo from Redocly's CDN, and ReDoc has
#   no option to turn it off: it becomes an empty data: image (which fails to load, so ReDoc drops
#   it; the attribution link stays);
# - ReDoc writes inline <style> elements: styled-components' empty ones (filled through the CSSOM,
#   which CSP does not police) and perfect-scrollbar's stylesheet, which webpack's style-loader
#   writes as text with its source map appended. style-hashes.txt holds their CSP hashes, for the
#   /redoc page's policy (orfeas.api.docs).
mkdir -p "$vendor/redoc"
for f in redoc.standalone.js redoc.standalone.js.LICENSE.txt; do
  cp "$modules/redoc/bundles/$f" "$vendor/redoc/$f"
done
cp "$modules/redoc/LICENSE" "$vendor/redoc/LICENSE"
node - "$vendor/redoc" <<'JS'
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");
const dir = process.argv[2];
const file = path.join(dir, "redoc.standalone.js");
let source = fs.readFileSync(file, "utf8");
function once(needle) {
  const found = source.split(needle).length - 1;
  if (found !== 1) throw new Error(`build-web: expected '${needle}' once in ${file}, found it ${found} times`);
  return source.indexOf(needle);
}
once('src:"https://cdn.redoc.ly/redoc/logo-mini.svg"');
source = source.replace('src:"https://cdn.redoc.ly/redoc/logo-mini.svg"', 'src:"data:,"');
fs.writeFileSync(file, source);

// perfect-scrollbar's CSS module: [id, css, media, sourceMap] as a data literal. Its end is the
// bracket that closes it, counted outside double-quoted strings.
const start = once('[e.id,".ps{');
let depth = 0;
let end = -1;
for (let i = start; i < source.length && end < 0; i++) {
  const c = source[i];
  if (c === '"') for (i++; source[i] !== '"'; i++) i += source[i] === "\\" ? 1 : 0;
  else if (c === "[" || c === "{") depth++;
  else if ((c === "]" || c === "}") && --depth === 0) end = i + 1;
}
const [, css, media, map] = Function("e", `return ${source.slice(start, end)}`)({ id: 0 });
if (media) throw new Error("build-web: perfect-scrollbar's CSS now has a media query; update this script");
// What style-loader writes: the CSS, then the source map as a base64 data URL comment.
const written = map
  ? `${css}\n/*# sourceMappingURL=data:application/json;base64,${Buffer.from(JSON.stringify(map)).toString("base64")} */`
  : css;
const sha = (text) => "sha256-" + crypto.createHash("sha256").update(text, "utf8").digest("base64");
fs.writeFileSync(path.join(dir, "style-hashes.txt"), `${sha("")}\n${sha(written)}\n`);
JS

# What is vendored, from each package's own package.json (the versions the lockfile pinned).
node - "$modules" "$vendor/THIRD-PARTY.txt" <<'JS'
const fs = require("fs");
const path = require("path");
const [modules, out] = process.argv.slice(2);
const folders = { three: "three", "swagger-ui-dist": "swagger-ui", redoc: "redoc" };
const lines = [
  "Third-party software served by ORFEAS under /static/vendor/ (copied from npm by scripts/build-web.sh).",
  "Each folder holds the package's LICENSE; *.LICENSE.txt files list the licences of the code bundled inside.",
  "redoc.standalone.js is modified: its remote sidebar logo URL is replaced by an empty data: URL.",
  "",
];
for (const [name, folder] of Object.entries(folders)) {
  const meta = JSON.parse(fs.readFileSync(path.join(modules, name, "package.json"), "utf8"));
  lines.push(`${folder}/\t${meta.name} ${meta.version}\t${meta.license}`);
}
fs.writeFileSync(out, lines.join("\n") + "\n");
console.log(`build-web: ${lines.slice(4).join("; ").replace(/\t/g, " ")}`);
JS
