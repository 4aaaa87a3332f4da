// Where outside URLs sit in JavaScript: reads a JSON list of {name, source, module} on stdin and
// prints a JSON list of {name, url, where} for every http(s):// URL, where "where" is "comment",
// "string" (string and template literals), "regex" or "code". Used by tests/web/test_offline.py,
// which allows comments (never fetched) and only listed URLs elsewhere.
import * as acorn from "acorn";

const URL = /https?:\/\/[^\s"'`<>()\\]+/g;

function spans(name, source, module) {
  const found = [];
  const options = {
    ecmaVersion: "latest",
    sourceType: module ? "module" : "script",
    allowHashBang: true,
    allowReturnOutsideFunction: true,
    onComment: (block, text, start, end) => found.push({ start, end, where: "comment" }),
    onToken: (token) => {
      const kind = token.type.label;
      if (kind === "string" || kind === "template") found.push({ start: token.start, end: token.end, where: "string" });
      else if (kind === "regexp") found.push({ start: token.start, end: token.end, where: "regex" });
    },
  };
  try {
    acorn.parse(source, options);
  } catch (error) {
    throw new Error(`${name}: ${error.message}`);
  }
  return found.sort((a, b) => a.start - b.start);
}

const input = JSON.parse(await new Promise((resolve) => {
  let data = "";
  process.stdin.on("data", (chunk) => (data += chunk));
  process.stdin.on("end", () => resolve(data));
}));
const out = [];
for (const { name, source, module } of input) {
  const regions = spans(name, source, module);
  for (const match of source.matchAll(URL)) {
    const at = match.index;
    const region = regions.find((r) => r.start <= at && at < r.end);
    out.push({ name, url: match[0], where: region ? region.where : "code" });
  }
}
process.stdout.write(JSON.stringify(out));
