// Runs every browser test (tests/browser/*.test.mjs) one after the other, the way ctest
// does, and prints one closing line with the number of test files passed and failed.
// Usage: node tests/browser/run.mjs [--bin DIR] [NAME...]   (NAME: desk, wallboard, ...)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const argv = process.argv.slice(2);
let bin = path.join(root, 'build', 'bin');
const names = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--bin' && i + 1 < argv.length) bin = path.resolve(argv[++i]);
  else names.push(argv[i]);
}
const files = fs.readdirSync(here).filter((f) => f.endsWith('.test.mjs'))
  .filter((f) => names.length === 0 || names.includes(f.replace(/\.test\.mjs$/, ''))).sort();
let passed = 0;
let failed = 0;
for (const f of files) {
  console.log(`==== ${f}`);
  const r = spawnSync(process.execPath, [path.join(here, f), '--bin', bin], { cwd: root, stdio: 'inherit', timeout: 300000 });
  if (r.status === 0) passed++;
  else {
    failed++;
    console.log(`==== ${f} FAILED (status ${r.status}${r.signal ? `, ${r.signal}` : ''})`);
  }
}
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed || files.length === 0 ? 1 : 0);
