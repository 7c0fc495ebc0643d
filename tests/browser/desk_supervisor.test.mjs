// The web agent desktop's view of supervisor actions (web/desk, docs/web-desk.md
// "Supervisor actions") in headless Chromium against a real ixnserver and statserver:
// an agent logged in through the page accepts an interaction; a Supervisor (a TCP client
// registered by its [clients] entry) takes it back, forces the agent not ready with a
// reason and logs it out. The page says each in its event list naming the supervisor,
// drops the interaction, turns the ready switch off, and after the forced logout shows
// the login form with the notice in the banner, and does not log in again by itself.
import { Env, DESK_TOKEN, parseArgs, check, waitFor, submitOk, MEDIA_TOKEN } from './lib.mjs';

const T = 'acme';
const AGENT = '1001';
const PASSWORD = 'pw-1001';
const SUP = 'sup-acme';
const SUP_SECRET = 'sup-acme-secret';
const STAT_SECRET = 'stat-secret-sup';
const RULES = `rule "One" { chat = chat >= 1; }\nassign tenant "${T}" "One";\n`;

async function waitText(loc, re, what, timeoutMs = 8000) {
  let last = '';
  try {
    await waitFor(async () => {
      last = (await loc.textContent({ timeout: 500 })) ?? '';
      return re.test(last);
    }, what, timeoutMs);
  } catch (e) {
    check(false, `${what} (last text: ${JSON.stringify(last)})`);
    throw e;
  }
  check(true, what);
}

async function expectAck(p, what) {
  const m = await p;
  check(m.message === 'EventAck', `${what} (${JSON.stringify(m).slice(0, 200)})`);
  return m;
}

await Env.run(parseArgs(), { timeout: 150 }, async (env) => {
  const ixn = await env.startIxn('ixn-a', {
    media: ['chat'],
    queues: { [`${T}/chat-in`]: 'chat' },
    agents: { [`${T}/${AGENT}`]: PASSWORD },
    tokens: { AgentApplication: DESK_TOKEN, MediaServer: MEDIA_TOKEN },
    inviteTimeout: 30,
    extra: ['[clients]',
      `${SUP} = Supervisor, ${T}, ${env.hashPassword(SUP_SECRET)}`,
      `stat-d = ReportingEngine, *, ${env.hashPassword(STAT_SECRET)}`].join('\n'),
  });
  await env.startStat('stat-d', { ixns: [ixn], rules: RULES, ixnToken: STAT_SECRET });
  // The browser first: its start may take long on a loaded machine, and the test's TCP
  // clients do not ping (the server would close them after idle-timeout).
  const page = await env.page({ label: 'desk' });
  const ms = await env.mediaServer(ixn.port);
  const sup = await env.registered(ixn.port, 'Supervisor', SUP_SECRET, SUP);

  await page.goto(ixn.url);
  await page.waitForSelector('body[data-ready=true]');
  await page.getByTestId('login-tenant').fill(T);
  await page.getByTestId('login-agent').fill(AGENT);
  await page.getByTestId('login-place').fill('P1001');
  await page.getByTestId('login-token').fill(DESK_TOKEN);
  await page.getByTestId('login-password').fill(PASSWORD);
  await page.getByTestId('login-media-chat').check();
  await page.getByTestId('login-submit').click();
  await page.getByTestId('desk-view').waitFor({ state: 'visible', timeout: 8000 });
  await page.getByTestId('ready-chat').check();
  await waitFor(async () => (await page.getByTestId('media-row-chat').getAttribute('data-ready')) === 'true', 'chat ready', 8000);
  const events = page.getByTestId('events');

  // ---- an interaction taken back by the supervisor ----
  const x1 = await submitOk(ms, T, 'chat', 'chat-in');
  const invite = page.locator(`[data-testid=invite][data-interaction-id="${x1}"]`);
  await invite.waitFor({ state: 'visible', timeout: 10000 });
  await invite.getByTestId('accept').click();
  const held = page.locator(`[data-testid=held][data-interaction-id="${x1}"]`);
  await held.waitFor({ state: 'visible', timeout: 8000 });
  await expectAck(sup.request({ message: 'RequestRevokeInteraction', interactionId: x1, reason: 'Escalated' }), 'the supervisor revokes x1');
  await held.waitFor({ state: 'detached', timeout: 8000 });
  check(true, 'the page drops the interaction the supervisor took');
  await waitText(events, new RegExp(`Supervisor ${SUP} took ${x1} back to its queue \\(Escalated\\)\\.`),
    'the event list names the supervisor who took it back, with the reason');
  await waitText(events, /taken by a supervisor/, 'the interaction is said to be taken by a supervisor');
  // It is offered again (the head of its queue): the page shows a new invitation.
  await invite.waitFor({ state: 'visible', timeout: 10000 });
  await invite.getByTestId('accept').click();
  await held.waitFor({ state: 'visible', timeout: 8000 });
  await expectAck(ms.request({ message: 'RequestStopProcessing', interactionId: x1 }), 'x1 ends');

  // ---- forced not ready ----
  await expectAck(sup.request({ message: 'RequestForceNotReady', agentId: AGENT, media: 'chat', reason: { code: 7, description: 'Coaching' } }),
    'the supervisor forces the agent not ready');
  await waitText(events, new RegExp(`Supervisor ${SUP} made you not ready for chat \\(7 Coaching\\)\\.`),
    'the event list names the supervisor and the reason of the forced not ready');
  await waitFor(async () => (await page.getByTestId('media-row-chat').getAttribute('data-ready')) === 'false', 'chat not ready', 8000);
  check(!(await page.getByTestId('ready-chat').isChecked()), 'the ready switch is off');

  // ---- forced logout ----
  await expectAck(sup.request({ message: 'RequestForceLogout', agentId: AGENT, reason: 'Shift over' }), 'the supervisor logs the agent out');
  await page.getByTestId('login-view').waitFor({ state: 'visible', timeout: 8000 });
  check(true, 'the page shows the login form after the forced logout');
  await waitText(page.getByTestId('banner'), new RegExp(`Supervisor ${SUP} logged you out \\(Shift over\\)\\.`),
    'the banner says who logged the agent out');
  await page.waitForTimeout(1000);
  check(await page.getByTestId('login-view').isVisible(), 'the page does not log in again by itself');
  const qs = await expectAck(ms.request({ message: 'RequestQueueStatus' }), 'queue status');
  check(qs.queues.every((q) => q.handling === 0 && q.invited === 0), 'nothing is held any more on the server');
});
