// Shared helpers of the browser tests (tests/browser/*.test.mjs).
//
// A test starts the real daemons (ixnserver, statserver) from the build's bin directory on
// 127.0.0.1 with port 0 and `http = 127.0.0.1:0`, inside a temporary directory, reads the
// `tcp=` and `http=` ports back from each port file, drives Debian's /usr/bin/chromium
// headless through playwright-core, and talks the wire protocol (docs/protocol.md) over TCP
// for media servers, extra agents and statistics clients. Env owns everything it starts: at
// the end (or at the hard timeout) it ends every process by pid and removes the temp dir.
//
// Typical use:
//
//   import { Env, parseArgs, check } from './lib.mjs';
//   const args = parseArgs();
//   await Env.run(args, { timeout: 120 }, async (env) => {
//     const ixn = await env.startIxn('ixn-a', { agents: { 'Resources/1001': 'pw1001' } });
//     const page = await env.page();
//     await page.goto(ixn.url);
//     check(await page.title() !== '', 'the desktop has a title');
//   });
//
// Output: one `ok: ...` or `FAIL: ...` line per check, and a closing `N passed, N failed`
// line; the exit status is 0 only when nothing failed.

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (two levels above this file). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Debian's Chromium, installed by scripts/deps.sh. */
export const CHROMIUM = '/usr/bin/chromium';

export const DESK_TOKEN = 'desk-secret';
export const STAT_TOKEN = 'stat-secret';
export const MEDIA_TOKEN = 'media-secret';
export const WALLBOARD_TOKEN = 'wallboard-secret';
export const DEFAULT_TOKENS = {
  AgentApplication: DESK_TOKEN,
  ReportingEngine: STAT_TOKEN,
  MediaServer: MEDIA_TOKEN,
};

// Milliseconds a daemon gets to write its port file, and to exit after SIGTERM.
const START_TIMEOUT_MS = 10000;
const STOP_TIMEOUT_MS = 5000;

/** Raised by check() and by protocol sanity checks. */
export class Failure extends Error {}
/** Raised when an expected message, port file or page state did not come in time. */
export class Timeout extends Error {}

const counts = { passed: 0, failed: 0 };

/** Prints `ok: what` when cond holds; otherwise prints `FAIL: what` and throws Failure. */
export function check(cond, what) {
  if (cond) {
    counts.passed++;
    console.log(`ok: ${what}`);
    return;
  }
  counts.failed++;
  console.log(`FAIL: ${what}`);
  const e = new Failure(what);
  e.reported = true;
  throw e;
}

/**
 * Takes a screenshot of page as a PNG named name. With CC_SCREENSHOTS=1 it replaces
 * docs/NAME, the picture the README shows (written to a temporary file, then renamed);
 * otherwise it goes to dir (the test's temp dir), so that a test run leaves the tree
 * unchanged. Checks that a PNG of plausible size was written and returns its path.
 */
export async function screenshot(page, name, dir) {
  const intoDocs = process.env.CC_SCREENSHOTS === '1';
  const target = intoDocs ? path.join(ROOT, 'docs', name) : path.join(dir, name);
  const tmp = path.join(path.dirname(target), `.${process.pid}-${name}`);
  await page.screenshot({ path: tmp });
  fs.renameSync(tmp, target);
  const png = fs.readFileSync(target);
  const signature = png.subarray(0, 8).toString('hex');
  check(signature === '89504e470d0a1a0a' && png.length > 10000,
        `screenshot ${intoDocs ? 'docs/' : ''}${name} written (${png.length} bytes, PNG)`);
  return target;
}

/** Reads the command line every test takes: --bin DIR (the build's bin directory),
 *  --keep (keep the temp dir), --headed (show the browser, for people debugging). */
export function parseArgs(argv = process.argv.slice(2)) {
  const a = { bin: path.join(ROOT, 'build', 'bin'), keep: !!process.env.CC_KEEP_TMP, headed: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--bin' && i + 1 < argv.length) a.bin = argv[++i];
    else if (argv[i] === '--keep') a.keep = true;
    else if (argv[i] === '--headed') a.headed = true;
    else throw new Error(`unknown argument ${argv[i]} (takes --bin DIR, --keep, --headed)`);
  }
  a.bin = path.resolve(a.bin);
  return a;
}

