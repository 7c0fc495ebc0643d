// The web agent desktop (web/desk, docs/web-desk.md) in headless Chromium against a real
// ixnserver and statserver:
//   1. log in with the keyboard (Enter submits), go ready on chat, receive an invitation
//      submitted through the media server port, see its user data and countdown, accept
//      it, see the chat bar at 1 of 3; a second one arrives (screenshot
//      docs/screenshot-desk.png of that state), is accepted (2 of 3); done on both: the
//      after-work countdown, finishing it by hand and letting the other one run out; the
//      bar back at 0 of 3;
//   2. a wrong password shows the error in words and the form stays;
//   3. the interaction server restarted under the page: the banner shows, the desktop
//      logs in again by itself with chat still ready, and the statserver sees it;
//   4. on a server with a 2 s idle timeout the page stays connected by pinging, and a
//      message with a seq gap (the answer to a do-not-disturb request, altered by a
//      WebSocket route) drops the connection, fails that request (the switch goes back
//      off) and the page reconnects by itself;
//   5. the agent's skills (routing.md section 1): the page shows the `skills` of the login
//      answer and of later events, sorted and compact, as text; a WebSocket route gives
//      the page the answers and events of a server that sends them, so this part holds
//      whatever the server in the build sends.
// Parts 1 and 3 also check the skills end to end (the `[skills]` line of the test's
// configuration in the login answer, in the page, and changed live by a SIGHUP reload),
// but only when the server's login answer carries `skills`; with a server that does not
// send them yet they check that the page shows no skills line, and say so in a note.
import fs from 'node:fs';
import path from 'node:path';
import { Env, ROOT, DESK_TOKEN, parseArgs, check, waitFor, sleep, submitOk, isStatus, screenshot } from './lib.mjs';

const TENANT = 'Resources';
const AGENT = '1001';
const PLACE = 'P1001';
const PASSWORD = 'pw-1001';
const AFTER_WORK_CHAT = 3;
const QUEUES = {
  'Resources/chat-sales': 'chat',
  'Resources/chat-vip': 'chat',
  'Resources/email-support': 'email',
};
const REASONS = [
  { code: 1, description: 'Break' },
  { code: 2, description: 'Lunch' },
  { code: 3, description: 'Training' },
];
// The agent's skills in the ixnserver's configuration, and the same after a reload.
const SKILLS = 'spanish:5, billing:9';
const SKILLS_TEXT = 'billing 9 · spanish 5';
const SKILLS_RELOADED = 'billing:9, spanish:6, vip:1';
const SKILLS_RELOADED_TEXT = 'billing 9 · spanish 6 · vip 1';
const RULES = `
rule "Blended" {
    voice = any >= 1;
    chat  = chat >= 3 or voice >= 1 or (chat >= 2 and email >= 1);
    email = email >= 2 or voice >= 1 or (email >= 1 and chat >= 1);
}
assign tenant "Resources" "Blended";
`;

/** The configuration the page reads, as the ixnserver is expected to serve it; used only
 *  when the daemon serves no HTTP yet and lib.mjs's bridge stands in for it. */
function deskConfig(name) {
  return {
    serverName: name,
    media: ['voice', 'chat', 'email'],
    reasons: REASONS,
  };
}

/** Waits until the text of loc matches re; returns the text. */
async function waitText(loc, re, what, timeoutMs = 8000) {
  let last = '';
  let text;
  try {
    text = await waitFor(async () => {
      last = (await loc.textContent({ timeout: 500 })) ?? '';
      return re.test(last) ? last : null;
    }, what, timeoutMs);
  } catch (e) {
    check(false, `${what} (last text: ${JSON.stringify(last)})`);
    throw e;
  }
  check(true, what);
  return text;
}

/** Waits until the attribute attr of loc equals value. */
async function waitAttr(loc, attr, value, what, timeoutMs = 8000) {
  let last = null;
  try {
    await waitFor(async () => {
      last = await loc.getAttribute(attr, { timeout: 500 });
      return last === value;
    }, what, timeoutMs);
  } catch (e) {
    check(false, `${what} (last ${attr}: ${JSON.stringify(last)})`);
    throw e;
  }
  check(true, what);
}

