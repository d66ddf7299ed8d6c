"use strict";
// The YAML the create form reads (service/page/app.js sends the result as
// the JSON object "values"); the server checks it again as it writes it.

// The block subset of YAML people write for Helm values: nested mappings by
// indentation, "- " lists, plain, quoted, numeric, boolean and null scalars,
// comments.  Anything else (flow collections, anchors, multi-line strings)
// is refused with its line: the user can send it as JSON.
function parseYaml(text) {
  const lines = [];
  text.split("\n").forEach((raw, i) => {
    const t = raw.replace(/\s+#.*$/, "").replace(/^\s*#.*$/, "").replace(/\s+$/, "");
    if (t === "" || t === "---") return;
    if (/\t/.test(t.match(/^\s*/)[0])) throw new Error("line " + (i + 1) + ": indent with spaces, not tabs");
    lines.push({ n: i + 1, indent: t.match(/^ */)[0].length, text: t.trim() });
  });
  let pos = 0;
  function scalar(s, n) {
    if (/^[[{&*!|>]/.test(s)) throw new Error("line " + n + ": only block mappings, lists and scalars are read here; send JSON instead");
    if (/^"(?:[^"\\]|\\.)*"$/.test(s)) return JSON.parse(s);
    if (/^'(?:[^']|'')*'$/.test(s)) return s.slice(1, -1).replace(/''/g, "'");
    if (/^(true|yes|on)$/i.test(s)) return true;
    if (/^(false|no|off)$/i.test(s)) return false;
    if (/^(null|~)$/i.test(s)) return null;
    if (/^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/.test(s)) return Number(s);
    return s;
  }
  function block(indent) {
    const first = lines[pos];
    if (first.text.startsWith("- ") || first.text === "-") {
      const out = [];
      while (pos < lines.length && lines[pos].indent === indent && (lines[pos].text.startsWith("- ") || lines[pos].text === "-")) {
        const l = lines[pos++];
        const rest = l.text.slice(1).trim();
        if (rest === "") out.push(pos < lines.length && lines[pos].indent > indent ? block(lines[pos].indent) : null);
        else if (/^[^"'][^:]*:( |$)/.test(rest)) {
          // "- key: value": a mapping that goes on at the item's indent
          lines[--pos] = { n: l.n, indent: indent + 2, text: rest };
          out.push(block(indent + 2));
        } else out.push(scalar(rest, l.n));
      }
      return out;
    }
    const out = {};
    while (pos < lines.length && lines[pos].indent === indent) {
      const l = lines[pos++];
      const m = /^("(?:[^"\\]|\\.)*"|'[^']*'|[^:]+?):(?: +(.*))?$/.exec(l.text);
      if (!m) throw new Error("line " + l.n + ": expected \"key: value\"");
      const key = /^["']/.test(m[1]) ? scalar(m[1], l.n) : m[1];
      if (Object.prototype.hasOwnProperty.call(out, key)) throw new Error("line " + l.n + ": key '" + key + "' appears twice");
      if (m[2] !== undefined && m[2] !== "") out[key] = scalar(m[2], l.n);
      else out[key] = pos < lines.length && lines[pos].indent > indent ? block(lines[pos].indent) : null;
    }
    if (pos < lines.length && lines[pos].indent > indent) throw new Error("line " + lines[pos].n + ": unexpected indentation");
    return out;
  }
  if (!lines.length) return {};
  const doc = block(lines[0].indent);
  if (pos < lines.length) throw new Error("line " + lines[pos].n + ": unexpected indentation");
  return doc;
}
