// Which host interfaces a JavaScript step project's code uses: the names it imports from
// 'flowbox' (`import { records } from 'flowbox'`), `X.name` on a namespace import of it
// (`import * as flowbox from 'flowbox'`), and fetch() (which is flowbox's http). Prints them
// space-separated; `log` is always one (console writes to it).
// Run as `node --input-type=module -e "$(cat imports.mjs)" -- FILE.js...` (the files are argv[1..]).
import { readFileSync } from 'node:fs';

const INTERFACES = new Set(['log', 'variables', 'records', 'files', 'teams', 'email', 'http', 'llm', 'audio', 'clock']);
// Names of the flowbox module that reach an interface under another name.
const ALIASES = { now: 'clock', nowMillis: 'clock', fetch: 'http' };
const FROM_FLOWBOX = String.raw`\s*from\s*['"]flowbox['"]`;

const used = new Set(['log']);
const add = (name) => used.add(ALIASES[name] ?? name);
for (const path of process.argv.slice(1)) {
  const source = readFileSync(path, 'utf8');
  for (const m of source.matchAll(new RegExp(String.raw`import\s*\{([^}]*)\}` + FROM_FLOWBOX, 'g'))) {
    for (const part of m[1].split(',')) {
      const name = part.trim().split(/\s+as\s+/)[0];
      if (name) add(name);
    }
  }
  for (const m of source.matchAll(new RegExp(String.raw`import\s*\*\s*as\s+([\w$]+)` + FROM_FLOWBOX, 'g'))) {
    const alias = m[1].replace(/\$/g, '\\$');
    for (const n of source.matchAll(new RegExp(String.raw`(?<![\w$.])${alias}\s*\.\s*([\w$]+)`, 'g'))) add(n[1]);
  }
  if (/(?<![\w$.])fetch\s*\(/.test(source)) add('fetch');
}
console.log([...used].filter((n) => INTERFACES.has(n)).sort().join(' '));
