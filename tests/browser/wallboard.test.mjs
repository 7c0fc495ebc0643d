// Browser test of the supervisor wallboard served by statserver (web/wallboard,
// docs/web-wallboard.md), driven in Debian's headless Chromium.
//
// Two interaction servers with queues, a statserver linked to both, agents logged in and
// handling interactions through TCP clients. Checks: the board shows every agent with its
// per-media counts and totals; an agent going not ready with a reason changes its tile;
// sorting and filtering; an agent above its rule (current > max on a ready media, after a
// rules reload) is marked over capacity, and no longer once the rules are back; the token
// is remembered; a wrong token is shown in words; a killed interaction server shows as
// disconnected and its agents as logged out. Then the scale part: SCALE_AGENTS more agents
// (default 2,000) log in, the board subscribes to all of them, a burst of changes lands
// within a bounded time, and each status re-renders only its own tile. Takes
// docs/screenshot-wallboard.png (1280x800).
//
// Skills (routing.md section 1): a tile shows the agent's skills when its status carries
// `skills` {name: level}, sorted and compact ("billing 9 · spanish 5"), and nothing when
// the field is absent; the agent filter matches skill names too. A second page whose
// WebSocket route sets `skills` in the statuses of one agent tests that whatever the
// statserver sends. The agents have `[skills]` lines in the interaction servers'
// configuration, the statserver's statuses carry them (always: `{}` when none), and the
// board is checked against them end to end, and after a SIGHUP reload of ixn-a changes
// one agent's skills.
import fs from 'node:fs';
import path from 'node:path';
import { Env, parseArgs, check, waitFor, sleep, submitOk, ROOT, WALLBOARD_TOKEN, screenshot } from './lib.mjs';

const T = 'Resources';
const PW = 'pw-agent';
const SCALE_AGENTS = Number(process.env.CC_WALLBOARD_AGENTS || 2000);
const RULES = `
rule "Blended" {
    voice = any >= 1;
    chat  = chat >= 3 or voice >= 1 or (chat >= 2 and email >= 1);
    email = email >= 2 or voice >= 1 or (email >= 1 and chat >= 1);
}
assign tenant "Resources" "Blended";
`;
const QUEUES = { 'Resources/chat-in': 'chat', 'Resources/email-in': 'email', 'Resources/voice-in': 'voice' };
// [skills] of the interaction servers: agent id -> value (an empty value: no skills; an
// agent without a line has none either). SKILLS_RELOADED replaces them on a reload.
const SKILLS = { 1001: 'spanish:5, billing:9', 1002: 'sales:7', 1003: '', 1006: 'sales:2, french:8, billing:3' };
const SKILLS_RELOADED = { ...SKILLS, 1002: 'sales:8, french:4' };
const skillLines = (m) => ['[skills]', ...Object.entries(m).map(([id, v]) => `${T}/${id} = ${v}`)].join('\n');

// The board of the screenshot: agent id -> [server, mediaList, extra setup].
const BOARD = [];
for (let i = 1; i <= 24; i++) {
  const id = String(1000 + i);
  const media = i % 4 === 0 ? { voice: 1, chat: 1 } : i % 3 === 0 ? { email: 1, chat: 1 } : { chat: 1, email: 1 };
  BOARD.push({ id, server: i > 18 ? 'ixn-b' : 'ixn-a', media });
}

// Sends SIGHUP to an ixnserver and waits for it to log event=config_reloaded (a failed
// check when it does not within RELOAD_WAIT_MS).
const RELOAD_WAIT_MS = 5000;
async function reloaded(proc) {
  const before = fs.statSync(proc.stderrPath).size;
  await proc.kill('SIGHUP');
  const since = () => fs.readFileSync(proc.stderrPath, 'utf8').slice(before);
  const end = Date.now() + RELOAD_WAIT_MS;
  while (Date.now() < end) {
    if (since().includes('event=config_reloaded')) return true;
    await sleep(50);
  }
  check(false, `${proc.name} logged event=config_reloaded within ${RELOAD_WAIT_MS} ms of SIGHUP `
    + `(${JSON.stringify(since().trim().slice(-200))})`);
  return false;
}

function tile(page, id) {
  return page.locator(`[data-testid="agent-${T}/${id}"]`);
}

async function tileState(page, id) {
  return tile(page, id).getAttribute('data-state', { timeout: 2000 });
}

async function waitTileState(page, id, state, what, timeoutMs = 8000) {
  await waitFor(async () => (await tileState(page, id)) === state, `${what} (tile ${id} ${state})`, timeoutMs);
  check(true, what);
}