async function waitGone(loc, what, timeoutMs = 8000) {
  await loc.waitFor({ state: 'detached', timeout: timeoutMs });
  check(true, what);
}

async function openDesk(env, ixn, label) {
  const page = await env.page({ label });
  if (!ixn.ports.http) {
    // Only with lib.mjs's bridge, which serves the files of web/desk and /ws but not the
    // configuration endpoint of the real server.
    await page.route('**/desk-config.json', (route) => route.fulfill({
      status: 200, contentType: 'application/json', body: JSON.stringify(deskConfig(ixn.name)),
    }));
  }
  await page.goto(ixn.url);
  await page.waitForSelector('body[data-ready=true]');
  return page;
}

/** Records the answer to the page's RequestAgentLogin as it crosses the WebSocket: returns
 *  a function giving the latest one (null until there is one). */
function watchLoginAnswers(page) {
  let ref = null;
  let ack = null;
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => {
      try {
        const m = JSON.parse(f.payload);
        if (m.message === 'RequestAgentLogin') ref = m.referenceId;
      } catch { /* not JSON: not ours to judge here */ }
    });
    ws.on('framereceived', (f) => {
      try {
        const m = JSON.parse(f.payload);
        if (m.referenceId === ref && m.message === 'EventAck') ack = m;
      } catch { /* idem */ }
    });
  });
  return () => ack;
}

async function fillLogin(page, password) {
  await page.getByTestId('login-tenant').fill(TENANT);
  await page.getByTestId('login-agent').fill(AGENT);
  await page.getByTestId('login-place').fill(PLACE);
  await page.getByTestId('login-token').fill(DESK_TOKEN);
  await page.getByTestId('login-password').fill(password);
}

