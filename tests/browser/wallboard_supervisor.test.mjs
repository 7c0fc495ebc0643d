// Browser test of the wallboard's supervisor actions (web/wallboard, docs/web-wallboard.md
// "Supervisor actions"), driven in Debian's headless Chromium against a real ixnserver
// and statserver. The page is opened with supervisor credentials in its address
// fragment; it registers as a Supervisor on the ixnserver's /ws (whose allowed-origins
// lists the statserver's page). On an agent's tile it lists what the agent holds, and
// its buttons force the agent not ready, reassign an interaction to another agent, revoke
// one, and force a logout: each reaches the agents' desktops (the test's TCP clients) as
// an EventSupervisorAction naming the supervisor, and the tiles follow. A supervisor of
// another tenant is refused, and the panel says so in words.
import { Env, parseArgs, check, waitFor, submitOk, WALLBOARD_TOKEN, DESK_TOKEN, MEDIA_TOKEN } from './lib.mjs';

const T = 'acme';
const PW = 'pw-agent';
const SUP = 'sup-acme';
const SUP_SECRET = 'sup-acme-secret';
const STAT_SECRET = 'stat-sup-secret';
const RULES = `rule "One" { chat = chat >= 1; }\nassign tenant "${T}" "One";\nassign tenant "globex" "One";\n`;

function isSA(action, ixnId) {
  return (m) => m.message === 'EventSupervisorAction' && m.action === action &&
    (ixnId === undefined || m.interactionId === ixnId);
}

async function expectAck(p, what) {
  const m = await p;
  check(m.message === 'EventAck', `${what} (${JSON.stringify(m).slice(0, 200)})`);
  return m;
}

async function sa(desk, action, who, ixnId) {
  const m = await desk.next(isSA(action, ixnId), 8000, `EventSupervisorAction ${action} on ${who}`);
  check(m.supervisor === SUP, `${action} reaches ${who}'s desktop naming the supervisor ${SUP}`);
  return m;
}

