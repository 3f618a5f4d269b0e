// Type-checks Grafana dashboard JSON files against Grafana's published schema.
//
//   node check.mjs [dashboard.json ...]     default: dashboards/*.json and helm/ccx/dashboards/*.json
//
// Each file becomes generated/<n>_<name>.ts, which assigns the JSON literal to a constant of type
// GrafanaDashboard (grafana-dashboard.ts): the literal is checked in context, so an unknown key,
// a missing required key, a wrong type or a value outside an enum is an error (an import of the
// JSON file would widen its strings and check none of that). Then `tsc --noEmit --strict`; the
// exit status is tsc's, its messages name the dashboard file.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..');

function jsonFiles(dir) {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => join(dir, f));
  } catch {
    return [];
  }
}

const files = process.argv.length > 2
  ? process.argv.slice(2).map((f) => resolve(f))
  : [...jsonFiles(join(repo, 'dashboards')), ...jsonFiles(join(repo, 'helm', 'ccx', 'dashboards'))];
if (files.length === 0) {
  console.error('check.mjs: no dashboard files');
  process.exit(2);
}

const generated = join(here, 'generated');
rmSync(generated, { recursive: true, force: true });
mkdirSync(generated);

const origin = new Map();
files.forEach((file, i) => {
  const text = readFileSync(file, 'utf8');
  try {
    JSON.parse(text);
  } catch (e) {
    console.error(`${file}: not JSON: ${e.message}`);
    process.exit(1);
  }
  const name = `${i}_${basename(file, '.json').replace(/[^A-Za-z0-9_-]/g, '_')}.ts`;
  // Two header lines, so that line n + 2 of the .ts file is line n of the JSON file.
  writeFileSync(join(generated, name),
    "import type { GrafanaDashboard } from '../grafana-dashboard.js';\n" +
    'export const dashboard: GrafanaDashboard =\n' + text.trimEnd() + ';\n');
  origin.set(name, file);
});

const tsc = join(here, 'node_modules', 'typescript', 'bin', 'tsc');
const run = spawnSync(process.execPath, [tsc, '--project', join(here, 'tsconfig.json'), '--pretty', 'false'],
  { cwd: here, encoding: 'utf8' });
if (run.error) {
  console.error(`check.mjs: cannot run tsc: ${run.error.message}`);
  process.exit(2);
}
// generated/3_x.ts(12,5): error … → path/to/x.json(10,5): error …
const out = (run.stdout + run.stderr).replace(/generated[\\/]([^()\s]+\.ts)\((\d+),(\d+)\)/g, (m, name, line, col) => {
  const file = origin.get(name);
  return file ? `${relative(process.cwd(), file)}(${Number(line) - 2},${col})` : m;
});
process.stdout.write(out);
if (run.status === 0) {
  console.log(`check.mjs: ${files.length} dashboard(s) match @grafana/schema`);
}
process.exit(run.status ?? 2);