const args = parseArgs();
await Env.run(args, { timeout: 150 }, async (env) => {
  const reasonLines = ['[reasons]', ...REASONS.map((r) => `${r.code} = ${r.description}`)];
  // An ixnserver that does not know [skills] yet warns and ignores the section.
  const ixnOpts = {
    agents: { [`${TENANT}/${AGENT}`]: PASSWORD },
    queues: QUEUES,
    afterWork: { chat: AFTER_WORK_CHAT },
    inviteTimeout: 30,
    extra: [...reasonLines, '[skills]', `${TENANT}/${AGENT} = ${SKILLS}`].join('\n'),
  };
  const ixn = await env.startIxn('ixn-a', ixnOpts);
  const stat = await env.startStat('stat-1', { ixns: [ixn], rules: RULES });
  const ms = await env.mediaServer(ixn.port);

  // ---- 1. log in, ready, invitation, accept, bars, done, after-work ----
  const page = await openDesk(env, ixn, 'desk');
  const loginAnswer = watchLoginAnswers(page);
  check(await page.getByTestId('login-view').isVisible(), 'the login form is shown first');
  check(await page.getByTestId('events').getAttribute('aria-live') === 'polite', 'the event list is an aria-live region');
  await fillLogin(page, PASSWORD);
  await page.getByTestId('login-tenant').focus();
  const order = [];
  for (let i = 0; i < 5; i++) {
    await page.keyboard.press('Tab');
    order.push(await page.evaluate(() => document.activeElement.dataset.testid));
  }
  check(JSON.stringify(order) === JSON.stringify(['login-agent', 'login-place', 'login-password', 'login-token', 'login-media-voice']),
    `Tab walks the login form in order (${order})`);
  await page.getByTestId('login-password').press('Enter');
  await page.getByTestId('desk-view').waitFor({ state: 'visible', timeout: 8000 });
  check(true, 'Enter in the password field logs in; the desk view shows');
  check(await page.getByTestId('login-view').isHidden(), 'the login form is hidden after login');
  await waitText(page.getByTestId('conn-state'), /^connected$/, 'the connection state says connected');
  check(await page.evaluate(() => Object.keys(localStorage).some((k) => localStorage.getItem(k) === 'pw-1001')) === false,
    'the password is in no localStorage entry');
  check(await page.evaluate(() => localStorage.getItem('cc.desk.token')) === DESK_TOKEN,
    'the token is remembered in localStorage');

  // The skills of the configuration, when the server reports them.
  const ack = await waitFor(loginAnswer, 'the login answer seen on the WebSocket', 5000);
  check(ack.skills !== undefined, 'the login answer carries `skills` (routing.md section 1)');
  check(JSON.stringify(ack.skills, Object.keys(ack.skills || {}).sort()) === JSON.stringify({ billing: 9, spanish: 5 }),
    `the login answer carries the configured skills (${JSON.stringify(ack.skills)})`);
  await waitText(page.getByTestId('skills-list'), new RegExp(`^${SKILLS_TEXT}$`), `the desk shows the skills "${SKILLS_TEXT}"`);
  check(await page.getByTestId('skills').isVisible(), 'the skills line is visible');

  const capChat = page.getByTestId('cap-chat');
  const barChat = page.getByTestId('bar-chat');
  await waitText(capChat, /^0 of 3 · not available/, 'chat shows 0 of 3, not available while not ready');
  check(await page.getByTestId('ready-chat').isChecked() === false, 'chat starts not ready');

  await page.getByTestId('ready-chat').check();
  await waitText(capChat, /^0 of 3 · 3 available$/, 'after going ready, chat shows 0 of 3 with 3 available');
  await waitAttr(page.getByTestId('media-row-chat'), 'data-ready', 'true', 'the chat row is marked ready');
  await waitText(page.getByTestId('rule'), /^Capacity rule: Blended$/, 'the capacity rule of the status is shown');
  await page.getByTestId('dnd').check();
  await waitText(capChat, /^0 of 3 · not available \(DND\)$/, 'do-not-disturb makes chat not available');
  await page.getByTestId('dnd').uncheck();
  await waitText(capChat, /^0 of 3 · 3 available$/, 'do-not-disturb off: chat available again');

  const id1 = await submitOk(ms, TENANT, 'chat', 'chat-sales', { customer: 'Ada Lovelace', topic: 'Upgrade to Pro' }, 'web-chat-1');
  const invite1 = page.locator(`[data-testid=invite][data-interaction-id="${id1}"]`);
  await invite1.waitFor({ state: 'visible', timeout: 8000 });
  check(true, `the invitation ${id1} is shown`);
  await waitText(invite1.getByTestId('userdata'), /customer\s*Ada Lovelace/, 'the invitation shows its user data');
  await waitText(invite1.getByTestId('countdown'), /^Answer within (30|29|28|27) s\.$/, 'the invitation counts down from 30 s');
  await waitText(page.getByTestId('events'), new RegExp(`Invitation: chat from queue chat-sales \\(${id1}\\)`), 'the invitation is announced in the event list');
  await waitText(capChat, /^1 of 3 · 2 available$/, 'the invited chat counts at once: 1 of 3');

  // Accept with the keyboard: the button takes the focus and Enter presses it.
  await invite1.getByTestId('accept').focus();
  await page.keyboard.press('Enter');
  const held1 = page.locator(`[data-testid=held][data-interaction-id="${id1}"]`);
  await held1.waitFor({ state: 'visible', timeout: 8000 });
  check(true, 'accepted with Enter: the chat moves to my interactions');
  await waitGone(invite1, 'the invitation is gone after accepting');
  await waitText(held1.getByTestId('held-state'), /^Handling$/, 'the held chat is Handling');
  await waitText(held1.getByTestId('userdata'), /topic\s*Upgrade to Pro/, 'the held chat shows its user data');
  await waitText(capChat, /^1 of 3 · 2 available$/, 'the chat bar shows 1 of 3 while handling');
  await waitAttr(barChat, 'data-current', '1', 'the chat bar carries current 1');
  await waitAttr(barChat, 'data-max', '3', 'the chat bar carries max 3');
  const queues = await held1.getByTestId('transfer-queue').locator('option').allTextContents();
  check(JSON.stringify(queues) === JSON.stringify(['chat-sales', 'chat-vip']), `the transfer picker lists the chat queues of the tenant (${queues})`);

  // A realistic state for the screenshot: email not ready for lunch, voice ready, one chat
  // held and a second one offered.
  const cfg = await page.evaluate(() => fetch('/desk-config.json').then((r) => r.json()));
  check(Array.isArray(cfg.media) && cfg.media.includes('chat'), `the desktop configuration lists the media (${JSON.stringify(cfg.media)})`);
  const reason = (cfg.reasons || []).find((r) => r.description === 'Lunch') || (cfg.reasons || [])[0];
  if (reason) {
    await page.getByTestId('reason-email').selectOption(String(reason.code));
    await waitText(page.getByTestId('events'), new RegExp(`email: reason ${reason.description}\\.`), 'choosing a reason while not ready changes it on the server');
  } else {
    console.log('note: the server lists no not-ready reasons; the reason picker is not exercised');
  }
  await page.getByTestId('ready-voice').check();
  await waitText(page.getByTestId('cap-voice'), /^0 of 0 · blocked by the capacity rule$/, 'voice is blocked by the held chat (Blended rule)');
  const id2 = await submitOk(ms, TENANT, 'chat', 'chat-vip', { customer: 'Grace Hopper', order: 'A-1042', lang: 'en' });
  const invite2 = page.locator(`[data-testid=invite][data-interaction-id="${id2}"]`);
  await invite2.waitFor({ state: 'visible', timeout: 8000 });
  check(true, `a second invitation ${id2} is shown`);
  await waitText(capChat, /^2 of 3 · 1 available$/, 'chat shows 2 of 3 with the second one invited');
  await screenshot(page, 'screenshot-desk.png', env.dir);

  await invite2.getByTestId('accept').click();
  const held2 = page.locator(`[data-testid=held][data-interaction-id="${id2}"]`);
  await held2.waitFor({ state: 'visible', timeout: 8000 });
  await waitText(capChat, /^2 of 3 · 1 available$/, 'two chats held: 2 of 3');

  // Done on the first: after-work with a countdown, finished by hand.
  await held1.getByTestId('done').click();
  await waitAttr(held1, 'data-state', 'AfterWork', 'done puts the first chat into after-work');
  await waitText(held1.getByTestId('held-state'), /^After-work: [1-3] s left$/, 'the after-work countdown shows');
  await waitText(capChat, /^1 of 3 · 2 available$/, 'a chat in after-work does not count: 1 of 3');
  await held1.getByTestId('complete-after-work').click();
  await waitGone(held1, 'finishing after-work ends the first chat');

  // Done on the second: after-work runs out and the server ends it.
  await held2.getByTestId('done').click();
  await waitAttr(held2, 'data-state', 'AfterWork', 'the second chat goes into after-work');
  await waitGone(held2, 'the after-work of the second chat runs out and it ends', (AFTER_WORK_CHAT + 5) * 1000);
  await waitText(page.getByTestId('events'), new RegExp(`Interaction ${id2} ended: after-work time is over`), 'the end of after-work is announced');
  await waitText(capChat, /^0 of 3 · 3 available$/, 'the chat bar is back at 0 of 3');
  check(await page.getByTestId('error').isHidden(), 'no error was shown during the flow');

  // A reload (SIGHUP) that changes the agent's skills shows at once, without a new login
  // (routing.md section 5: the agent's state is re-reported with cause SkillsChanged).
  {
    ixnOpts.extra = [...reasonLines, '[skills]', `${TENANT}/${AGENT} = ${SKILLS_RELOADED}`].join('\n');
    ixn.writeConfig(ixn.port, ixn.httpPort);
    await ixn.kill('SIGHUP');
    await waitText(page.getByTestId('skills-list'), new RegExp(`^${SKILLS_RELOADED_TEXT}$`),
      `after a reload the desk shows the new skills "${SKILLS_RELOADED_TEXT}" without a new login`);
    await waitText(page.getByTestId('events'), new RegExp(`Skills changed: ${SKILLS_RELOADED_TEXT}\\.`), 'the change is announced in the event list');
    check(await page.getByTestId('conn-state').textContent() === 'connected' && await page.getByTestId('desk-view').isVisible(),
      'the desk stays connected and logged in through the reload');
  }

  // ---- 2. a wrong password ----
  const bad = await openDesk(env, ixn, 'bad-login');
  await fillLogin(bad, 'not-the-password');
  await bad.getByTestId('login-submit').click();
  await waitText(bad.getByTestId('error-text'), /^Log in failed — NotAuthorized \(5\)/, 'a wrong password shows NotAuthorized in words');
  check(await bad.getByTestId('login-view').isVisible(), 'the login form stays after a wrong password');
  check(await bad.getByTestId('desk-view').isHidden(), 'the desk view stays hidden after a wrong password');
  await bad.context().close();

  // ---- 3. the interaction server restarts under the page ----
  const sc = await env.statClient(stat.port);
  await ixn.restart();
  check(true, 'ixnserver killed and restarted on the same ports');
  await page.getByTestId('banner').waitFor({ state: 'visible', timeout: 8000 });
  await waitText(page.getByTestId('banner'), /Connection to the server lost\. Reconnecting/, 'the banner says the connection is lost and being retried');
  await page.getByTestId('banner').waitFor({ state: 'hidden', timeout: 20000 });
  check(true, 'the banner goes away by itself');
  await waitText(page.getByTestId('conn-state'), /^connected$/, 'connected again');
  check(await page.getByTestId('desk-view').isVisible(), 'still on the desk view: no password asked again');
  check(await page.getByTestId('ready-chat').isChecked(), 'chat is still switched ready');
  await waitText(capChat, /^0 of 3 · 3 available$/, 'a fresh status shows chat ready again with 3 available', 20000);
  await waitText(page.getByTestId('events'), /Reconnected and logged in again\./, 'the reconnect is announced');
  {
    check(await page.getByTestId('skills-list').textContent() === SKILLS_RELOADED_TEXT,
      'after logging in again the desk shows the skills of the restarted server\'s configuration');
  }
  const ans = await sc.request({ message: 'RequestAgentStatus', tenant: TENANT, agentId: AGENT });
  check(ans.message === 'EventAck', 'the statserver answers RequestAgentStatus');
  const s = await sc.next((m) => isStatus(m, AGENT));
  check(s.loggedIn === true && s.media.chat && s.media.chat.ready === true,
    `the statserver sees the agent logged in again with chat ready (${JSON.stringify(s.media)})`);
  if (reason) {
    check(await page.getByTestId('reason-email').inputValue() === String(reason.code), 'the email reason is kept on the page');
  }

  // After the restart the desktop still works: one more chat, transferred to another
  // queue, offered again from there, then stopped by the media server (customer gone).
  const ms2 = await env.mediaServer(ixn.port);
  const id3 = await submitOk(ms2, TENANT, 'chat', 'chat-sales', { customer: 'Alan Turing' });
  const invite3 = page.locator(`[data-testid=invite][data-interaction-id="${id3}"]`);
  await invite3.waitFor({ state: 'visible', timeout: 8000 });
  await invite3.getByTestId('accept').click();
  const held3 = page.locator(`[data-testid=held][data-interaction-id="${id3}"]`);
  await held3.waitFor({ state: 'visible', timeout: 8000 });
  await waitText(capChat, /^1 of 3 · 2 available$/, 'after the restart a new chat is offered, accepted and counted');
  await held3.getByTestId('transfer-queue').selectOption('chat-vip');
  await held3.getByTestId('transfer').click();
  await waitGone(held3, 'transferring the chat to chat-vip removes it from my interactions');
  const again = page.locator(`[data-testid=invite][data-interaction-id="${id3}"]`);
  await again.waitFor({ state: 'visible', timeout: 8000 });
  await waitText(again, /chat from chat-vip/, 'the transferred chat is offered again from chat-vip');
  const stop = await ms2.request({ message: 'RequestStopProcessing', interactionId: id3, reason: 'CustomerLeft' });
  check(stop.message === 'EventAck', 'the media server stops the chat');
  await waitGone(again, 'the invitation of a stopped chat disappears');
  await waitText(page.getByTestId('events'), new RegExp(`Invitation ${id3} withdrawn: the customer left`), 'the withdrawal is announced in words');

  // A request the server refuses shows its error in words: logging out while holding an
  // invitation is InvalidState.
  const id4 = await submitOk(ms2, TENANT, 'chat', 'chat-sales', { customer: 'Barbara Liskov' });
  const invite4 = page.locator(`[data-testid=invite][data-interaction-id="${id4}"]`);
  await invite4.waitFor({ state: 'visible', timeout: 8000 });
  await page.getByTestId('logout').click();
  await waitText(page.getByTestId('error-text'), /^Log out failed — InvalidState \(10\)/, 'logout while invited shows InvalidState in words');
  await page.getByTestId('error-close').click();
  check(await page.getByTestId('error').isHidden(), 'the error can be dismissed');
  await invite4.getByTestId('accept').click();
  const held4 = page.locator(`[data-testid=held][data-interaction-id="${id4}"]`);
  await held4.waitFor({ state: 'visible', timeout: 8000 });
  await held4.getByTestId('done').click();
  await held4.getByTestId('complete-after-work').click();
  await waitGone(held4, 'the last chat is finished');
  await page.getByTestId('ready-chat').uncheck();
  await waitText(capChat, /not available/, 'chat not ready again');
  await page.getByTestId('logout').click();
  await page.getByTestId('login-view').waitFor({ state: 'visible', timeout: 8000 });
  check(true, 'logout returns to the login form');
  await waitText(page.getByTestId('conn-state'), /^offline$/, 'offline after logout, no reconnect');
  check(await page.getByTestId('login-password').inputValue() === '', 'the password field is empty after logout');

  // ---- 4. pings, and a seq gap ----
  const ixnB = await env.startIxn('ixn-b', {
    agents: { [`${TENANT}/${AGENT}`]: PASSWORD },
    extraServer: 'idle-timeout = 2',
  });
  const pb = await env.page({ label: 'desk-b' });
  // The seq gap goes on the answer to the RequestDoNotDisturbOn the test sends, found by
  // its referenceId, and on no other message. It used to go on whatever the server sent
  // next once armed, and the switch was flipped with check(), which clicks and then reads
  // the checkbox back to see it changed. That raced: the click sends the request, its
  // answer arrives with the gap, the page drops the connection, fails the pending request
  // and puts the switch back off (do-not-disturb was never confirmed: the right thing to
  // show); under load that loopback round trip finished before Playwright read the
  // checkbox back, and check() threw "Clicking the checkbox did not change its state".
  // Now the test clicks and waits for what the page shows once the gap has been handled.
  let gapArmed = false;
  let gapRef = null;
  let gapSent = false;
  let wsOpened = 0;
  await pb.routeWebSocket(/\/ws$/, (ws) => {
    wsOpened++;
    const server = ws.connectToServer();
    ws.onMessage((m) => {
      if (gapArmed && typeof m === 'string') {
        const req = JSON.parse(m);
        if (req.message === 'RequestDoNotDisturbOn') {
          gapArmed = false;
          gapRef = req.referenceId;
        }
      }
      server.send(m);
    });
    server.onMessage((m) => {
      if (gapRef !== null && typeof m === 'string') {
        const msg = JSON.parse(m);
        if (msg.referenceId === gapRef && (msg.message === 'EventAck' || msg.message === 'EventError')) {
          gapRef = null;
          gapSent = true;
          msg.seq += 1;
          ws.send(JSON.stringify(msg));
          return;
        }
      }
      ws.send(m);
    });
  });
  await pb.goto(ixnB.url);
  await pb.waitForSelector('body[data-ready=true]');
  await fillLogin(pb, PASSWORD);
  await pb.getByTestId('login-submit').click();
  await pb.getByTestId('desk-view').waitFor({ state: 'visible', timeout: 8000 });
  check(wsOpened === 1, 'desk B logged in over one WebSocket');
  await new Promise((r) => setTimeout(r, 5000));
  check(await pb.getByTestId('conn-state').textContent() === 'connected' && wsOpened === 1,
    'with idle-timeout 2 s the page is still on its first connection after 5 s quiet (pings)');
  check(!/Connection lost/.test(await pb.getByTestId('events').textContent()), 'no connection was lost meanwhile');
  gapArmed = true;
  await pb.getByTestId('dnd').click();
  await waitText(pb.getByTestId('events'), /The server sent seq \d+ where \d+ was due; reconnecting\./, 'a seq gap is detected and reported');
  check(gapSent, 'the gap was put on the answer to RequestDoNotDisturbOn');
  await waitText(pb.getByTestId('error-text'), /^Do not disturb on failed — ConnectionLost/, 'the request whose answer came out of order is reported as failed');
  check(await pb.getByTestId('dnd').isChecked() === false, 'the do-not-disturb switch is back off: the server never confirmed it in order');
  await waitText(pb.getByTestId('events'), /Reconnected and logged in again\./, 'the page reconnects by itself after the seq gap', 15000);
  check(wsOpened === 2, 'the reconnect opened a second WebSocket');
  await waitText(pb.getByTestId('conn-state'), /^connected$/, 'desk B connected again');
  await pb.getByTestId('dnd').check();
  await waitText(pb.getByTestId('events'), /Do not disturb on\./, 'do-not-disturb switches on over the new connection');

  // ---- 5. skills, with the server's messages completed by a WebSocket route ----
  // Holds whatever the server sends: the route sets (or removes) `skills` in the login
  // answer and adds agent-state and status events, re-stamping seq so that the page sees
  // an unbroken sequence.
  const ixnS = await env.startIxn('ixn-s', { agents: { [`${TENANT}/${AGENT}`]: PASSWORD }, queues: QUEUES });
  // The route goes in before the page loads: Playwright routes only the WebSockets of a
  // page loaded after it.
  const ps = await env.page({ label: 'desk-skills' });
  const route = { ackSkills: undefined, ref: null, toPage: null, seq: 0 };
  await ps.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    route.seq = 0;
    route.toPage = (m) => ws.send(JSON.stringify({ ...m, seq: ++route.seq }));
    ws.onMessage((m) => {
      const req = JSON.parse(m);
      if (req.message === 'RequestAgentLogin') route.ref = req.referenceId;
      server.send(m);
    });
    server.onMessage((m) => {
      const msg = JSON.parse(m);
      if (msg.message === 'EventAck' && msg.referenceId === route.ref) {
        if (route.ackSkills === undefined) delete msg.skills;
        else msg.skills = route.ackSkills;
      }
      msg.seq = ++route.seq;
      ws.send(JSON.stringify(msg));
    });
  });
  await ps.goto(ixnS.url);
  await ps.waitForSelector('body[data-ready=true]');
  const list = ps.getByTestId('skills-list');
  const events = ps.getByTestId('events');
  const state = (skills, extra = {}) => ({
    message: 'EventPlaceAgentState', serverName: ixnS.name, cause: 'SkillsChanged', tenant: TENANT, agentId: AGENT,
    placeId: PLACE, version: 1, loggedIn: true, dnd: false, media: {}, interactions: [], skills, ...extra,
  });
  const login = async () => {
    await fillLogin(ps, PASSWORD);
    await ps.getByTestId('login-submit').click();
    await ps.getByTestId('desk-view').waitFor({ state: 'visible', timeout: 8000 });
  };

  // A login answer without `skills`: no line.
  await login();
  check(await ps.getByTestId('skills').isHidden(), 'a login answer without `skills` shows no skills line');
  route.toPage({ message: 'EventCurrentAgentStatus', tenant: TENANT, agentId: AGENT, placeId: PLACE, version: 1, loggedIn: true, dnd: false, media: {} });
  await sleep(300);
  check(await ps.getByTestId('skills').isHidden(), 'nor does a status without `skills`');
  await ps.getByTestId('logout').click();
  await ps.getByTestId('login-view').waitFor({ state: 'visible', timeout: 8000 });

  // With `skills`: sorted, compact, every skill marked with its name and level; a name
  // that breaks the rules (here one with markup) is left out and nothing of it is parsed.
  route.ackSkills = { spanish: 5, billing: 9, '<img src=x onerror="window.pwned=1">': 3 };
  await login();
  await waitText(list, /^billing 9 · spanish 5$/, 'the login answer\'s skills show sorted by name: "billing 9 · spanish 5"');
  const marks = await list.locator('.skill').evaluateAll((els) => els.map((e) => `${e.dataset.skill}=${e.dataset.level}`));
  check(marks.join() === 'billing=9,spanish=5', `each skill is marked with its name and level (${marks})`);
  check(await ps.evaluate(() => document.querySelectorAll('#skills img').length === 0 && window.pwned === undefined),
    'a skill name with markup makes no element and runs nothing');
  check(!/Skills changed/.test(await events.textContent()), 'the skills of a login are not announced as a change');

  // A SkillsChanged agent state updates the line at once and is announced.
  route.toPage(state({ vip: 1, billing: 9, spanish: 6 }));
  await waitText(list, /^billing 9 · spanish 6 · vip 1$/, 'an EventPlaceAgentState with cause SkillsChanged updates the skills live');
  await waitText(events, /Skills changed: billing 9 · spanish 6 · vip 1\./, 'the change is announced in the event list');
  // Another agent's state, and a state without `skills`, change nothing.
  route.toPage(state({ sales: 3 }, { agentId: '9999' }));
  route.toPage(state(undefined, { cause: 'NotReadyForMedia' }));
  route.toPage({ message: 'EventCurrentAgentStatus', tenant: TENANT, agentId: AGENT, placeId: PLACE, version: 2, loggedIn: true, dnd: false, media: {} });
  await sleep(300);
  check(await list.textContent() === 'billing 9 · spanish 6 · vip 1', 'another agent\'s state, or an event without `skills`, changes nothing');
  // A status carrying skills (the statserver's, forwarded) counts too; `{}` means none.
  route.toPage({ message: 'EventCurrentAgentStatus', tenant: TENANT, agentId: AGENT, placeId: PLACE, version: 3, loggedIn: true, dnd: false, media: {}, skills: {} });
  await waitText(list, /^no skills$/, 'skills {} read "no skills"');
  check(await list.getAttribute('class') === 'skills-list none', 'and look muted');
  // A peer's huge object: 64 listed, the rest counted.
  const many = {};
  for (let i = 0; i < 70; i++) many[`s${String(i).padStart(2, '0')}`] = 1 + (i % 10);
  route.toPage(state(many));
  await waitText(list, /^s00 1 · s01 2 · .* · s63 4 · \+6 more$/, '70 skills: the first 64 by name are listed, then "+6 more"');
  check(await list.locator('.skill').count() === 64, '64 skill elements, no more');
  // A re-login after a lost connection takes the skills of its answer.
  route.ackSkills = { billing: 2 };
  const before = await events.textContent();
  await ixnS.restart();
  await waitText(events, /Reconnected and logged in again\./, 'the page logs in again after the server restarted', 20000);
  await waitText(list, /^billing 2$/, 'the answer of the new login sets the skills');
  check(!before.includes('Skills changed: billing 2.') && (await events.textContent()).includes('Skills changed: billing 2.'),
    'and a change after a re-login is announced');
  // Logout clears them.
  await ps.getByTestId('logout').click();
  await ps.getByTestId('login-view').waitFor({ state: 'visible', timeout: 8000 });
  check(await ps.getByTestId('skills').isHidden() && await list.textContent() === '', 'logging out clears the skills line');
});
