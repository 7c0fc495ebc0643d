// Browser test of the wallboard's queue panel, chart and agent reasons (web/wallboard,
// docs/web-wallboard.md), driven in Debian's headless Chromium against a real ixnserver
// and statserver.
//
// Interactions are submitted to two queues, one is abandoned after the service-level
// threshold, two are accepted after it and one within it; an agent is not ready with a
// reason.
// Every number of the queue panel is checked against the same statistic read over a
// StatClient connection of the test (RequestOpenStatistic), the service level's colour
// against the statserver's service-level-target, the tiles' reason and time in state
// against the statserver's status (RequestAgentStatus: each media's `reason` and
// `since`), and the chart against the samples the page took. The page loads nothing but
// the statserver's own address.
import { Env, parseArgs, check, waitFor, sleep, submitOk, WALLBOARD_TOKEN } from './lib.mjs';

const T = 'Resources';
const PW = 'pw-agent';
const QUEUES = { [`${T}/chat-in`]: 'chat', [`${T}/chat-vip`]: 'chat' };
const THRESHOLD_S = 1;
const TARGET = 50;
const RULES = `rule "One" { chat = chat >= 1; }\nassign tenant "${T}" "One";\n`;
const STATS = ['Waiting', 'OldestWait', 'ServiceLevel', 'AverageSpeedOfAnswer', 'Abandoned'];

let statRef = 1000;

/** The value of one statistic of a queue now, over the test's own StatClient connection:
 *  opened, its first value taken, closed again. */
async function statValue(statc, queue, statistic) {
  const statisticId = ++statRef;
  const ack = await statc.request({
    message: 'RequestOpenStatistic', statisticId,
    object: { type: 'Queue', server: 'ixn-a', tenant: T, id: queue },
    statistic, profile: 'day', notify: 'changes',
  });
  check(ack.message === 'EventAck', `RequestOpenStatistic ${queue} ${statistic} acknowledged (${JSON.stringify(ack).slice(0, 200)})`);
  const v = await statc.next((m) => m.message === 'EventStatisticValue' && m.statisticId === statisticId,
    5000, `first value of ${queue} ${statistic}`);
  await statc.request({ message: 'RequestCloseStatistic', statisticId });
  return v.value;
}

function row(page, queue) {
  return page.locator(`[data-testid="queue-ixn-a/${T}/${queue}"]`);
}

async function cell(page, queue, stat) {
  const c = row(page, queue).locator(`[data-testid="q-${stat}"]`);
  return { value: await c.getAttribute('data-value'), text: await c.textContent(), sl: await c.getAttribute('data-sl') };
}

function slClass(v) {
  if (v === null) return 'none';
  if (v >= TARGET) return 'ok';
  return v >= TARGET - 10 ? 'warn' : 'bad';
}

function textOf(stat, v) {
  if (v === null) return '—';
  if (stat === 'ServiceLevel') return `${v.toFixed(1)} %`;
  if (stat === 'OldestWait' || stat === 'AverageSpeedOfAnswer') {
    if (v >= 60) return null; // not reached here
    return `${Math.round(v)} s`;
  }
  return String(v);
}

/** Every statistic of queue on the page equals the StatClient's value (raw, as the
 *  page keeps it in data-value) and is written as the page writes it. */
async function samePanel(page, statc, queue, stats = STATS) {
  for (const stat of stats) {
    const want = await statValue(statc, queue, stat);
    const raw = want === null ? 'null' : String(want);
    await waitFor(async () => (await cell(page, queue, stat)).value === raw,
      `${queue} ${stat} on the page = ${raw}`, 5000);
    const got = await cell(page, queue, stat);
    check(got.text === textOf(stat, want), `${queue} ${stat}: the page shows "${got.text}" for the statserver's ${raw}`);
    if (stat === 'ServiceLevel') {
      check(got.sl === slClass(want), `${queue} ServiceLevel ${raw} is coloured ${got.sl} against target ${TARGET} (want ${slClass(want)})`);
    }
  }
}

async function expectAck(p, what) {
  const m = await p;
  check(m.message === 'EventAck', `${what} (${JSON.stringify(m).slice(0, 200)})`);
  return m;
}