async function text(page, testid) {
  return page.locator(`[data-testid="${testid}"]`).first().textContent({ timeout: 2000 });
}

const args = parseArgs();
await Env.run(args, { timeout: 280 }, async (env) => {
  const agentsCfg = {};
  for (const b of BOARD) agentsCfg[`${T}/${b.id}`] = PW;
  for (let i = 0; i < SCALE_AGENTS; i++) agentsCfg[`${T}/${20000 + i}`] = PW;
  // Thousands of idle agent connections: no idle timeout, so the test need not ping them.
  const common = { agents: agentsCfg, queues: QUEUES, extraServer: 'idle-timeout = 0', extra: skillLines(SKILLS) };
  const ixnA = await env.startIxn('ixn-a', common);
  const ixnB = await env.startIxn('ixn-b', common);
  const stat = await env.startStat('stat-1', { ixns: [ixnA, ixnB], rules: RULES });
  check(!stat.fake, `the statserver serves the wallboard and /ws itself (http=${stat.httpPort} in its port file)`);
  const ports = { 'ixn-a': ixnA.port, 'ixn-b': ixnB.port };

  const desks = {};
  for (const b of BOARD) {
    desks[b.id] = await env.agent(ports[b.server], T, b.id, `P${b.id}`, PW, b.media);
    desks[b.id].autoAccept();
  }

  // A realistic board: interactions routed and accepted, some agents not ready, one on
  // do-not-disturb, two logged out again.
  const statc = await env.statClient(stat.port);
  await waitFor(async () => {
    const ans = await statc.request({ message: 'RequestServerList' });
    return ans.servers && ans.servers.every((s) => s.connected) && ans.servers.reduce((n, s) => n + s.agents, 0) === BOARD.length;
  }, 'both interaction servers connected to the statserver with every agent', 10000);
  const msA = await env.mediaServer(ixnA.port);
  const msB = await env.mediaServer(ixnB.port);
  // An ixnserver built without interactions (RequestSubmit unknown) still gets a board, with
  // nothing held; the test says so.
  // Two calls first: an agent on a call is full (voice blocks every media in the rules).
  const probe = await msA.request({ message: 'RequestSubmit', tenant: T, media: 'voice', queue: 'voice-in', userData: { caller: '+33 1 23 45 67 89' } });
  const withIxns = !(probe.message === 'EventError' && probe.errorCode === 2);
  if (withIxns) {
    check(probe.message === 'EventAck', 'the media server submits a call');
    await submitOk(msA, T, 'voice', 'voice-in', { caller: '+44 20 7946 0000' });
    await sleep(500);
    for (let i = 0; i < 14; i++) await submitOk(msA, T, 'chat', 'chat-in', { customer: `C${i}` });
    for (let i = 0; i < 3; i++) await submitOk(msA, T, 'email', 'email-in', { subject: `Order ${i}` });
    for (let i = 0; i < 4; i++) await submitOk(msB, T, 'chat', 'chat-in', { customer: `B${i}` });
  } else {
    console.log('note: this ixnserver knows no RequestSubmit: the board holds no interactions');
  }
  await desks['1004'].request({ message: 'RequestNotReadyForMedia', media: 'voice', reason: { code: 1, description: 'Training' } });
  await desks['1007'].request({ message: 'RequestNotReadyForMedia', media: 'chat', reason: { code: 2, description: 'Break' } });
  await desks['1007'].request({ message: 'RequestNotReadyForMedia', media: 'email', reason: { code: 2, description: 'Break' } });
  await desks['1011'].request({ message: 'RequestDoNotDisturbOn' });
  await sleep(1500);

  // ---- the page ----
  const page = await env.page({ label: 'wallboard' });
  await page.goto(stat.url);
  check(await page.locator('[data-testid="token"]').isVisible(), 'the wallboard asks for the token');
  await page.fill('[data-testid="token"]', WALLBOARD_TOKEN);
  await page.fill('[data-testid="tenants"]', T);
  await page.click('[data-testid="connect"]');
  await waitFor(async () => (await page.locator('[data-testid="conn"]').getAttribute('data-state')) === 'connected', 'connected state', 8000);
  check(true, 'the wallboard registers as StatClient and shows connected');
  await waitFor(async () => (await page.locator('.tile').count()) === BOARD.length, `${BOARD.length} tiles`, 8000);
  check(true, `every agent of the tenant has a tile (${BOARD.length})`);

  // Per-media counts agree with the statserver's own answer.
  const st = await statc.request({ message: 'RequestAgentStatus', tenant: T, agentId: '1001' });
  check(st.message === 'EventAck', 'RequestAgentStatus 1001 acknowledged');
  const status = await statc.next((m) => m.message === 'EventCurrentAgentStatus' && m.agentId === '1001');
  const chatRow = tile(page, '1001').locator('[data-testid="media-chat"]');
  await waitFor(async () => (await chatRow.getAttribute('data-current')) === String(status.media.chat.current), 'chat count of 1001', 5000);
  check((await chatRow.locator('[data-testid="count"]').textContent()) === `${status.media.chat.current}/${status.media.chat.max}`,
    `tile 1001 shows chat ${status.media.chat.current}/${status.media.chat.max} like the statserver`);
  check(await tileState(page, '1007') === 'notready', 'agent 1007 (both media not ready) shows not ready');

  // Skills on the tiles, end to end when the statserver's statuses carry them.
  const skillsOf = (id) => tile(page, id).locator('[data-testid="skills"]');
  check(status.skills !== null && typeof status.skills === 'object' && !Array.isArray(status.skills),
    `the statserver's status of 1001 carries a skills object (${JSON.stringify(status.skills)})`);
  check(JSON.stringify(status.skills, Object.keys(status.skills || {}).sort()) === '{"billing":9,"spanish":5}',
    `the statserver's status of 1001 carries its configured skills (${JSON.stringify(status.skills)})`);
  for (const [id, want] of [['1001', 'billing 9 · spanish 5'], ['1006', 'billing 3 · french 8 · sales 2'], ['1003', 'no skills'], ['1004', 'no skills']]) {
    await waitFor(async () => (await skillsOf(id).textContent()) === want, `skills of ${id}`, 5000);
    check(await skillsOf(id).isVisible(), `tile ${id} shows its skills "${want}"`);
  }
  check((await skillsOf('1001').getAttribute('title')) === 'Skills: billing 9 · spanish 5', 'the skills line\'s title has the whole list');
  check(await tileState(page, '1011') === 'dnd', 'agent 1011 on do-not-disturb shows DND');
  const heldWant = withIxns ? 18 : 0;
  await waitFor(async () => Number(await text(page, 'total-chat-held')) === heldWant, `${heldWant} chats held`, 10000);
  check(true, `totals: all ${heldWant} chats routed, accepted and held`);
  const states = () => page.locator('.tile').evaluateAll((ts) => ts.map((t) => t.dataset.state));
  if (withIxns) {
    await waitFor(async () => (await states()).includes('full'), 'a full tile', 5000);
    check(true, 'an agent on a call is full (ready, nothing available)');
  }
  check((await states()).includes('ready'), 'some agent is ready with capacity left');

  // Servers with connected state.
  await waitFor(async () => (await page.locator('[data-testid="server-ixn-a"]').getAttribute('data-state')) === 'connected' &&
    (await page.locator('[data-testid="server-ixn-b"]').getAttribute('data-state')) === 'connected', 'servers connected', 5000);
  check(true, 'both interaction servers show connected');

  // Not ready with a reason shows on the tile at once.
  check(await tileState(page, '1002') !== 'notready', 'agent 1002 starts ready');
  const renders0 = await page.evaluate(() => window.wallboard.stats.tileRenders);
  await desks['1002'].request({ message: 'RequestNotReadyForMedia', media: 'chat', reason: { code: 3, description: 'Lunch' } });
  await desks['1002'].request({ message: 'RequestNotReadyForMedia', media: 'email', reason: { code: 3, description: 'Lunch' } });
  await waitTileState(page, '1002', 'notready', 'agent 1002 not ready (reason Lunch) turns its tile to not ready');
  check(await tile(page, '1002').locator('[data-testid="media-chat"]').getAttribute('data-state') === 'notready', 'its chat row shows not ready');
  const renders1 = await page.evaluate(() => window.wallboard.stats.tileRenders);
  check(renders1 - renders0 <= 4, `two statuses re-rendered ${renders1 - renders0} tile(s), not the board`);
  await desks['1003'].request({ message: 'RequestNotReadyForMedia', media: 'chat' });
  await desks['1003'].request({ message: 'RequestNotReadyForMedia', media: 'email' });
  await desks['1003'].request({ message: 'RequestCancelNotReadyForMedia', media: 'email' });
  await waitFor(async () => (await tile(page, '1003').locator('[data-testid="media-chat"]').getAttribute('data-state')) === 'notready', '1003 chat not ready', 5000);
  check(true, 'a change of one media shows on that media row');

  // Logged-out agents stay on the board, grey.
  const bye = desks['1023'];
  await bye.request({ message: 'RequestNotReadyForMedia', media: 'chat' });
  await sleep(300);
  const out = await bye.request({ message: 'RequestAgentLogout' });
  if (out.message === 'EventAck') {
    await waitTileState(page, '1023', 'loggedout', 'a logged-out agent shows logged out');
    // Its last status carries skills {} (loggedIn:false): a logged-out tile shows no skills line.
    check(await skillsOf('1023').isHidden(), 'a logged-out agent\'s tile shows no skills line');
  }

  // Sorting and filtering.
  await page.selectOption('[data-testid="sort"]', 'load');
  await sleep(300);
  const firstLoaded = await page.evaluate(() => window.wallboard.agents.get(window.wallboard.order()[0]).agentId);
  const loads = await page.evaluate(() => [...window.wallboard.agents.values()].map((a) => [a.agentId, a.load]));
  const maxLoad = Math.max(...loads.map((l) => l[1]));
  check(loads.find((l) => l[0] === firstLoaded)[1] === maxLoad, `sort "most loaded" puts a most loaded agent first (${firstLoaded})`);
  await page.selectOption('[data-testid="sort"]', 'state');
  await sleep(300);
  const byState = await page.evaluate(() => window.wallboard.order().map((k) => window.wallboard.agents.get(k).state));
  const rank = { ready: 0, full: 1, notready: 2, dnd: 3, loggedout: 4 };
  check(byState.every((x, i) => i === 0 || rank[byState[i - 1]] <= rank[x]), `sort "state" orders ready, full, not ready, DND, logged out (${[...new Set(byState)].join(', ')})`);
  await page.selectOption('[data-testid="sort"]', 'id');
  await page.fill('[data-testid="filter-agent"]', '101');
  const shown = async () => [await page.locator('.tile').count(), Number(await text(page, 'count-shown'))];
  await waitFor(async () => (await shown()).every((n) => n === 10), 'filter 101 leaves 1010..1019', 3000);
  check(true, 'the agent filter "101" shows the 10 agents 1010..1019');
  await page.fill('[data-testid="filter-agent"]', '');
  await page.selectOption('[data-testid="filter-media"]', 'voice');
  const voiceAgents = BOARD.filter((b) => 'voice' in b.media).length;
  await waitFor(async () => (await shown()).every((n) => n === voiceAgents), 'media filter voice', 3000);
  check(true, `the media filter "voice" shows the ${voiceAgents} agents with voice`);
  await page.selectOption('[data-testid="filter-media"]', '');
  await waitFor(async () => (await shown()).every((n) => n === BOARD.length), 'filter cleared', 3000);
  await page.fill('[data-testid="filter-agent"]', 'french');
  await waitFor(async () => (await shown()).every((n) => n === 1), 'filter french', 3000);
  check(await tile(page, '1006').isVisible(), 'the agent filter matches skill names: "french" shows 1006 alone');
  await page.fill('[data-testid="filter-agent"]', '');
  await waitFor(async () => (await shown()).every((n) => n === BOARD.length), 'filter cleared', 3000);

  // ---- skills on the tiles, the statuses of agent 1005 completed by a WebSocket route ----
  const inject = { on: false, skills: undefined };
  const wb = await env.page({ label: 'wallboard-skills' });
  // The route goes in before the page loads: Playwright routes only the WebSockets of a
  // page loaded after it.
  await wb.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => server.send(m));
    server.onMessage((m) => {
      const msg = JSON.parse(m);
      if (inject.on && msg.message === 'EventCurrentAgentStatus' && msg.agentId === '1005') {
        if (inject.skills === undefined) delete msg.skills;
        else msg.skills = inject.skills;
        ws.send(JSON.stringify(msg));
        return;
      }
      ws.send(m);
    });
  });
  inject.on = true;
  inject.skills = { spanish: 5, zulu: 2, billing: 9, '<img src=x onerror="window.pwned=1">': 4 };
  await wb.goto(stat.url);
  await wb.fill('[data-testid="token"]', WALLBOARD_TOKEN);
  await wb.fill('[data-testid="tenants"]', T);
  await wb.click('[data-testid="connect"]');
  const sk = wb.locator(`[data-testid="agent-${T}/1005"] [data-testid="skills"]`);
  const skillsText = async (want, what) => {
    let last = null;
    await waitFor(async () => (last = await sk.textContent({ timeout: 1000 })) === want, what, 8000)
      .catch(() => check(false, `${what} (last text ${JSON.stringify(last)})`));
    check(true, what);
  };
  await skillsText('billing 9 · spanish 5 · zulu 2', 'a status with skills shows them on the tile, sorted by name: "billing 9 · spanish 5 · zulu 2"');
  check(await sk.isVisible() && (await sk.getAttribute('title')) === 'Skills: billing 9 · spanish 5 · zulu 2', 'the line is visible, its title the whole list');
  check(await wb.evaluate(() => document.querySelectorAll('.tile img').length === 0 && window.pwned === undefined),
    'a skill name with markup makes no element and runs nothing');
  // The tile of 1005 has two media rows; with the skills line a third one must still fit
  // inside the tile's padding (style.css: room for three).
  const room = await wb.evaluate(() => {
    const t = document.querySelector('[data-testid="agent-Resources/1005"]');
    const rows = [...t.querySelectorAll('.m')].map((r) => r.getBoundingClientRect());
    const inner = t.getBoundingClientRect().bottom - parseFloat(getComputedStyle(t).paddingBottom) - parseFloat(getComputedStyle(t).borderBottomWidth);
    if (rows.length !== 2) return null;
    return { third: rows[1].bottom + (rows[1].top - rows[0].top), inner };
  });
  check(room !== null && room.third <= room.inner,
    `with the skills line a tile still has room for three media rows (third row's bottom ${room && room.third.toFixed(1)} px, inside ${room && room.inner.toFixed(1)} px)`);
  await wb.fill('[data-testid="filter-agent"]', 'zulu');
  await waitFor(async () => (await wb.locator('.tile').count()) === 1, 'filter zulu', 3000);
  check(await wb.locator(`[data-testid="agent-${T}/1005"]`).isVisible(), 'the agent filter "zulu" (a skill name) shows 1005 alone');
  await wb.fill('[data-testid="filter-agent"]', '');
  const wbCount = (id) => wb.locator(`[data-testid="${id}"]`).textContent();
  await waitFor(async () => Number(await wbCount('count-shown')) > 1 && (await wbCount('count-shown')) === (await wbCount('count-agents')), 'filter cleared', 3000);
  // A change of skills (here: on the next statuses of 1005) updates that tile alone.
  const nudge = async () => {
    await desks['1005'].request({ message: 'RequestNotReadyForMedia', media: 'chat' });
    await desks['1005'].request({ message: 'RequestCancelNotReadyForMedia', media: 'chat' });
  };
  const r0 = await wb.evaluate(() => window.wallboard.stats.tileRenders);
  inject.skills = { billing: 9, spanish: 6 };
  await nudge();
  await skillsText('billing 9 · spanish 6', 'new skills in a status update the tile');
  const r1 = await wb.evaluate(() => window.wallboard.stats.tileRenders);
  check(r1 - r0 <= 4, `two statuses re-rendered ${r1 - r0} tile(s), not the board`);
  inject.skills = {};
  await nudge();
  await skillsText('no skills', 'skills {} read "no skills"');
  inject.skills = undefined;
  await nudge();
  await waitFor(async () => await sk.isHidden(), 'skills line hidden', 8000);
  check(await sk.textContent() === '', 'a status without `skills` shows no skills line');
  await wb.context().close();

  // A reload of ixn-a that changes an agent's skills reaches its tile (routing.md
  // section 5: the agent's state is re-reported, cause SkillsChanged).
  common.extra = skillLines(SKILLS_RELOADED);
  ixnA.writeConfig(ixnA.port, ixnA.httpPort);
  if (await reloaded(ixnA)) {
    await waitFor(async () => (await skillsOf('1002').textContent()) === 'french 4 · sales 8', 'reloaded skills of 1002', 8000);
    check(true, 'after a SIGHUP reload of ixn-a, tile 1002 shows its new skills "french 4 · sales 8"');
    check(ixnA.running(), 'ixn-a still runs after the reload');
  }

  await sleep(2200); // one more server-list round, so the board is settled for the picture
  await page.locator('[data-testid="filter-agent"]').blur();
  // The totals agree with the statserver's own statuses of every agent of the tenant.
  const sub = await env.statClient(stat.port);
  check((await sub.request({ message: 'RequestSubscribeAgentStatus', tenants: [T] })).message === 'EventAck', 'a TCP StatClient subscribes too');
  await sub.next((m) => m.message === 'EventAgentStatusSnapshotDone', 5000);
  const want = {};
  for (const m of sub.queue.filter((x) => x.message === 'EventCurrentAgentStatus' && x.loggedIn)) {
    for (const [k, v] of Object.entries(m.media)) {
      want[k] = want[k] || [0, 0, 0];
      want[k][0] += v.ready ? 1 : 0;
      want[k][1] += v.current;
      want[k][2] += v.available;
    }
  }
  sub.close();
  for (const [k, v] of Object.entries(want)) {
    const got = [];
    for (const f of ['ready', 'held', 'left']) got.push(Number(await text(page, `total-${k}-${f}`)));
    check(got.join() === v.join(), `totals of ${k} (ready, held, left) are ${got.join(', ')}, as the statserver's statuses say (${v.join(', ')})`);
  }
  await screenshot(page, 'screenshot-wallboard.png', env.dir);

  // ---- over capacity: an agent holding more of a ready media than its max ----
  // A rules reload without a chat condition makes chat's max 0 (capacity-rules.md), so
  // every agent holding a chat on a ready chat media is above its rule until the rules
  // come back: its tile is marked, in words, and the mark goes when it no longer holds.
  const overTiles = () => page.locator('.tile[data-over="true"]').evaluateAll((ts) => ts.map((t) => t.dataset.agentId).sort());
  check((await overTiles()).length === 0, 'no tile is marked over capacity while every agent is within its rule');
  check(await page.locator('[data-testid="over-line"]').isHidden(), 'the side panel shows no over-capacity count');
  if (withIxns) {
    // Renamed, so that a status says which rules it was computed with.
    const noChat = RULES.replace(/^\s*chat\s*=.*$/m, '').replaceAll('"Blended"', '"NoChat"');
    check(!/chat\s*=/.test(noChat) && noChat.includes('"NoChat"'), 'the reloaded rules (NoChat) have no chat condition');
    env.write('stat-1.rules', noChat);
    await stat.kill('SIGHUP');
    // The statserver's own statuses say which agents are over: chat ready, current > max.
    const statusOf = async (id) => {
      await statc.request({ message: 'RequestAgentStatus', tenant: T, agentId: id });
      return statc.next((m) => m.message === 'EventCurrentAgentStatus' && m.agentId === id);
    };
    let want = [];
    let sample = null;
    await waitFor(async () => {
      want = [];
      sample = null;
      for (const b of BOARD) {
        const m = await statusOf(b.id);
        if (m.loggedIn && m.rule !== 'NoChat') return false; // the reload is not done yet
        const c = m.loggedIn && m.media && m.media.chat;
        if (c && c.ready && c.current > c.max) {
          want.push(b.id);
          if (!sample) sample = { id: b.id, chat: c };
        }
      }
      want.sort();
      return want.length > 0;
    }, 'statuses with chat above max after the reload', 8000);
    check(true, `after the reload the statserver has ${want.length} agents above their chat max (${want.join(', ')})`);
    let got = [];
    await waitFor(async () => (got = await overTiles()).join() === want.join(), 'the over-capacity tiles', 8000)
      .catch(() => check(false, `the tiles marked over capacity are those agents' (got ${got.join(', ')})`));
    check(true, 'exactly those agents\' tiles are marked over capacity');
    const t = tile(page, sample.id);
    const badge = t.locator('[data-testid="over"]');
    const badgeText = `over chat ${sample.chat.current}/${sample.chat.max}`;
    check(await badge.isVisible() && (await badge.textContent()) === badgeText,
      `tile ${sample.id} shows the badge "${badgeText}" (got "${await badge.textContent()}")`);
    check((await t.locator('[data-testid="media-chat"]').getAttribute('data-over')) === 'true', `the chat row of ${sample.id} is marked too`);
    check((await t.getAttribute('title')).includes('over capacity'), 'the tile\'s title says over capacity');
    check(await page.locator('[data-testid="over-line"]').isVisible() && Number(await text(page, 'count-over')) === want.length,
      `the side panel says ${want.length} over capacity`);
    const colours = await page.evaluate((id) => {
      const el = document.querySelector(`[data-testid="agent-Resources/${id}"]`);
      const b = el.querySelector('[data-testid="over"]');
      return [getComputedStyle(b).backgroundColor, getComputedStyle(el.querySelector('.state')).backgroundColor];
    }, sample.id);
    check(colours[0] !== colours[1], `the badge has its own colour (${colours[0]}, the state's is ${colours[1]})`);
    // A status that no longer holds above max takes the mark away.
    env.write('stat-1.rules', RULES);
    await stat.kill('SIGHUP');
    await waitFor(async () => (await overTiles()).length === 0, 'no over-capacity tile after the rules came back', 8000);
    check(true, 'with the rules back, no tile is marked over capacity');
    check(await badge.isHidden(), `the badge of ${sample.id} is gone`);
    check(await t.locator('[data-testid="media-chat"]').getAttribute('data-over') === null, `its chat row is no longer marked`);
    check(await page.locator('[data-testid="over-line"]').isHidden(), 'the side panel no longer shows an over-capacity count');
  } else {
    console.log('note: no interactions held, so no agent can be shown above its rule');
  }

  // The token is remembered: a reload connects with no typing.
  await page.reload();
  await waitFor(async () => (await page.locator('[data-testid="conn"]').getAttribute('data-state')) === 'connected', 'reconnect after reload', 8000);
  // The agent that logged out is no longer known to the statserver, so a new board has no
  // tile for it.
  await waitFor(async () => (await page.locator('.tile').count()) === BOARD.length - 1, 'tiles after reload', 8000);
  check(true, 'after a reload the remembered token connects again and the board fills');

  // A wrong token is said in words.
  const bad = await env.page({ label: 'badtoken' });
  await bad.goto(stat.url);
  await bad.fill('[data-testid="token"]', 'not-the-token');
  await bad.click('[data-testid="connect"]');
  await waitFor(async () => await bad.locator('[data-testid="banner"]').isVisible(), 'error banner', 5000);
  const banner = await bad.locator('[data-testid="banner"]').textContent();
  check(/refused/i.test(banner) && /token/i.test(banner), `a wrong token shows an error in words: "${banner}"`);
  await bad.context().close();

  // An interaction server killed shows disconnected, and its agents logged out.
  await ixnB.kill('SIGKILL');
  await waitFor(async () => (await page.locator('[data-testid="server-ixn-b"]').getAttribute('data-state')) === 'disconnected', 'ixn-b disconnected', 8000);
  check(true, 'the killed interaction server ixn-b shows disconnected');
  check((await page.locator('[data-testid="server-ixn-a"]').getAttribute('data-state')) === 'connected', 'ixn-a still shows connected');
  await waitTileState(page, '1019', 'loggedout', 'an agent of ixn-b only shows logged out');
  await ixnB.restart();
  await waitFor(async () => (await page.locator('[data-testid="server-ixn-b"]').getAttribute('data-state')) === 'connected', 'ixn-b back', 15000);
  check(true, 'the restarted ixn-b shows connected again');

  // The statserver restarted under the page: a banner, then the board comes back by itself.
  const connectsBefore = await page.evaluate(() => window.wallboard.stats.connects);
  await stat.kill('SIGKILL');
  await waitFor(async () => (await page.locator('[data-testid="conn"]').getAttribute('data-state')) === 'disconnected', 'disconnected state', 5000);
  const lostText = await page.locator('[data-testid="banner"]').textContent();
  check(/lost/i.test(lostText) && /reconnecting/i.test(lostText), `the statserver gone, the board says so: "${lostText}"`);
  check((await page.locator('.tile').count()) > 0, 'the tiles stay while the board is disconnected');
  await stat.restart();
  await waitFor(async () => (await page.evaluate(() => window.wallboard.stats.connects)) > connectsBefore &&
    (await page.locator('[data-testid="conn"]').getAttribute('data-state')) === 'connected', 'reconnected', 15000);
  check(await page.locator('[data-testid="banner"]').isHidden(), 'the statserver back, the board reconnects by itself and the banner goes');
  await waitTileState(page, '1002', 'notready', 'after the reconnect the board is up to date (1002 still not ready)');

  // ---- scale: SCALE_AGENTS more agents, a burst of changes ----
  const t0 = Date.now();
  const many = [];
  const BATCH = 200;
  for (let i = 0; i < SCALE_AGENTS; i += BATCH) {
    const part = [];
    for (let j = i; j < Math.min(i + BATCH, SCALE_AGENTS); j++) {
      part.push(env.agent(ixnA.port, T, String(20000 + j), `P${20000 + j}`, PW, { chat: 1, email: 1 }));
    }
    many.push(...(await Promise.all(part)));
  }
  console.log(`info: ${SCALE_AGENTS} agents logged in over TCP in ${Date.now() - t0} ms`);
  const total = BOARD.length - 1 + SCALE_AGENTS;
  const t1 = Date.now();
  await waitFor(async () => (await page.evaluate(() => window.wallboard.order().length)) === total, `${total} agents on the board`, 60000, 200);
  check(true, `the board has all ${total} agents (live, ${Date.now() - t1} ms after the logins)`);
  check(Number(await text(page, 'count-agents')) === total, `it says so: ${total} agents`);
  const inDom = await page.locator('.tile').count();
  check(inDom < 400, `the board is virtual: ${inDom} tiles in the DOM for ${total} agents`);

  // A fresh subscription of the whole tenant: snapshot to full board.
  // Only the agents of ixn-a are still logged in: those of ixn-b went with its kill.
  const known = BOARD.filter((b) => b.server === 'ixn-a').length + SCALE_AGENTS;
  const big = await env.page({ label: 'big' });
  const t2 = Date.now();
  await big.goto(stat.url);
  await big.fill('[data-testid="token"]', WALLBOARD_TOKEN);
  await big.fill('[data-testid="tenants"]', T);
  await big.click('[data-testid="connect"]');
  await big.waitForFunction((n) => window.wallboard.order().length === n && window.wallboard.stats.snapshotDone > 0, known, { timeout: 60000, polling: 200 });
  check(true, `a new wallboard gets the snapshot of ${known} agents and draws them in ${Date.now() - t2} ms`);

  // Burst: half of the new agents go not ready with a reason, pipelined as fast as TCP goes.
  const burst = many.slice(0, Math.floor(SCALE_AGENTS / 2));
  const before = await big.evaluate(() => ({ ...window.wallboard.stats }));
  await big.evaluate(() => { window.wallboard.stats.maxFrameMs = 0; });
  const t3 = Date.now();
  await Promise.all(burst.map((c) => c.request({ message: 'RequestNotReadyForMedia', media: 'chat', reason: { code: 4, description: 'Meeting' } }, 30000)));
  await Promise.all(burst.map((c) => c.request({ message: 'RequestNotReadyForMedia', media: 'email', reason: { code: 4, description: 'Meeting' } }, 30000)));
  const ids = burst.map((_, k) => String(20000 + k));
  await big.waitForFunction((list) => list.every((id) => window.wallboard.agents.get(`Resources/${id}`).state === 'notready'), ids, { timeout: 60000, polling: 100 });
  const landed = Date.now() - t3;
  await sleep(100); // the frame that draws the last of them
  const onScreen = await big.evaluate((list) => {
    const set = new Set(list);
    const ts = [...document.querySelectorAll('.tile')].filter((t) => set.has(t.dataset.agentId));
    return [ts.length, ts.filter((t) => t.dataset.state === 'notready').length];
  }, ids);
  check(onScreen[0] > 0 && onScreen[0] === onScreen[1], `every tile on screen of the burst's agents shows not ready (${onScreen[1]} of ${onScreen[0]})`);
  const after = await big.evaluate(() => ({ ...window.wallboard.stats }));
  const statuses = after.statuses - before.statuses;
  const renders = after.tileRenders - before.tileRenders;
  console.log(`info: burst of ${burst.length * 2} changes: ${statuses} statuses, ${renders} tile renders, ${after.frames - before.frames} frames, longest frame ${after.maxFrameMs.toFixed(1)} ms, all landed in ${landed} ms`);
  check(landed < 30000, `the burst of ${burst.length * 2} changes lands on the board in ${landed} ms (< 30 s)`);
  check(renders <= statuses, `each status re-renders at most its own tile (${renders} renders for ${statuses} statuses, board of ${known})`);
  check(after.tilesCreated === before.tilesCreated, 'no tile is created again');
  check(after.maxFrameMs < 250, `the longest frame of the burst took ${after.maxFrameMs.toFixed(1)} ms (< 250 ms)`);
  const ready = Number(await big.locator('[data-testid="total-chat-ready"]').textContent());
  const expectReady = await big.evaluate(() => [...window.wallboard.agents.values()].filter((a) => a.loggedIn && a.media.chat && a.media.chat.ready).length);
  check(ready === expectReady, `the chat total says ${ready} agents ready, as many as the board's agents`);

  // Scrolling to the end brings the last agent's tile.
  const lastKey = await big.evaluate(() => window.wallboard.order().at(-1));
  await big.evaluate(() => { const b = document.querySelector('[data-testid="board"]'); b.scrollTop = b.scrollHeight; });
  await waitFor(async () => (await big.locator(`[data-testid="agent-${lastKey}"]`).count()) === 1, 'the last tile after scrolling', 5000);
  check(true, `scrolled to the end, the board shows the last agent ${lastKey}`);
  for (const c of many) c.close();
});
