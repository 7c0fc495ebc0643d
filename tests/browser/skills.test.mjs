// The skills formatter of the web pages (web/shared/skills.js, served by both daemons) in
// Node, without a browser: the line it writes for a
// skills object {name: level} (routing.md section 1) is sorted by name, compact, and
// leaves out what a conforming server cannot send. The pages' use of it is tested in
// desk.test.mjs and wallboard.test.mjs.
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { Env, ROOT, parseArgs, check } from './lib.mjs';

const args = parseArgs();
await Env.run(args, { timeout: 20 }, async () => {
  const text = fs.readFileSync(path.join(ROOT, 'web', 'shared', 'skills.js'), 'utf8');

  // Run as the browser runs it: a classic script that defines the global ccSkills.
  const ctx = vm.createContext({});
  vm.runInContext(text, ctx, { filename: 'skills.js', timeout: 1000 });
  const { ccSkills } = ctx;
  check(ccSkills && typeof ccSkills.text === 'function', 'the script defines ccSkills');
  const t = (v) => ccSkills.text(v);
  const eq = (got, want, what) => check(got === want, `${what}: ${JSON.stringify(got)}${got === want ? '' : ` (want ${JSON.stringify(want)})`}`);

  eq(t({ spanish: 5, billing: 9 }), 'billing 9 · spanish 5', 'sorted by name, "name level" joined by a middle dot');
  eq(t({ billing: 9 }), 'billing 9', 'one skill');
  eq(t({}), 'no skills', 'an empty object says so');
  for (const v of [undefined, null, 'billing:9', 7, true, ['billing', 9], [['billing', 9]]]) {
    eq(t(v), '', `${JSON.stringify(v) ?? 'undefined'} is not a skills object: nothing shown`);
  }
  eq(t({ b2: 1, b10: 2, a: 3, 'a-b': 4, a_b: 5 }), 'a 3 · a-b 4 · a_b 5 · b10 2 · b2 1',
    'order is by code unit (ASCII names), the same in every locale');
  eq(t({ zz: 10, aa: 1 }), 'aa 1 · zz 10', 'levels 1 and 10 (the bounds) are kept');
  eq(t({ ok: 5, zero: 0, eleven: 11, half: 2.5, text: '5', neg: -1, nul: null, obj: { level: 5 } }), 'ok 5',
    'levels 0, 11, 2.5, "5", -1, null and an object are left out');
  check(ccSkills.parse({ ok: 5, zero: 0, eleven: 11 }).invalid === 2, 'and counted as invalid');
  eq(t({ zero: 0 }), 'no skills', 'an object of invalid entries only shows "no skills"');
  const long32 = `a${'b'.repeat(31)}`;
  const long33 = `a${'b'.repeat(32)}`;
  eq(t({ [long32]: 2 }), `${long32} 2`, 'a name of 32 bytes (the maximum) is kept');
  eq(t({ [long33]: 2 }), 'no skills', 'a name of 33 bytes is left out');
  eq(t({ Billing: 3, '9lives': 3, 'a b': 3, '': 3, 'é': 3, x: 3 }), 'x 3',
    'names not matching [a-z][a-z0-9_-]{0,31} are left out');
  eq(t({ '<img src=x onerror=alert(1)>': 5, sales: 7 }), 'sales 7', 'a name with markup is left out');
  eq(t(Object.create({ inherited: 3 }, { own: { value: 4, enumerable: true } })), 'own 4', 'own keys only: an inherited one is not a skill');
  eq(t({ constructor: 2, tostring: 1 }), 'constructor 2 · tostring 1', 'names that are also Object properties are ordinary skills');
  eq(t(JSON.parse('{"__proto__": 4, "billing": 2}')), 'billing 2', 'a JSON "__proto__" key breaks the name rule (leading underscore)');

  const many = {};
  for (let i = 0; i < 64; i++) many[`s${String(i).padStart(2, '0')}`] = 1 + (i % 10);
  const p64 = ccSkills.parse(many);
  check(p64.list.length === 64 && p64.more === 0, 'a skills object of 64 entries (the maximum) is listed whole');
  check(!ccSkills.format(p64).includes('more'), 'no "+N more" at 64 skills');
  many.zz = 3;
  const p65 = ccSkills.parse(many);
  check(p65.list.length === 64 && p65.more === 1 && p65.list[63][0] === 's63',
    '65 skills: the first 64 by name are listed, one counted');
  check(ccSkills.format(p65).endsWith(' · +1 more'), 'and the line ends with "+1 more"');
  const huge = {};
  for (let i = 0; i < 5000; i++) huge[`k${i}`] = 5;
  const t0 = Date.now();
  const ph = ccSkills.parse(huge);
  check(ph.list.length === 64 && ph.more === 4936 && Date.now() - t0 < 500, 'a hostile object of 5,000 entries is cut to 64 quickly');
});
