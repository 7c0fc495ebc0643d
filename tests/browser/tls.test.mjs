// The web pages over TLS (issue 12, docs/operations.md "TLS") in headless Chromium: an
// ixnserver and a statserver with tls-cert and tls-key (certificates made here with the
// openssl command), the statserver's link to the ixnserver over TLS too.
//   1. The web desktop loaded from https:// opens its WebSocket as wss:// (the page picks
//      the scheme from its own address), logs an agent in with the keyboard and shows the
//      desk view.
//   2. The wallboard loaded from https:// connects over wss:// and shows the agent's tile,
//      whose status crossed the statserver's TLS link.
//   3. The same port asked for http:// answers 400 in clear, saying to use https://.
// The browser context ignores certificate errors (the test's CA is not in Chromium's
// store): what is checked is that the pages work over TLS, not the trust chain, which
// tests/integration/test_tls.py covers.
import { spawnSync } from 'node:child_process';
import { Env, Failure, STAT_TOKEN, DESK_TOKEN, WALLBOARD_TOKEN, parseArgs, check, waitFor } from './lib.mjs';

const T = 'Resources';
const AGENT = '1001';
const PASSWORD = 'pw-1001';
const RULES = `
rule "Chat3" { chat = chat >= 3; }
assign tenant "Resources" "Chat3";
`;

function openssl(env, args) {
  const r = spawnSync('openssl', args, { cwd: env.dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Failure(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

function makeCerts(env) {
  openssl(env, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Browser test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  openssl(env, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  env.write('server.ext', 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl(env, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
    '-set_serial', '7', '-days', '2', '-out', 'server.pem', '-extfile', 'server.ext']);
}

await Env.run(parseArgs(), { timeout: 150 }, async (env) => {
  makeCerts(env);
  const tls = `tls-cert = ${env.path('server.pem')}\ntls-key = ${env.path('server.key')}`;
  const ixn = await env.startIxn('ixn-a', { agents: { [`${T}/${AGENT}`]: PASSWORD }, extraServer: tls });
  const link = `[ixn:ixn-a]\naddress = 127.0.0.1:${ixn.port}\ntoken = ${STAT_TOKEN}\ntls-ca = ${env.path('ca.pem')}`;
  const stat = await env.startStat('stat-1', { rules: RULES, extraServer: tls, extra: link });

  const browser = await env.browser();
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  const sockets = [];
  ctx.on('page', (p) => p.on('websocket', (ws) => sockets.push(ws.url())));

  // 1. The desktop over https:// and wss://.
  const desk = await ctx.newPage();
  desk.on('pageerror', (e) => console.log(`desk: pageerror: ${e.message}`));
  const deskUrl = `https://127.0.0.1:${ixn.httpPort}/`;
  const resp = await desk.goto(deskUrl);
  check(resp.status() === 200, `the desktop loads from ${deskUrl}`);
  check(await desk.evaluate(() => location.protocol) === 'https:', 'the page is served over https');
  await desk.getByTestId('login-tenant').fill(T);
  await desk.getByTestId('login-agent').fill(AGENT);
  await desk.getByTestId('login-place').fill(`P${AGENT}`);
  await desk.getByTestId('login-token').fill(DESK_TOKEN);
  await desk.getByTestId('login-password').fill(PASSWORD);
  await desk.getByTestId('login-password').press('Enter');
  await desk.getByTestId('desk-view').waitFor({ state: 'visible', timeout: 10000 });
  check(await desk.getByTestId('login-password').isHidden(), 'the agent logs in over wss (the desk view replaces the form)');
  const deskWs = sockets.find((u) => u.includes(`:${ixn.httpPort}/`));
  check(deskWs === `wss://127.0.0.1:${ixn.httpPort}/ws`, `the desktop's WebSocket is wss:// (${deskWs})`);

  // 2. The wallboard over https:// and wss://, with the agent's status through the TLS link.
  const board = await ctx.newPage();
  board.on('pageerror', (e) => console.log(`wallboard: pageerror: ${e.message}`));
  await board.goto(`https://127.0.0.1:${stat.httpPort}/`);
  await board.fill('[data-testid="token"]', WALLBOARD_TOKEN);
  await board.fill('[data-testid="tenants"]', T);
  await board.click('[data-testid="connect"]');
  await waitFor(async () => (await board.locator('[data-testid="conn"]').getAttribute('data-state')) === 'connected',
    'the wallboard connected', 10000);
  const boardWs = sockets.find((u) => u.includes(`:${stat.httpPort}/`));
  check(boardWs === `wss://127.0.0.1:${stat.httpPort}/ws`, `the wallboard's WebSocket is wss:// (${boardWs})`);
  const tile = board.locator(`[data-testid="agent-${T}/${AGENT}"]`);
  await tile.waitFor({ state: 'visible', timeout: 15000 });
  check(await tile.count() === 1, 'the wallboard shows the agent, whose status crossed the TLS link');

  // 3. http:// on the https port.
  const plain = await ctx.newPage();
  const r = await plain.goto(`http://127.0.0.1:${ixn.httpPort}/`);
  check(r.status() === 400 && (await plain.content()).includes('https://'),
    `http:// on the TLS port gets 400 saying to use https:// (status ${r.status()})`);
  await ctx.close();
});