/** Resolves after ms milliseconds. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Calls fn (sync or async) every `every` ms until it returns a truthy value, which it
 *  returns; throws Timeout naming `what` after timeoutMs. */
export async function waitFor(fn, what, timeoutMs = 5000, every = 50) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Timeout(`no ${what} within ${timeoutMs} ms${last ? ` (last error: ${last.message})` : ''}`);
    }
    await sleep(every);
  }
}

// ---------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------

/** {key: number} from a port file, or null while it is absent or incomplete. */
function readPortFile(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  if (!text.endsWith('\n')) return null;
  const ports = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([a-z]+)\s*=\s*(\d+)\s*$/.exec(line);
    if (m) ports[m[1]] = Number(m[2]);
  }
  return 'tcp' in ports ? ports : null;
}

/** One daemon started by Env: .port (tcp), .httpPort, .url (`http://127.0.0.1:PORT/`),
 *  .ports (every key of the port file), .pid, .name, .kill(sig), .restart(), .stderrTail(). */
export class Proc {
  constructor(env, kind, name, writeConfig, webDir) {
    this.env = env;
    this.kind = kind;
    this.name = name;
    this.writeConfig = writeConfig;
    this.webDir = webDir;
    this.port = null;
    this.httpPort = null;
    this.ports = {};
    this.child = null;
    this.exit = null;
    this.starts = 0;
    this.expectedExit = false;
    this.fake = null;
    this.portFile = env.path(`${name}.port`);
    this.stderrPath = env.path(`${name}.stderr`);
  }

  get pid() {
    return this.child ? this.child.pid : null;
  }

  /** The page's address: `http://127.0.0.1:HTTPPORT/`. */
  get url() {
    return `http://127.0.0.1:${this.httpPort}/`;
  }

  /** True while the process has not exited. */
  running() {
    return this.child !== null && this.exit === null;
  }