await Env.run(parseArgs(), { timeout: 150 }, async (env) => {
  const ixnOpts = {
    media: ['chat'],
    queues: { [`${T}/chat-in`]: 'chat', 'globex/chat-in': 'chat' },
    agents: { [`${T}/1001`]: PW, [`${T}/1002`]: PW, 'globex/2001': PW },
    tokens: { AgentApplication: DESK_TOKEN, MediaServer: MEDIA_TOKEN },
    extra: ['[clients]',
      `${SUP} = Supervisor, ${T}, ${env.hashPassword(SUP_SECRET)}`,
      `sup-globex = Supervisor, globex, ${env.hashPassword(SUP_SECRET)}`,
      `stat-sup = ReportingEngine, *, ${env.hashPassword(STAT_SECRET)}`].join('\n'),
  };
  const ixn = await env.startIxn('ixn-a', ixnOpts);
  const stat = await env.startStat('stat-sup', { ixns: [ixn], rules: RULES, ixnToken: STAT_SECRET });
  // The page of the statserver connects to the ixnserver: its origin must be allowed there.
  ixnOpts.extraServer = `allowed-origins = http://127.0.0.1:${stat.httpPort}`;
  await ixn.restart();
  // The browser first: its start may take long on a loaded machine, and the test's TCP
  // clients do not ping (the server would close them after idle-timeout).
  const page = await env.page({ label: 'wallboard' });
  const ms = await env.mediaServer(ixn.port);
  const a1 = await env.agent(ixn.port, T, '1001', 'P1001', PW, { chat: 1 });
  const a2 = await env.agent(ixn.port, T, '1002', 'P1002', PW, { chat: 1 });

  const ws = `ws://127.0.0.1:${ixn.httpPort}/ws`;
  await page.goto(`${stat.url}?tenants=${T}#token=${WALLBOARD_TOKEN}&sup=${SUP}&supSecret=${SUP_SECRET}&ixn=${encodeURIComponent(ws)}`);
  await waitFor(async () => (await page.locator('[data-testid="conn"]').getAttribute('data-state')) === 'connected', 'connected', 8000);
  const supState = page.locator('[data-testid="sup-state"]');
  await waitFor(async () => (await supState.getAttribute('data-state')) === 'on', 'supervisor on', 8000);
  check((await supState.textContent()).includes('ixn-a'), 'the page registered as a Supervisor on ixn-a');
  check(!page.url().includes(SUP_SECRET), 'the secret is taken out of the address bar');
  const tile = (id) => page.locator(`[data-testid="agent-${T}/${id}"]`);
  await waitFor(async () => (await tile('1001').getAttribute('data-state')) === 'ready', 'tile 1001 ready', 8000);

  const x1 = await submitOk(ms, T, 'chat', 'chat-in');
  const inv = await a1.next((m) => m.message === 'EventInvite', 8000, 'an invite on 1001');
  check(inv.interactionId === x1, `x1 is offered to 1001 (${inv.interactionId})`);
  await expectAck(a1.request({ message: 'RequestAccept', interactionId: x1 }), '1001 accepts x1');

  // ---- the panel of 1001: what it holds, force not ready ----
  const panel = page.locator('[data-testid="sup-panel"]');
  const result = page.locator('[data-testid="sup-result"]');
  await tile('1001').click();
  await waitFor(async () => panel.isVisible(), 'the panel opens', 5000);
  check((await page.locator('[data-testid="sup-agent"]').textContent()) === `${T} / 1001`, 'the panel names the agent');
  const item = page.locator(`[data-testid="sup-ixn-${x1}"]`);
  await waitFor(async () => (await item.count()) === 1, 'x1 in the panel', 5000);
  check((await item.textContent()).includes('Handling'), 'the panel lists x1 handled by 1001');
  await page.locator('[data-testid="sup-media"]').selectOption('chat');
  await page.locator('[data-testid="sup-code"]').fill('7');
  await page.locator('[data-testid="sup-reason"]').fill('Coaching');
  await page.locator('[data-testid="sup-notready"]').click();
  const fnr = await sa(a1, 'ForceNotReady', '1001');
  check(fnr.media === 'chat' && fnr.reason && fnr.reason.code === 7 && fnr.reason.description === 'Coaching',
    'force not ready carries the media and the reason typed');
  await waitFor(async () => (await result.textContent()).includes('done'), 'the panel says done', 5000);
  await waitFor(async () => (await tile('1001').getAttribute('data-state')) === 'notready', 'tile 1001 not ready', 8000);
  check(true, 'the tile of 1001 shows not ready');

  // ---- reassign x1 to 1002 ----
  await item.locator('[data-testid="sup-reassign-to"]').fill('1002');
  await item.locator('[data-testid="sup-reassign"]').click();
  const removed = await a1.next((m) => m.message === 'EventPartyRemoved' && m.interactionId === x1, 8000, '1001 loses x1');
  check(removed.reason === 'Supervisor', '1001 loses x1 with reason Supervisor');
  await sa(a1, 'Reassign', '1001', x1);
  await a2.next((m) => m.message === 'EventInvite' && m.interactionId === x1, 8000, 'x1 offered to 1002');
  await sa(a2, 'Reassign', '1002', x1);
  await waitFor(async () => (await result.textContent()).includes('done'), 'the panel says the reassignment is done', 5000);
  await waitFor(async () => (await item.count()) === 0, 'x1 leaves 1001\'s panel', 5000);
  check(true, 'the panel of 1001 no longer lists x1');

  // ---- revoke x1 from 1002 ----
  await page.locator('[data-testid="sup-close"]').click();
  await tile('1002').click();
  const item2 = page.locator(`[data-testid="sup-ixn-${x1}"]`);
  await waitFor(async () => (await item2.count()) === 1, 'x1 in 1002\'s panel', 5000);
  check((await item2.textContent()).includes('Invited'), 'the panel lists x1 invited to 1002');
  await item2.locator('[data-testid="sup-revoke"]').click();
  const revoked = await a2.next((m) => m.message === 'EventRevoked' && m.interactionId === x1, 8000, '1002 loses x1');
  check(revoked.reason === 'Supervisor', 'the revoke reaches 1002 as EventRevoked reason Supervisor');
  await sa(a2, 'RevokeInteraction', '1002', x1);

  // ---- force logout of 1001 ----
  await page.locator('[data-testid="sup-close"]').click();
  await tile('1001').click();
  await waitFor(async () => (await page.locator('[data-testid="sup-agent"]').textContent()) === `${T} / 1001`, 'the panel of 1001', 5000);
  await page.locator('[data-testid="sup-logout-reason"]').fill('Shift over');
  await page.locator('[data-testid="sup-logout"]').click();
  const lo = await sa(a1, 'ForceLogout', '1001');
  check(lo.reason === 'Shift over', 'force logout carries the reason typed');
  await waitFor(async () => (await tile('1001').getAttribute('data-state')) === 'loggedout', 'tile 1001 logged out', 8000);
  check(true, 'the tile of 1001 shows logged out');

  // ---- a supervisor of another tenant is refused, in words ----
  await page.locator('[data-testid="sup-close"]').click();
  await page.locator('[data-testid="sup-name"]').fill('sup-globex');
  await page.locator('[data-testid="sup-secret"]').fill(SUP_SECRET);
  await page.locator('[data-testid="sup-connect"]').click();
  await waitFor(async () => (await supState.getAttribute('data-state')) === 'on', 'supervisor of globex on', 8000);
  await tile('1002').click();
  await page.locator('[data-testid="sup-logout"]').click();
  await waitFor(async () => (await result.getAttribute('data-kind')) === 'error', 'the panel shows a refusal', 5000);
  check((await result.textContent()).includes('tenant'), `the refusal names the tenant (${await result.textContent()})`);
  await expectAck(a2.request({ message: 'RequestPing' }), '1002 is still logged in');
});