await Env.run(parseArgs(), { timeout: 150 }, async (env) => {
  const ixn = await env.startIxn('ixn-a', {
    media: ['chat'], queues: QUEUES, agents: { [`${T}/2001`]: PW, [`${T}/2002`]: PW },
  });
  const stat = await env.startStat('stat-q', {
    ixns: [ixn],
    rules: RULES,
    extraServer: `service-level-threshold = ${THRESHOLD_S}\nservice-level-target = ${TARGET}`,
  });
  const statc = await env.statClient(stat.port);
  const ms = await env.mediaServer(ixn.port);
  const a1 = await env.agent(ixn.port, T, '2001', 'P2001', PW, { chat: 1 });
  const a2 = await env.agent(ixn.port, T, '2002', 'P2002', PW, { chat: 1 });
  await expectAck(a1.request({ message: 'RequestNotReadyForMedia', media: 'chat', reason: { code: 3, description: 'Lunch' } }),
    '2001 goes not ready (Lunch)');
  const tCoaching = Date.now();
  await expectAck(a2.request({ message: 'RequestNotReadyForMedia', media: 'chat', reason: { code: 7, description: 'Coaching' } }),
    '2002 goes not ready (Coaching)');

  // The statserver's status carries the reason and since of each media.
  await sleep(300);
  await expectAck(statc.request({ message: 'RequestAgentStatus', tenant: T, agentId: '2002' }), 'RequestAgentStatus 2002');
  const st2 = await statc.next((m) => m.message === 'EventCurrentAgentStatus' && m.agentId === '2002');
  const chat2 = st2.media && st2.media.chat;
  check(chat2 && chat2.reason && chat2.reason.code === 7 && chat2.reason.description === 'Coaching',
    `the status of 2002 carries its reason (${JSON.stringify(chat2)})`);
  check(chat2 && Number.isInteger(chat2.since) && Math.abs(chat2.since - tCoaching) < 1000,
    `the status of 2002 carries since, the time it went not ready (${chat2 && chat2.since}, asked at ${tCoaching})`);

  const t0 = Date.now();
  const i1 = await submitOk(ms, T, 'chat', 'chat-in');
  const i2 = await submitOk(ms, T, 'chat', 'chat-in');
  await submitOk(ms, T, 'chat', 'chat-vip');
  await sleep(300);

  // ---- the page ----
  const page = await env.page({ label: 'wallboard' });
  const foreign = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(stat.url) && !r.url().startsWith(`ws://127.0.0.1:${stat.httpPort}/`) && !r.url().startsWith('data:')) foreign.push(r.url());
  });
  await page.goto(`${stat.url}?tenants=${T}&sample=1#token=${WALLBOARD_TOKEN}`);
  await waitFor(async () => (await page.locator('[data-testid="conn"]').getAttribute('data-state')) === 'connected', 'connected', 8000);
  check(true, 'the wallboard connects with the token of the address');
  await waitFor(async () => (await row(page, 'chat-in').count()) === 1 && (await row(page, 'chat-vip').count()) === 1,
    'both queues in the panel', 8000);
  check(true, 'the queue panel lists the two queues the statserver knows');
  check((await page.locator('[data-testid="sl-target"]').textContent()) === String(TARGET),
    `the panel states the statserver's service-level-target ${TARGET}`);
  await samePanel(page, statc, 'chat-in', ['Waiting', 'Abandoned', 'ServiceLevel', 'AverageSpeedOfAnswer']);
  await samePanel(page, statc, 'chat-vip', ['Waiting']);
  check((await cell(page, 'chat-in', 'Waiting')).value === '2', 'chat-in shows 2 waiting');
  // OldestWait grows while they wait: pushed by the statserver, not frozen on the page.
  const ow1 = Number((await cell(page, 'chat-in', 'OldestWait')).value);
  await waitFor(async () => Number((await cell(page, 'chat-in', 'OldestWait')).value) >= ow1 + 0.5,
    'OldestWait of chat-in grows', 5000);
  check(true, `OldestWait of chat-in grows on the page (from ${ow1})`);

  // Tiles: reason and time in state from the status.
  const tile2 = page.locator(`[data-testid="agent-${T}/2002"]`);
  await waitFor(async () => (await tile2.locator('[data-testid="reason"]').textContent()) === 'Coaching', 'reason of 2002', 5000);
  check(await tile2.locator('[data-testid="reason"]').isVisible(), 'tile 2002 shows its reason "Coaching"');
  check((await tile2.locator('[data-testid="since"]').getAttribute('data-since')) === String(chat2.since),
    `tile 2002 counts from the statserver's since (${chat2.since})`);
  const s1 = await tile2.locator('[data-testid="since"]').textContent();
  await sleep(2100);
  const s2 = await tile2.locator('[data-testid="since"]').textContent();
  const secs = (t) => t.split(':').reduce((acc, x) => acc * 60 + Number(x), 0);
  check(/^\d+:\d\d$/.test(s1) && /^\d+:\d\d$/.test(s2) && secs(s2) - secs(s1) >= 2,
    `the time in state counts up live (${s1} then ${s2})`);
  check(Math.abs(secs(s2) - (Date.now() - chat2.since) / 1000) <= 2, `the time in state is the time since the status's since (${s2})`);

  // ---- abandon after the threshold, then two answers after known waits ----
  await sleep(Math.max(0, t0 + (THRESHOLD_S + 0.3) * 1000 - Date.now()));
  await expectAck(ms.request({ message: 'RequestStopProcessing', interactionId: i2 }), `the media server stops ${i2} after the threshold`);
  await expectAck(a1.request({ message: 'RequestCancelNotReadyForMedia', media: 'chat' }), '2001 ready');
  const tile1 = page.locator(`[data-testid="agent-${T}/2001"]`);
  const inv1 = await a1.next((m) => m.message === 'EventInvite', 5000, 'first invite');
  await expectAck(a1.request({ message: 'RequestAccept', interactionId: inv1.interactionId }), `2001 accepts ${inv1.interactionId}`);
  await waitFor(async () => (await tile1.locator('[data-testid="reason"]').isHidden()), 'no reason on 2001 once ready', 5000);
  check(true, 'tile 2001 shows no reason once ready');
  await expectAck(a1.request({ message: 'RequestStopProcessing', interactionId: inv1.interactionId }), `2001 ends ${inv1.interactionId}`);
  const inv2 = await a1.next((m) => m.message === 'EventInvite', 8000, 'second invite');
  await expectAck(a1.request({ message: 'RequestAccept', interactionId: inv2.interactionId }), `2001 accepts ${inv2.interactionId}`);
  check([inv1.interactionId, inv2.interactionId].includes(i1), `${i1} was answered`);
  // One answered within the threshold on chat-vip: its service level is 1 of 2, 50 %.
  await expectAck(a2.request({ message: 'RequestCancelNotReadyForMedia', media: 'chat' }), '2002 ready');
  const i4 = await submitOk(ms, T, 'chat', 'chat-vip');
  const inv4 = await a2.next((m) => m.message === 'EventInvite', 5000, 'invite of 2002');
  check(inv4.interactionId === i4, `2002 is invited to ${i4} at once`);
  await expectAck(a2.request({ message: 'RequestAccept', interactionId: i4 }), `2002 accepts ${i4} within the threshold`);
  await sleep(300);

  // Nobody waits now: every number is settled, and the page must show the statserver's.
  await samePanel(page, statc, 'chat-in');
  await samePanel(page, statc, 'chat-vip');
  check((await cell(page, 'chat-in', 'Abandoned')).value === '1', 'chat-in: one abandoned');
  check((await cell(page, 'chat-in', 'Waiting')).value === '0', 'chat-in: none waiting');
  check((await cell(page, 'chat-vip', 'ServiceLevel')).sl === 'ok', 'chat-vip at 50 % meets the target of 50: coloured ok');
  const sl = await statValue(statc, 'chat-in', 'ServiceLevel');
  check(sl !== null && sl < TARGET, `chat-in's service level ${sl} is under the target (answered after ${THRESHOLD_S} s, one abandoned after it)`);

  // ---- the chart ----
  const chart = page.locator('[data-testid="chart"]');
  await waitFor(async () => Number(await chart.getAttribute('data-samples')) >= 3, 'three chart samples', 8000);
  const points = await page.locator('[data-testid="chart-waiting"]').getAttribute('points');
  check(points.trim().split(/\s+/).length >= 3, `the chart draws the waiting line (${points.slice(0, 60)}…)`);
  const slPoints = await page.locator('[data-testid="chart-sl"]').getAttribute('points');
  check(slPoints.trim().split(/\s+/).length >= 1, 'the chart draws the service-level line');
  // A sample now (the page's own period may not have come since the last change).
  const samples = await page.evaluate((k) => {
    window.wallboard.sample();
    return window.wallboard.queues.get(k).samples;
  }, `ixn-a/${T}/chat-in`);
  const last = samples[samples.length - 1];
  check(last.waiting === 0 && last.sl === sl, `the newest sample is the queue's numbers now (${JSON.stringify(last)})`);
  check(samples.some((p) => p.waiting === 2), 'an earlier sample holds the 2 waiting of the start');
  await page.selectOption('[data-testid="chart-queue"]', `ixn-a/${T}/chat-vip`);
  check((await row(page, 'chat-vip').getAttribute('aria-selected')) === 'true', 'choosing a queue selects its row for the chart');

  check(foreign.length === 0, `the page loads nothing from other addresses (${foreign.slice(0, 3).join(', ')})`);
});