  /** Writes the config (port 0 the first time, the previous ports after), starts the
   *  daemon and waits for its port file. */
  async start() {
    if (this.running()) throw new Error(`${this.name} already runs`);
    this.config = this.writeConfig(this.port || 0, this.realHttp ? this.httpPort : 0);
    fs.rmSync(this.portFile, { force: true });
    this.starts++;
    this.expectedExit = false;
    this.exit = null;
    const err = fs.openSync(this.stderrPath, 'a');
    if (this.starts > 1) fs.writeSync(err, `---- restart ${this.starts} ----\n`);
    const child = spawn(this.env.bin(this.kind), ['-c', this.config], {
      cwd: this.env.dir,
      stdio: ['ignore', err, err],
    });
    fs.closeSync(err);
    this.child = child;
    this.env.procs.add(this);
    child.on('exit', (code, signal) => {
      if (this.child === child) this.exit = { code, signal };
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    let ports;
    for (;;) {
      ports = readPortFile(this.portFile);
      if (ports) break;
      if (this.exit) {
        throw new Failure(`${this.name} (${this.kind}) exited (${JSON.stringify(this.exit)}) before writing its port file:\n${this.stderrTail()}`);
      }
      if (Date.now() > deadline) {
        throw new Timeout(`${this.name} (${this.kind}) wrote no port file within ${START_TIMEOUT_MS} ms:\n${this.stderrTail()}`);
      }
      await sleep(20);
    }
    if (this.port !== null && ports.tcp !== this.port) {
      throw new Failure(`${this.name} restarted on port ${ports.tcp}, not its old port ${this.port}`);
    }
    this.ports = ports;
    this.port = ports.tcp;
    if ('http' in ports) {
      this.realHttp = true;
      this.httpPort = ports.http;
    } else if (this.env.fakeHttp) {
      // The daemon serves no HTTP (the HTTP layer is not in this build): the test bridge
      // serves the page from web/ and relays /ws to the daemon's TCP port, keeping its
      // port across restarts like the real one.
      if (!this.fake) {
        this.fake = await startBridge(this.webDir, () => this.port);
        this.httpPort = this.fake.port;
        console.log(`note: ${this.name} wrote no http= port; serving ${path.relative(ROOT, this.webDir)} through the test bridge on port ${this.httpPort}`);
      }
    } else {
      throw new Failure(`${this.name} (${this.kind}) wrote no http= line to its port file (is \`http\` supported in [server]? CC_BROWSER_FAKE_HTTP=1 serves the pages through the test bridge):\n${this.stderrTail()}`);
    }
    return this;
  }

  /** Sends sig (default SIGKILL) to the process by pid; for SIGKILL/SIGTERM/SIGINT waits
   *  for its end and returns the exit {code, signal}. */
  async kill(sig = 'SIGKILL') {
    if (!this.running()) return this.exit;
    if (['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGQUIT'].includes(sig)) this.expectedExit = true;
    process.kill(this.child.pid, sig);
    if (['SIGKILL', 'SIGTERM', 'SIGINT'].includes(sig)) return this.wait();
    return null;
  }

  /** Waits for the process to end; returns its exit {code, signal}. */
  async wait(timeoutMs = 10000) {
    await waitFor(() => this.exit, `exit of ${this.name}`, timeoutMs, 20);
    return this.exit;
  }

  /** Starts the daemon again with the same config on the same ports (SIGKILLs it first). */
  async restart() {
    if (this.running()) await this.kill('SIGKILL');
    return this.start();
  }

  /** The last lines of the process's stderr (all starts). */
  stderrTail(lines = 30) {
    try {
      return fs.readFileSync(this.stderrPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no stderr)';
    }
  }
}

/** The test environment: a temp dir, a hard timeout, every process, browser and client it
 *  started ended at close(); on failure the stderr tails of the daemons. */
export class Env {
  /** opts: timeout (seconds, default 120), keep (keep the temp dir), headed, fakeHttp
   *  (serve pages through the test bridge when a daemon writes no http= port, for
   *  developing pages against a build without the HTTP layer; default off, on with
   *  CC_BROWSER_FAKE_HTTP=1). Without it, a daemon that writes no http= port fails the
   *  test. */
  constructor(args = parseArgs(), opts = {}) {
    this.binDir = args.bin;
    this.keep = !!(opts.keep ?? args.keep);
    this.headed = !!args.headed;
    this.timeout = opts.timeout ?? 120;
    this.fakeHttp = opts.fakeHttp ?? !!process.env.CC_BROWSER_FAKE_HTTP;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cc-br-'));
    this.procs = new Set();
    this.clients = new Set();
    this.hashes = new Map();
    this.rounds = undefined;
    this.browserP = null;
    this.closed = false;
    this.timer = setTimeout(() => this.onHardTimeout(), this.timeout * 1000);
    this.timer.unref();
    // Whatever way the test ends, no daemon outlives it.
    this.onExit = () => {
      for (const p of this.procs) {
        if (p.running()) {
          try { process.kill(p.pid, 'SIGKILL'); } catch { /* already gone */ }
        }
      }
    };
    process.on('exit', this.onExit);
  }

  /** Runs body(env) in a fresh Env, prints the closing counts line and exits the process:
   *  0 when every check passed and every daemon ended cleanly, 1 otherwise. */
  static async run(args, opts, body) {
    const env = new Env(args, opts);
    let failed = false;
    try {
      await body(env);
    } catch (e) {
      failed = true;
      if (!e.reported) {
        counts.failed++;
        console.log(`FAIL: ${e.constructor.name}: ${e.message}`);
        if (!(e instanceof Timeout) && !(e instanceof Failure)) console.log(e.stack);
      }
    }
    const problems = await env.close(failed);
    for (const p of problems) {
      counts.failed++;
      console.log(`FAIL: ${p}`);
    }
    console.log(`${counts.passed} passed, ${counts.failed} failed`);
    process.exit(counts.failed ? 1 : 0);
  }

  onHardTimeout() {
    console.log(`FAIL: test exceeded its hard timeout of ${this.timeout} s`);
    counts.failed++;
    this.dumpTails();
    this.onExit();
    console.log(`${counts.passed} passed, ${counts.failed} failed`);
    process.exit(1);
  }

  dumpTails() {
    for (const p of this.procs) {
      console.log(`---- ${p.name} (${p.kind}, pid ${p.pid}) stderr tail ----`);
      console.log(p.stderrTail());
    }
  }

  /** Ends everything; returns a list of problems (a daemon that died on its own, or did
   *  not exit 0 on SIGTERM). */
  async close(failed = false) {
    if (this.closed) return [];
    this.closed = true;
    clearTimeout(this.timer);
    const problems = [];
    for (const c of this.clients) c.close();
    if (this.browserP) {
      try {
        const b = await this.browserP;
        await Promise.race([b.close(), sleep(5000)]);
      } catch { /* a browser that failed to start has nothing to close */ }
    }
    for (const p of this.procs) {
      if (p.fake) p.fake.close();
      if (!p.running()) {
        if (p.child && !p.expectedExit) {
          problems.push(`${p.name} (${p.kind}) died during the test: ${JSON.stringify(p.exit)}`);
        }
        continue;
      }
      try {
        process.kill(p.pid, 'SIGTERM');
        const ex = await p.wait(STOP_TIMEOUT_MS);
        if (ex.code !== 0) problems.push(`${p.name} (${p.kind}) exited with ${JSON.stringify(ex)} on SIGTERM`);
      } catch {
        problems.push(`${p.name} (${p.kind}) did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM`);
        try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone meanwhile */ }
      }
    }
    if (failed || problems.length) this.dumpTails();
    if (this.keep) console.log(`kept temp dir ${this.dir}`);
    else fs.rmSync(this.dir, { recursive: true, force: true });
    process.off('exit', this.onExit);
    return problems;
  }

  /** Absolute path of name inside the temp dir. */
  path(name) {
    return path.join(this.dir, name);
  }

  /** Writes text to name in the temp dir; returns the absolute path. */
  write(name, text) {
    const p = this.path(name);
    fs.writeFileSync(p, text);
    return p;
  }

  /** Absolute path of a program of the build. */
  bin(prog) {
    return path.join(this.binDir, prog);
  }

  /** A crypt hash of pw from `ixnserver --hash-password`, with the cheapest cost the
   *  ixnserver accepts (found once), cached per password. */
  hashPassword(pw) {
    if (this.hashes.has(pw)) return this.hashes.get(pw);
    const tries = this.rounds !== undefined ? [this.rounds] : [1, 2, 3, 4, 5, null];
    let last = '';
    for (const rounds of tries) {
      const argv = ['--hash-password'];
      if (rounds !== null) argv.push('--rounds', String(rounds));
      const r = spawnSync(this.bin('ixnserver'), argv, { input: `${pw}\n`, encoding: 'utf8', timeout: 30000 });
      const out = (r.stdout || '').trim().split('\n');
      const h = out[out.length - 1].trim();
      if (r.status === 0 && h.startsWith('$')) {
        this.rounds = rounds;
        this.hashes.set(pw, h);
        return h;
      }
      last = `${argv.join(' ')} -> ${r.status}: ${(r.stderr || '').trim()}`;
    }
    throw new Failure(`ixnserver --hash-password failed: ${last}`);
  }

  /** Starts an ixnserver named name. opts: media (default voice, chat, email), agents
   *  {"TENANT/ID": password}, tokens {clientType: token} (default DEFAULT_TOKENS), queues
   *  {"TENANT/QUEUE": media}, afterWork {media: seconds}, inviteTimeout (s), extraServer
   *  (lines for [server]), extra (lines at the end), webDir (default web/desk, for the test
   *  bridge only). Its data-dir is NAME-data in the temp dir, so restart() keeps it.
   *  Returns its Proc. */
  async startIxn(name, opts = {}) {
    const media = opts.media ?? ['voice', 'chat', 'email'];
    const tokens = opts.tokens ?? DEFAULT_TOKENS;
    const hashes = Object.entries(opts.agents ?? {}).map(([k, v]) => [k, this.hashPassword(v)]);
    const dataDir = this.path(`${name}-data`);
    const writeConfig = (port, httpPort) => {
      const lines = ['[server]', `name = ${name}`, `listen = 127.0.0.1:${port}`,
        `http = 127.0.0.1:${httpPort}`, `port-file = ${this.path(`${name}.port`)}`,
        `data-dir = ${dataDir}`];
      if (media.length) lines.push(`media = ${media.join(', ')}`);
      if (opts.inviteTimeout !== undefined) lines.push(`invite-timeout = ${opts.inviteTimeout}`);
      if (opts.extraServer) lines.push(opts.extraServer.trim());
      lines.push('[tokens]');
      for (const [k, v] of Object.entries(tokens)) lines.push(`${k} = ${v}`);
      lines.push('[agents]');
      for (const [k, v] of hashes) lines.push(`${k} = ${v}`);
      if (opts.queues) {
        lines.push('[queues]');
        for (const [k, v] of Object.entries(opts.queues)) lines.push(`${k} = ${v}`);
      }
      if (opts.afterWork) {
        lines.push('[after-work]');
        for (const [k, v] of Object.entries(opts.afterWork)) lines.push(`${k} = ${v}`);
      }
      if (opts.extra) lines.push(opts.extra.trim());
      return this.write(`${name}.ini`, lines.join('\n') + '\n');
    };
    const p = new Proc(this, 'ixnserver', name, writeConfig, opts.webDir ?? path.join(ROOT, 'web', 'desk'));
    p.dataDir = dataDir;
    return p.start();
  }

  /** Starts a statserver named name linked to every Proc in opts.ixns, with opts.rules
   *  (rules text), opts.token (StatClient token, default WALLBOARD_TOKEN), opts.ixnToken
   *  (default STAT_TOKEN), extraServer, extra, webDir (default web/wallboard, for the test
   *  bridge only). Returns its Proc (.port is the StatClient port). */
  async startStat(name, opts = {}) {
    const ixns = opts.ixns ?? [];
    const token = opts.token ?? WALLBOARD_TOKEN;
    const writeConfig = (port, httpPort) => {
      const rules = this.write(`${name}.rules`, opts.rules ?? '');
      const lines = ['[server]', `name = ${name}`, `listen = 127.0.0.1:${port}`,
        `http = 127.0.0.1:${httpPort}`, `port-file = ${this.path(`${name}.port`)}`,
        `token = ${token}`, `rules = ${rules}`];
      if (opts.extraServer) lines.push(opts.extraServer.trim());
      for (const ixn of ixns) {
        lines.push(`[ixn:${ixn.name}]`, `address = 127.0.0.1:${ixn.port}`, `token = ${opts.ixnToken ?? STAT_TOKEN}`);
      }
      if (opts.extra) lines.push(opts.extra.trim());
      return this.write(`${name}.ini`, lines.join('\n') + '\n');
    };
    return new Proc(this, 'statserver', name, writeConfig, opts.webDir ?? path.join(ROOT, 'web', 'wallboard')).start();
  }

  // -- browser --

  /** The shared headless Chromium (Debian's /usr/bin/chromium through playwright-core),
   *  launched on first use and closed by close(). */
  async browser() {
    if (!this.browserP) {
      this.browserP = (async () => {
        if (!fs.existsSync(CHROMIUM)) throw new Failure(`${CHROMIUM} is missing: run \`make test\` (scripts/deps.sh installs chromium)`);
        let pw;
        try {
          pw = await import('playwright-core');
        } catch (e) {
          throw new Failure(`playwright-core is not installed (${e.message}): run \`make test\` or \`npm ci\` in ${ROOT}`);
        }
        return pw.chromium.launch({
          executablePath: CHROMIUM,
          headless: !this.headed,
          // Root (CI) cannot use Chromium's sandbox; /dev/shm is small in containers.
          args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
        });
      })();
    }
    return this.browserP;
  }

  /** A new page in a new browser context (own localStorage), viewport 1280x800 unless
   *  opts.viewport says otherwise. Console errors and page errors are printed as
   *  `page: ...` lines, so a test failure shows them. */
  async page(opts = {}) {
    const b = await this.browser();
    const ctx = await b.newContext({ viewport: opts.viewport ?? { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    const label = opts.label ?? 'page';
    page.on('pageerror', (e) => console.log(`${label}: pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') console.log(`${label}: console.${m.type()}: ${m.text()}`);
    });
    return page;
  }

  // -- protocol clients --

  /** A connected (not registered) TCP client of port. */
  async client(port, opts = {}) {
    const c = new Client(port, opts);
    await c.connect();
    this.clients.add(c);
    return c;
  }

  /** A registered client of clientType with token; throws when refused. */
  async registered(port, clientType, token, name) {
    const c = await this.client(port);
    const ans = await c.register(clientType, token, name);
    if (ans.message !== 'EventAck') throw new Failure(`${clientType} registration on port ${port} refused: ${JSON.stringify(ans)}`);
    c.keepAlive(ans.idleTimeout);
    return c;
  }

  /** A registered AgentApplication client with that agent logged in (mediaList default
   *  {chat: 1}); throws when the login is refused. */
  async agent(port, tenant, agentId, placeId, password, mediaList = { chat: 1 }, token = DESK_TOKEN) {
    const c = await this.registered(port, 'AgentApplication', token, `desk-${tenant}-${agentId}`);
    const ans = await c.request({ message: 'RequestAgentLogin', tenant, agentId, placeId, password, mediaList });
    if (ans.message !== 'EventAck') throw new Failure(`login of ${tenant}/${agentId} on port ${port} refused: ${JSON.stringify(ans)}`);
    return c;
  }

  /** A registered MediaServer client. */
  mediaServer(port, token = MEDIA_TOKEN) {
    return this.registered(port, 'MediaServer', token, 'browser-test-media');
  }

  /** A registered StatClient of a statserver's own port. */
  statClient(port, token = WALLBOARD_TOKEN) {
    return this.registered(port, 'StatClient', token, 'browser-test-stat');
  }
}

/** A TCP JSON-lines client of one server port. Every message received is checked to be a
 *  JSON object whose seq is 1, 2, 3 ... on this connection; messages not asked for yet wait
 *  in a queue until next() or request() take them. */
export class Client {
  constructor(port, opts = {}) {
    this.port = port;
    this.host = opts.host ?? '127.0.0.1';
    // An upper bound that only a failing test waits out: a loaded 2-core machine has
    // taken over 5 s to answer 200 pipelined logins.
    this.timeoutMs = opts.timeoutMs ?? 15000;
    this.sock = null;
    this.pingRefs = new Set();
    this.pinger = null;
    this.buf = '';
    this.queue = [];
    this.seq = 0;
    this.ref = 0;
    this.eof = false;
    this.error = null;
    this.waiters = new Set();
    this.listeners = [];
  }

  /** Calls fn(m) for every message m received from now on for which pred(m) holds (the
   *  message also stays queued for next()). */
  on(pred, fn) {
    this.listeners.push([pred, fn]);
  }

  /** Accepts every EventInvite this agent client receives from now on (RequestAccept;
   *  the answers stay queued). */
  autoAccept() {
    this.on((m) => m.message === 'EventInvite', (m) => {
      this.send({ message: 'RequestAccept', interactionId: m.interactionId, referenceId: ++this.ref });
    });
  }

  /** Connects; resolves once connected. */
  connect() {
    return new Promise((resolve, reject) => {
      const s = net.createConnection({ host: this.host, port: this.port });
      s.setNoDelay(true);
      s.setEncoding('utf8');
      s.once('connect', () => resolve(this));
      // Every error is kept (a reset from a killed server included) and ends the
      // connection; a listener for all of them keeps a late one from crashing the test.
      s.on('error', (e) => {
        if (!this.error) this.error = e;
        this.eof = true;
        this.wake();
        reject(e);
      });
      s.on('data', (d) => this.onData(d));
      s.on('close', () => {
        this.eof = true;
        this.wake();
      });
      this.sock = s;
    });
  }

  onData(d) {
    this.buf += d;
    let i;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      let m;
      try {
        m = JSON.parse(line);
      } catch (e) {
        this.error = new Failure(`port ${this.port} sent a line that is not JSON (${e.message}): ${line.slice(0, 200)}`);
        break;
      }
      if (m === null || typeof m !== 'object' || Array.isArray(m)) {
        this.error = new Failure(`port ${this.port} sent a non-object: ${line.slice(0, 200)}`);
        break;
      }
      if (m.seq !== this.seq + 1) {
        this.error = new Failure(`port ${this.port}: seq ${m.seq} after ${this.seq}: ${line.slice(0, 200)}`);
        break;
      }
      this.seq = m.seq;
      if (m.message === 'EventAck' && this.pingRefs.delete(m.referenceId)) continue;
      this.queue.push(m);
      for (const [pred, fn] of this.listeners) if (pred(m)) fn(m);
    }
    this.wake();
  }

  wake() {
    for (const w of this.waiters) w();
  }

  /** Sends RequestPing every third of idleS seconds, as a real client does, so that a
   *  connection a test leaves quiet while a browser starts is not closed as idle; the
   *  pings' acks are dropped on arrival. */
  keepAlive(idleS) {
    if (!(idleS > 0) || this.pinger) return;
    this.pinger = setInterval(() => {
      if (this.eof) return;
      const rid = ++this.ref;
      this.pingRefs.add(rid);
      this.send({ message: 'RequestPing', referenceId: rid });
    }, (idleS * 1000) / 3);
    this.pinger.unref();
  }

  /** Closes the socket (idempotent). */
  close() {
    if (this.pinger) clearInterval(this.pinger);
    this.pinger = null;
    if (this.sock) this.sock.destroy();
    this.eof = true;
  }

  /** Sends obj as one JSON line. */
  send(obj) {
    this.sock.write(JSON.stringify(obj) + '\n');
  }

  /** Sends bytes or a string as they are. */
  sendRaw(data) {
    this.sock.write(data);
  }

  /** Sends obj with a fresh referenceId; resolves to its answer (EventAck or EventError
   *  with that referenceId); other messages stay queued. */
  request(obj, timeoutMs = this.timeoutMs) {
    const rid = ++this.ref;
    this.send({ ...obj, referenceId: rid });
    return this.next((m) => (m.message === 'EventAck' || m.message === 'EventError') && m.referenceId === rid,
      timeoutMs, `answer to ${obj.message} referenceId ${rid}`);
  }

  /** RequestRegisterClient; resolves to the answer. */
  register(clientType, token, name) {
    return this.request({ message: 'RequestRegisterClient', clientName: name ?? `bt-${clientType}-${process.pid}`, clientType, token });
  }

  /** The next message (queued first, then arriving) for which pred(m) holds (any message
   *  when pred is null); others stay queued. Rejects with Timeout, also when the server
   *  closed the connection. */
  next(pred = null, timeoutMs = this.timeoutMs, what = 'matching message') {
    return new Promise((resolve, reject) => {
      let timer = null;
      const done = (fn, v) => {
        this.waiters.delete(poll);
        clearTimeout(timer);
        fn(v);
      };
      const poll = () => {
        const i = this.queue.findIndex((m) => pred === null || pred(m));
        if (i >= 0) return done(resolve, this.queue.splice(i, 1)[0]);
        if (this.error) return done(reject, this.error);
        if (this.eof) return done(reject, new Timeout(`port ${this.port} closed the connection while waiting for ${what} (queued: ${short(this.queue)})`));
        return undefined;
      };
      timer = setTimeout(() => done(reject, new Timeout(`no ${what} on port ${this.port} within ${timeoutMs} ms (queued: ${short(this.queue)})`)), timeoutMs);
      this.waiters.add(poll);
      poll();
    });
  }

  /** Waits waitMs and returns (and removes) everything queued. */
  async drain(waitMs = 200) {
    await sleep(waitMs);
    const out = this.queue;
    this.queue = [];
    return out;
  }
}

function short(msgs, limit = 5) {
  const t = msgs.slice(0, limit).map((m) => JSON.stringify(m).slice(0, 200));
  if (msgs.length > limit) t.push(`... ${msgs.length - limit} more`);
  return `[${t.join(', ')}]`;
}

/** RequestSubmit on a MediaServer client that must be acknowledged with an interactionId;
 *  resolves to the id. */
export async function submitOk(ms, tenant, media, queue, userData, externalId) {
  const req = { message: 'RequestSubmit', tenant, media, queue };
  if (userData !== undefined) req.userData = userData;
  if (externalId !== undefined) req.externalId = externalId;
  const ans = await ms.request(req);
  if (ans.message !== 'EventAck' || typeof ans.interactionId !== 'string') {
    throw new Failure(`submit to ${tenant}/${queue} refused: ${JSON.stringify(ans)}`);
  }
  return ans.interactionId;
}

/** True for an EventCurrentAgentStatus (of that agent when given). */
export function isStatus(m, agentId) {
  return m.message === 'EventCurrentAgentStatus' && (agentId === undefined || m.agentId === agentId);
}

// ---------------------------------------------------------------------------------------
// Test bridge: serves a page directory and relays WebSocket /ws to a daemon's TCP port, for
// builds whose daemons serve no HTTP yet. Only what the pages need: GET / (index.html),
// GET /assets/NAME, and a RFC 6455 server with text frames, continuation, ping and close.
// ---------------------------------------------------------------------------------------

const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml' };
// The bridge refuses WebSocket messages over the protocol's default line maximum.
const BRIDGE_MAX_MSG = 65536;

function startBridge(webDir, tcpPort) {
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    let file = null;
    if (u.pathname === '/') file = 'index.html';
    else if (/^\/assets\/[A-Za-z0-9_.-]+$/.test(u.pathname) && !u.pathname.includes('..')) file = u.pathname.slice(8);
    if (!file || !fs.existsSync(path.join(webDir, file))) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': MIME[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(fs.readFileSync(path.join(webDir, file)));
  });
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req, sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    const key = req.headers['sec-websocket-key'];
    if (req.url !== '/ws' || !key) {
      sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      return;
    }
    const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    relay(sock, tcpPort());
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: server.address().port,
        close() {
          for (const s of sockets) s.destroy();
          server.close();
        },
      });
    });
  });
}

function wsFrame(opcode, payload) {
  const n = payload.length;
  let head;
  if (n < 126) head = Buffer.from([0x80 | opcode, n]);
  else if (n < 65536) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode;
    head[1] = 126;
    head.writeUInt16BE(n, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

function relay(ws, port) {
  const tcp = net.createConnection({ host: '127.0.0.1', port });
  let inBuf = Buffer.alloc(0);
  let msg = [];
  let msgLen = 0;
  let lineBuf = '';
  let closed = false;
  const closeBoth = (code) => {
    if (closed) return;
    closed = true;
    const p = Buffer.alloc(2);
    p.writeUInt16BE(code);
    if (!ws.destroyed) ws.end(wsFrame(8, p));
    tcp.destroy();
  };
  tcp.setEncoding('utf8');
  tcp.on('data', (d) => {
    lineBuf += d;
    let i;
    while ((i = lineBuf.indexOf('\n')) >= 0) {
      const line = lineBuf.slice(0, i).replace(/\r$/, '');
      lineBuf = lineBuf.slice(i + 1);
      if (!ws.destroyed) ws.write(wsFrame(1, Buffer.from(line, 'utf8')));
    }
  });
  tcp.on('close', () => closeBoth(1001));
  tcp.on('error', () => closeBoth(1011));
  ws.on('error', () => closeBoth(1011));
  ws.on('close', () => closeBoth(1001));
  ws.on('data', (d) => {
    inBuf = Buffer.concat([inBuf, d]);
    for (;;) {
      if (inBuf.length < 2) return;
      const fin = (inBuf[0] & 0x80) !== 0;
      const op = inBuf[0] & 0x0f;
      const masked = (inBuf[1] & 0x80) !== 0;
      let len = inBuf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (inBuf.length < 4) return;
        len = inBuf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (inBuf.length < 10) return;
        const big = inBuf.readBigUInt64BE(2);
        if (big > BigInt(BRIDGE_MAX_MSG)) return closeBoth(1009);
        len = Number(big);
        off = 10;
      }
      if (!masked) return closeBoth(1002);
      if (len > BRIDGE_MAX_MSG) return closeBoth(1009);
      if (inBuf.length < off + 4 + len) return;
      const mask = inBuf.subarray(off, off + 4);
      const payload = Buffer.from(inBuf.subarray(off + 4, off + 4 + len));
      for (let k = 0; k < payload.length; k++) payload[k] ^= mask[k & 3];
      inBuf = inBuf.subarray(off + 4 + len);
      if (op === 8) return closeBoth(1000);
      if (op === 9) {
        ws.write(wsFrame(10, payload));
        continue;
      }
      if (op === 10) continue;
      if (op === 2) return closeBoth(1003);
      if (op === 1 || op === 0) {
        msg.push(payload);
        msgLen += payload.length;
        if (msgLen > BRIDGE_MAX_MSG) return closeBoth(1009);
        if (fin) {
          tcp.write(Buffer.concat([...msg, Buffer.from('\n')]));
          msg = [];
          msgLen = 0;
        }
        continue;
      }
      return closeBoth(1002);
    }
  });
}
