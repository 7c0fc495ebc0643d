/* The web agent desktop: speaks the wire protocol (docs/protocol.md) over the WebSocket at
 * /ws of the ixnserver that serves this page, one JSON message per text frame.
 *
 * One connection at a time. Every request gets a fresh referenceId on that connection and
 * is answered exactly once, in order; every message from the server carries seq 1, 2, 3 …
 * and a gap drops the connection. After a successful login a lost connection is retried
 * with a backoff of 1 s doubling up to 10 s, and the agent is logged in again with the
 * credentials kept in this tab's memory (the password never goes to any storage). */
'use strict';

(() => {
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 10000;
  const DEFAULT_IDLE_S = 30;
  const MAX_EVENTS = 100;
  const STORE_PREFIX = 'cc.desk.';
  // The protocol's limits for identifiers and free text; checked before sending so that
  // the agent gets a message in words instead of a server error naming a field.
  const ID_MAX = 128;
  const TEXT_MAX = 1024;
  const MEDIA_RE = /^[a-z][a-z0-9_-]{0,31}$/;
  // ?client=NAME registers as an AgentApplication entry of the server's [clients] (its
  // secret in the token field); without it, as web-desk with the desktops' token.
  const CLIENT_NAME = (new URLSearchParams(location.search).get('client') || '').slice(0, 128) || 'web-desk';

  const $ = (id) => document.getElementById(id);

  const ui = {
    serverName: $('server-name'), who: $('who'), conn: $('conn'), logout: $('logout'),
    banner: $('banner'), error: $('error'), errorText: $('error-text'),
    errorClose: $('error-close'),
    loginView: $('login-view'), loginForm: $('login-form'), loginSubmit: $('login-submit'),
    tenant: $('login-tenant'), agent: $('login-agent'), place: $('login-place'),
    password: $('login-password'), token: $('login-token'),
    loginMediaList: $('login-media-list'),
    deskView: $('desk-view'), dnd: $('dnd'), mediaRows: $('media-rows'),
    skills: $('skills'), skillsList: $('skills-list'),
    statusNote: $('status-note'), rule: $('rule'),
    invites: $('invites'), invitesEmpty: $('invites-empty'), invitesTitle: $('invites-title'),
    held: $('held'), heldEmpty: $('held-empty'), heldTitle: $('held-title'),
    events: $('events'),
    tplMedia: $('tpl-media-row'), tplInvite: $('tpl-invite'), tplHeld: $('tpl-held'),
  };

  const st = {
    config: { serverName: '', media: [], reasons: [], queues: [] },
    // {tenant, agent, place, password, token, media: [names]}; memory only.
    creds: null,
    conn: null,          // the current connection, see connect()
    online: false,       // logged in on the current connection
    keepOnline: false,   // a login succeeded and no logout since: reconnect when lost
    backoffMs: BACKOFF_MIN_MS,
    reconnectTimer: 0,
    reconnectAt: 0,
    attempt: 0,
    dnd: false,
    // The text of the skills shown (ccSkills.format), null while none are shown.
    skillsText: null,
    media: new Map(),    // name -> {ready, reason, status, row parts}
    invites: new Map(),  // interactionId -> {msg, deadline, el}
    held: new Map(),     // interactionId -> {msg, state, awDeadline, el}
    nextCard: 1,
  };

  /* ---------- small helpers ---------- */

  function store(key, value) {
    try {
      if (value === null) localStorage.removeItem(STORE_PREFIX + key);
      else localStorage.setItem(STORE_PREFIX + key, value);
    } catch (e) {
      // Storage may be disabled (private mode, policy); remembering is only a convenience.
    }
  }

  function recall(key) {
    try {
      return localStorage.getItem(STORE_PREFIX + key);
    } catch (e) {
      return null;
    }
  }

  function errorWords(err) {
    if (!err) return 'unknown error';
    const name = err.errorName || 'Error';
    const code = err.errorCode !== undefined ? ' (' + err.errorCode + ')' : '';
    const desc = err.errorDescription ? ': ' + err.errorDescription : '';
    return name + code + desc;
  }

  function showError(context, err) {
    const text = context + ' failed — ' + errorWords(err);
    ui.errorText.textContent = text;
    ui.error.hidden = false;
    logEvent(text, 'bad');
  }

  function clearError() {
    ui.error.hidden = true;
    ui.errorText.textContent = '';
  }

  function logEvent(text, kind) {
    const li = document.createElement('li');
    const time = document.createElement('time');
    const now = new Date();
    time.dateTime = now.toISOString();
    time.textContent = now.toLocaleTimeString();
    li.append(time, ' ', text);
    if (kind) li.className = kind;
    ui.events.prepend(li);
    while (ui.events.children.length > MAX_EVENTS) ui.events.lastElementChild.remove();
  }

  function setBanner(text) {
    ui.banner.textContent = text || '';
    ui.banner.hidden = !text;
  }

  function setConnState(text, cls) {
    ui.conn.textContent = text;
    ui.conn.className = 'conn ' + (cls || '');
    ui.conn.dataset.state = cls || '';
  }

  function fmtValue(v) {
    if (v === null) return 'null';
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }

  function fillUserData(dl, data) {
    dl.replaceChildren();
    const keys = data && typeof data === 'object' ? Object.keys(data) : [];
    if (keys.length === 0) {
      const dd = document.createElement('dd');
      dd.className = 'none';
      dd.textContent = 'No user data.';
      dl.append(dd);
      return;
    }
    for (const k of keys) {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = fmtValue(data[k]);
      dl.append(dt, dd);
    }
  }

  function secondsLeft(deadline) {
    return Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
  }

  /* ---------- configuration ---------- */

  async function loadConfig() {
    try {
      const r = await fetch('/desk-config.json', { cache: 'no-store' });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const c = await r.json();
      st.config = {
        serverName: typeof c.serverName === 'string' ? c.serverName : '',
        media: Array.isArray(c.media) ? c.media.filter((m) => typeof m === 'string') : [],
        reasons: Array.isArray(c.reasons)
          ? c.reasons.filter((x) => x && Number.isInteger(x.code) && typeof x.description === 'string')
          : [],
        // The transfer targets are the agent's tenant's, asked for after each login
        // (loadQueues): the page is open to everyone and names no queue.
        queues: st.config.queues,
      };
      ui.serverName.textContent = st.config.serverName ? '— ' + st.config.serverName : '';
      document.title = 'Agent desktop' + (st.config.serverName ? ' — ' + st.config.serverName : '');
      return true;
    } catch (e) {
      return false;
    }
  }

  function renderLoginMedia() {
    ui.loginMediaList.replaceChildren();
    let chosen = null;
    try {
      chosen = JSON.parse(recall('media') || 'null');
    } catch (e) {
      chosen = null;
    }
    if (st.config.media.length === 0) {
      // Without the server's list the agent names the media; the server checks them.
      const label = document.createElement('label');
      label.htmlFor = 'login-media-text';
      label.textContent = 'Media names, separated by commas';
      const input = document.createElement('input');
      input.id = 'login-media-text';
      input.dataset.testid = 'login-media-text';
      input.maxLength = 256;
      input.value = Array.isArray(chosen) ? chosen.join(', ') : '';
      ui.loginMediaList.append(label, input);
      return;
    }
    for (const m of st.config.media) {
      const label = document.createElement('label');
      label.className = 'check';
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.value = m;
      box.name = 'media';
      box.id = 'login-media-' + m;
      box.dataset.testid = 'login-media-' + m;
      box.checked = !Array.isArray(chosen) || chosen.includes(m);
      label.append(box, ' ' + m);
      ui.loginMediaList.append(label);
    }
  }

  function prefillLogin() {
    const q = new URLSearchParams(location.search);
    ui.tenant.value = q.get('tenant') || recall('tenant') || '';
    ui.agent.value = q.get('agent') || recall('agent') || '';
    ui.place.value = q.get('place') || recall('place') || '';
    ui.token.value = recall('token') || '';
  }

  /* ---------- connection ---------- */

  function wsUrl() {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  }

  /* Opens a connection and resolves once it is registered; rejects with an EventError-like
   * object when the socket closes first or the registration is refused. */
  function connect(token, clientName) {
    return new Promise((resolve, reject) => {
      const conn = {
        ws: null, expectSeq: 1, nextRef: 1, pending: new Map(), pingTimer: 0,
        pingRef: 0, pingSentAt: 0, closed: false, registered: false,
      };
      let ws;
      try {
        ws = new WebSocket(wsUrl());
      } catch (e) {
        reject({ errorName: 'ConnectionFailed', errorDescription: String(e.message || e) });
        return;
      }
      conn.ws = ws;
      st.conn = conn;
      ws.onopen = () => {
        const msg = { message: 'RequestRegisterClient', clientName, clientType: 'AgentApplication' };
        if (token) msg.token = token;
        request(conn, msg).then((ack) => {
          conn.registered = true;
          const idle = Number.isInteger(ack.idleTimeout) && ack.idleTimeout > 0 ? ack.idleTimeout : DEFAULT_IDLE_S;
          startPing(conn, idle);
          resolve(conn);
        }, (err) => {
          dropConnection(conn);
          reject(err);
        });
      };
      ws.onmessage = (ev) => onFrame(conn, ev.data);
      ws.onerror = () => {
        // The close event follows and carries what there is to know.
      };
      ws.onclose = (ev) => {
        const wasRegistered = conn.registered;
        closeConn(conn, ev.code);
        if (!wasRegistered) {
          reject({ errorName: 'ConnectionFailed', errorDescription: 'the server is unreachable or closed the connection (code ' + ev.code + ')' });
        }
      };
    });
  }

  /* Sends a request on conn and returns a promise of its EventAck; it rejects with the
   * EventError, or with a ConnectionLost error when the connection ends first. */
  function request(conn, msg) {
    return new Promise((resolve, reject) => {
      if (!conn || conn.closed || conn.ws.readyState !== WebSocket.OPEN) {
        reject({ errorName: 'NotConnected', errorDescription: 'no connection to the server' });
        return;
      }
      const ref = conn.nextRef++;
      msg.referenceId = ref;
      conn.pending.set(ref, { resolve, reject });
      conn.ws.send(JSON.stringify(msg));
    });
  }

  /* Sends a request on the current connection, for actions of the logged-in agent. */
  function agentRequest(msg) {
    if (!st.online) {
      return Promise.reject({ errorName: 'NotConnected', errorDescription: 'not connected; the desktop is reconnecting' });
    }
    return request(st.conn, msg);
  }

  function startPing(conn, idleSec) {
    // A third of the idle timeout, as the protocol asks. A ping still unanswered after a
    // whole idle timeout means the server stopped answering: drop and reconnect.
    conn.pingTimer = setInterval(() => {
      if (conn.pingRef && conn.pending.has(conn.pingRef)) {
        if (Date.now() - conn.pingSentAt >= idleSec * 1000) {
          logEvent('The server stopped answering; reconnecting.', 'bad');
          dropConnection(conn);
        }
        return;
      }
      const p = request(conn, { message: 'RequestPing' });
      conn.pingRef = conn.nextRef - 1;
      conn.pingSentAt = Date.now();
      p.catch(() => {});
    }, Math.max(100, (idleSec * 1000) / 3));
  }

  function dropConnection(conn) {
    if (conn.closed) return;
    try {
      conn.ws.close(1000);
    } catch (e) {
      // Closing a socket that is already closing throws nothing we need.
    }
    // Browsers deliver the close event later; treat the connection as gone right away so
    // that nothing more is sent on it.
    closeConn(conn, 1000);
  }

  function closeConn(conn, code) {
    if (conn.closed) return;
    conn.closed = true;
    clearInterval(conn.pingTimer);
    const lost = { errorName: 'ConnectionLost', errorDescription: 'the connection closed before the answer came' };
    for (const p of conn.pending.values()) p.reject(lost);
    conn.pending.clear();
    if (st.conn !== conn) return;
    st.conn = null;
    const wasOnline = st.online;
    st.online = false;
    if (st.keepOnline) {
      // A connection that never got as far as a login belongs to an attempt in progress,
      // and that attempt schedules the next one when it fails.
      if (wasOnline) {
        logEvent('Connection lost (code ' + code + ').', 'bad');
        markOffline();
        scheduleReconnect();
      }
    } else {
      setConnState('offline', 'offline');
    }
  }

  function onFrame(conn, data) {
    if (conn.closed) return;
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (e) {
      protocolFailure(conn, 'a message that is not JSON');
      return;
    }
    if (!msg || typeof msg !== 'object' || typeof msg.message !== 'string') {
      protocolFailure(conn, 'a message without a name');
      return;
    }
    if (msg.seq !== conn.expectSeq) {
      protocolFailure(conn, 'seq ' + msg.seq + ' where ' + conn.expectSeq + ' was due');
      return;
    }
    conn.expectSeq++;
    if ((msg.message === 'EventAck' || msg.message === 'EventError') && msg.referenceId !== undefined) {
      const p = conn.pending.get(msg.referenceId);
      if (!p) {
        protocolFailure(conn, 'an answer to unknown request ' + msg.referenceId);
        return;
      }
      conn.pending.delete(msg.referenceId);
      if (msg.message === 'EventAck') p.resolve(msg);
      else p.reject(msg);
      return;
    }
    if (msg.message === 'EventError') {
      showError('A message to the server', msg);
      return;
    }
    if (st.conn !== conn) return;
    switch (msg.message) {
      case 'EventCurrentAgentStatus': onStatus(msg); break;
      case 'EventPlaceAgentState': onAgentState(msg); break;
      case 'EventInvite': onInvite(msg); break;
      case 'EventRevoked': onRevoked(msg); break;
      case 'EventPartyRemoved': onEnded(msg, 'removed'); break;
      case 'EventInteractionEnded': onEnded(msg, 'ended'); break;
      case 'EventSupervisorAction': onSupervisorAction(msg); break;
      default: break; // Unknown events are ignored, as the protocol says of unknown fields.
    }
  }

  function protocolFailure(conn, what) {
    logEvent('The server sent ' + what + '; reconnecting.', 'bad');
    dropConnection(conn);
  }

  /* ---------- login, reconnect, logout ---------- */

  /* Registers and logs in; the connection returned keeps the login's EventAck in
   * conn.loginAck. */
  async function login(creds, relogin) {
    const conn = await connect(creds.token, CLIENT_NAME);
    const mediaList = {};
    for (const m of creds.media) {
      const ms = st.media.get(m);
      mediaList[m] = relogin && ms && ms.ready ? 1 : 0;
    }
    try {
      conn.loginAck = await request(conn, {
        message: 'RequestAgentLogin', tenant: creds.tenant, agentId: creds.agent,
        placeId: creds.place, password: creds.password, mediaList,
      });
    } catch (err) {
      dropConnection(conn);
      throw err;
    }
    loadQueues(conn);
    return conn;
  }

  /* Asks for the queues of the logged-in agent's tenant (RequestQueueStatus answers those
   * only), the transfer targets; an answer that does not come leaves the last list. */
  function loadQueues(conn) {
    request(conn, { message: 'RequestQueueStatus' }).then((ack) => {
      if (!Array.isArray(ack.queues)) return;
      st.config.queues = ack.queues.filter((q) => q && typeof q.tenant === 'string' &&
        typeof q.queue === 'string' && typeof q.media === 'string')
        .map((q) => ({ tenant: q.tenant, queue: q.queue, media: q.media }));
    }, () => {});
  }

  async function onLoginSubmit(ev) {
    ev.preventDefault();
    clearError();
    const typed = $('login-media-text');
    const media = typed
      ? [...new Set(typed.value.split(',').map((x) => x.trim()).filter((x) => x.length > 0))]
      : [...ui.loginMediaList.querySelectorAll('input[type=checkbox]')].filter((b) => b.checked).map((b) => b.value);
    if (media.some((m) => !MEDIA_RE.test(m))) {
      showError('Log in', { errorName: 'InvalidAttribute', errorDescription: 'a media name is a lowercase letter followed by up to 31 of a-z, 0-9, _ and -' });
      return;
    }
    const creds = {
      tenant: ui.tenant.value.trim(), agent: ui.agent.value.trim(), place: ui.place.value.trim(),
      password: ui.password.value, token: ui.token.value, media,
    };
    for (const [v, name] of [[creds.tenant, 'Tenant'], [creds.agent, 'Agent id'], [creds.place, 'Place']]) {
      if (v.length === 0 || new TextEncoder().encode(v).length > ID_MAX) {
        showError('Log in', { errorName: 'InvalidAttribute', errorDescription: name + ' must be 1 to ' + ID_MAX + ' bytes' });
        return;
      }
    }
    if (creds.password.length > TEXT_MAX || creds.token.length > TEXT_MAX) {
      showError('Log in', { errorName: 'InvalidAttribute', errorDescription: 'password and token are at most ' + TEXT_MAX + ' bytes' });
      return;
    }
    ui.loginSubmit.disabled = true;
    setConnState('connecting…', 'connecting');
    resetDesk();
    for (const m of media) st.media.set(m, { ready: false, reason: null, status: null, local: true });
    let conn;
    try {
      conn = await login(creds, false);
    } catch (err) {
      ui.loginSubmit.disabled = false;
      setConnState('offline', 'offline');
      st.media.clear();
      showError('Log in', err);
      ui.password.focus();
      return;
    }
    ui.loginSubmit.disabled = false;
    store('tenant', creds.tenant);
    store('agent', creds.agent);
    store('place', creds.place);
    store('token', creds.token || null);
    store('media', JSON.stringify(media));
    ui.password.value = '';
    st.creds = creds;
    st.keepOnline = true;
    st.backoffMs = BACKOFF_MIN_MS;
    goOnline();
    showDesk();
    logEvent('Logged in as ' + creds.agent + ' at ' + creds.place + '.', 'good');
    loginSkills(conn.loginAck);
  }

  function goOnline() {
    st.online = true;
    st.attempt = 0;
    setBanner('');
    setConnState('connected', 'connected');
    ui.who.textContent = st.creds.tenant + ' / ' + st.creds.agent + ' at ' + st.creds.place;
    ui.who.hidden = false;
    ui.logout.hidden = false;
  }

  function markOffline() {
    setConnState('reconnecting', 'reconnecting');
    // Without the connection the server logs the agent out: invitations are withdrawn,
    // handled interactions go back to their queues and after-work ends. The status shown
    // is stale until a new one arrives.
    for (const id of [...st.invites.keys()]) removeInvite(id);
    for (const id of [...st.held.keys()]) removeHeld(id);
    for (const ms of st.media.values()) {
      ms.status = null;
      renderMedia(ms);
    }
    ui.statusNote.hidden = false;
    ui.statusNote.textContent = 'Not connected: capacity unknown.';
    setControlsEnabled(false);
  }

  function scheduleReconnect() {
    clearTimeout(st.reconnectTimer);
    const delay = st.backoffMs;
    st.backoffMs = Math.min(BACKOFF_MAX_MS, st.backoffMs * 2);
    st.attempt++;
    st.reconnectAt = Date.now() + delay;
    updateBanner();
    st.reconnectTimer = setTimeout(reconnect, delay);
  }

  function updateBanner() {
    if (!st.keepOnline || st.online) return;
    if (st.reconnectTimer && st.reconnectAt > Date.now()) {
      setBanner('Connection to the server lost. Reconnecting in ' + secondsLeft(st.reconnectAt) +
        ' s (attempt ' + st.attempt + ')…');
    } else {
      setBanner('Connection to the server lost. Reconnecting now (attempt ' + st.attempt + ')…');
    }
  }

  async function reconnect() {
    st.reconnectTimer = 0;
    if (!st.keepOnline) return;
    updateBanner();
    await loadConfig();
    let conn;
    try {
      conn = await login(st.creds, true);
    } catch (err) {
      if (!st.keepOnline) return;
      // A refused password or token will not get better by retrying: back to the form.
      if (err.errorCode === 5) {
        forgetSession();
        showError('Logging in again', err);
        return;
      }
      if (err.errorCode !== undefined) logEvent('Logging in again failed — ' + errorWords(err), 'bad');
      scheduleReconnect();
      return;
    }
    if (!st.keepOnline) {
      dropConnection(conn);
      return;
    }
    st.backoffMs = BACKOFF_MIN_MS;
    goOnline();
    logEvent('Reconnected and logged in again.', 'good');
    loginSkills(conn.loginAck);
    await restoreState();
    setControlsEnabled(true);
  }

  /* After a new login the server knows only which media are ready; put back the
   * not-ready reasons and DND the agent had chosen. */
  async function restoreState() {
    for (const [m, ms] of st.media) {
      if (!ms.local || ms.ready || !ms.reason) continue;
      try {
        await agentRequest({ message: 'RequestChangeMediaStateReason', media: m, reason: ms.reason });
      } catch (err) {
        showError('Restoring the reason of ' + m, err);
      }
    }
    if (st.dnd) {
      try {
        await agentRequest({ message: 'RequestDoNotDisturbOn' });
      } catch (err) {
        st.dnd = false;
        ui.dnd.checked = false;
        showError('Restoring do-not-disturb', err);
      }
    }
  }

  async function onLogout() {
    clearError();
    ui.logout.disabled = true;
    try {
      await agentRequest({ message: 'RequestAgentLogout' });
    } catch (err) {
      ui.logout.disabled = false;
      showError('Log out', err);
      return;
    }
    ui.logout.disabled = false;
    const conn = st.conn;
    st.keepOnline = false;
    if (conn) dropConnection(conn);
    logEvent('Logged out.', '');
    forgetSession();
  }

  function forgetSession() {
    st.keepOnline = false;
    st.online = false;
    clearTimeout(st.reconnectTimer);
    st.reconnectTimer = 0;
    if (st.conn) dropConnection(st.conn);
    if (st.creds) st.creds.password = '';
    st.creds = null;
    setBanner('');
    setConnState('offline', 'offline');
    resetDesk();
    ui.who.hidden = true;
    ui.logout.hidden = true;
    ui.deskView.hidden = true;
    ui.loginView.hidden = false;
    renderLoginMedia();
    ui.password.focus();
  }

  /* ---------- desk view ---------- */

  function resetDesk() {
    for (const id of [...st.invites.keys()]) removeInvite(id);
    for (const id of [...st.held.keys()]) removeHeld(id);
    st.media.clear();
    st.dnd = false;
    ui.dnd.checked = false;
    ui.mediaRows.replaceChildren();
    ui.statusNote.hidden = false;
    ui.statusNote.textContent = 'Waiting for the first status from the reporting engine.';
    ui.rule.hidden = true;
    clearSkills();
  }

  /* ---------- skills ---------- */

  function clearSkills() {
    st.skillsText = null;
    ui.skillsList.replaceChildren();
    ui.skills.hidden = true;
  }

  /* Shows the skills object v sent by the server (routing.md section 1) and returns
   * whether the text shown changed. A v that is not a skills object changes nothing. */
  function showSkills(v) {
    const p = ccSkills.parse(v);
    if (!p) return false;
    const text = ccSkills.format(p);
    if (text === st.skillsText) return false;
    st.skillsText = text;
    const list = ui.skillsList;
    list.replaceChildren();
    const none = p.list.length === 0;
    list.classList.toggle('none', none);
    list.dataset.count = String(p.list.length);
    if (none) list.textContent = text;
    p.list.forEach(([name, level], i) => {
      if (i) list.append(sep());
      const span = document.createElement('span');
      span.className = 'skill';
      span.dataset.skill = name;
      span.dataset.level = String(level);
      const b = document.createElement('b');
      b.textContent = String(level);
      span.append(name + ' ', b);
      list.append(span);
    });
    if (p.more > 0) {
      const more = document.createElement('span');
      more.className = 'more';
      more.textContent = '+' + p.more + ' more';
      list.append(sep(), more);
    }
    ui.skills.hidden = false;
    return true;
  }

  function sep() {
    const s = document.createElement('span');
    s.className = 'sep';
    s.textContent = ccSkills.SEP;
    return s;
  }

  /* The skills of a login's (or re-login's) EventAck. A server that reports none (no
   * `skills`) shows no line; after a re-login a change is announced. */
  function loginSkills(ack) {
    const before = st.skillsText;
    if (!ack || ccSkills.parse(ack.skills) === null) {
      clearSkills();
      return;
    }
    if (showSkills(ack.skills) && before !== null) logEvent('Skills changed: ' + st.skillsText + '.', '');
  }

  /* Skills carried by a later event of this agent: a changed configuration (cause
   * SkillsChanged) takes effect at once, without a new login. */
  function eventSkills(msg) {
    if (!('skills' in msg) || !st.creds) return;
    const before = st.skillsText;
    if (showSkills(msg.skills) && before !== null) logEvent('Skills changed: ' + st.skillsText + '.', '');
  }

  function onAgentState(msg) {
    // Only this agent's state is of interest here; the server sends no other.
    if (!st.creds || msg.tenant !== st.creds.tenant || msg.agentId !== st.creds.agent) return;
    eventSkills(msg);
  }

  function showDesk() {
    ui.loginView.hidden = true;
    ui.deskView.hidden = false;
    ui.mediaRows.replaceChildren();
    for (const [m, ms] of st.media) buildMediaRow(m, ms);
    setControlsEnabled(true);
    const first = ui.mediaRows.querySelector('input');
    (first || ui.dnd).focus();
  }

  function setControlsEnabled(on) {
    ui.dnd.disabled = !on;
    for (const ms of st.media.values()) {
      if (!ms.row) continue;
      ms.row.ready.disabled = !on || !ms.local || ms.busy;
      ms.row.reason.disabled = !on || !ms.local || ms.busy;
    }
    for (const el of document.querySelectorAll('.card button, .card select')) {
      el.disabled = !on;
    }
  }

  function reasonOptions(select, current) {
    select.replaceChildren();
    const none = document.createElement('option');
    none.value = '';
    none.textContent = '(no reason)';
    select.append(none);
    const reasons = st.config.reasons.slice();
    if (current && !reasons.some((r) => r.code === current.code)) reasons.push(current);
    for (const r of reasons) {
      const o = document.createElement('option');
      o.value = String(r.code);
      o.textContent = r.description + ' (' + r.code + ')';
      select.append(o);
    }
    select.value = current ? String(current.code) : '';
  }

  function selectedReason(select) {
    if (select.value === '') return null;
    const code = Number(select.value);
    const r = st.config.reasons.find((x) => x.code === code);
    const text = r ? r.description : select.selectedOptions[0].textContent;
    return { code, description: text };
  }

  function buildMediaRow(m, ms) {
    const frag = ui.tplMedia.content.cloneNode(true);
    const tr = frag.querySelector('tr');
    tr.dataset.testid = 'media-row-' + m;
    tr.dataset.media = m;
    const row = {
      tr,
      name: tr.querySelector('.m-name'),
      ready: tr.querySelector('.m-ready'),
      readyText: tr.querySelector('.m-ready-text'),
      reason: tr.querySelector('.m-reason'),
      reasonLabel: tr.querySelector('.m-reason-label'),
      bar: tr.querySelector('.bar'),
      fill: tr.querySelector('.bar-fill'),
      capText: tr.querySelector('.m-cap-text'),
    };
    row.name.textContent = m;
    row.ready.id = 'ready-' + m;
    row.ready.dataset.testid = 'ready-' + m;
    row.ready.setAttribute('aria-label', 'Ready for ' + m);
    row.reason.id = 'reason-' + m;
    row.reason.dataset.testid = 'reason-' + m;
    row.reasonLabel.htmlFor = row.reason.id;
    row.reasonLabel.textContent = 'Not-ready reason for ' + m;
    row.bar.dataset.testid = 'bar-' + m;
    row.bar.setAttribute('aria-label', m + ' capacity');
    row.capText.id = 'cap-' + m;
    row.capText.dataset.testid = 'cap-' + m;
    row.bar.setAttribute('aria-describedby', row.capText.id);
    reasonOptions(row.reason, ms.reason);
    row.ready.addEventListener('change', () => onReadyToggle(m));
    row.reason.addEventListener('change', () => onReasonChange(m));
    ms.row = row;
    ui.mediaRows.append(tr);
    renderMedia(ms);
  }

  function renderMedia(ms) {
    const row = ms.row;
    if (!row) return;
    row.ready.checked = ms.ready;
    row.readyText.textContent = ms.local ? (ms.ready ? 'Ready' : 'Not ready') : 'on another server';
    row.tr.dataset.ready = ms.ready ? 'true' : 'false';
    const s = ms.status;
    if (!s) {
      row.fill.style.width = '0%';
      row.bar.removeAttribute('aria-valuenow');
      row.bar.dataset.current = '';
      row.bar.dataset.max = '';
      row.bar.dataset.available = '';
      row.bar.className = 'bar unknown';
      row.capText.textContent = 'no status yet';
      return;
    }
    const unlimited = s.max >= 255;
    const frac = s.max > 0 ? Math.min(1, s.current / (unlimited ? Math.max(s.current, 10) : s.max)) : (s.current > 0 ? 1 : 0);
    row.fill.style.width = Math.round(frac * 100) + '%';
    row.bar.setAttribute('aria-valuemax', String(s.max));
    row.bar.setAttribute('aria-valuenow', String(s.current));
    row.bar.dataset.current = String(s.current);
    row.bar.dataset.max = String(s.max);
    row.bar.dataset.available = String(s.available);
    const full = s.max > 0 && s.current >= s.max;
    row.bar.className = 'bar' + (s.ready ? '' : ' notready') + (full ? ' full' : '');
    const maxText = unlimited ? 'no limit' : String(s.max);
    let avail;
    if (!s.ready) avail = 'not available' + (st.dnd ? ' (DND)' : '');
    else if (s.max === 0) avail = 'blocked by the capacity rule';
    else if (s.available >= 255) avail = 'no limit available';
    else avail = s.available + ' available';
    row.capText.textContent = s.current + ' of ' + maxText + ' · ' + avail;
  }

  function onStatus(msg) {
    eventSkills(msg);
    if (!msg.media || typeof msg.media !== 'object') return;
    ui.statusNote.hidden = true;
    for (const [m, v] of Object.entries(msg.media)) {
      if (!v || typeof v !== 'object') continue;
      let ms = st.media.get(m);
      if (!ms) {
        // A media the agent added on another interaction server: shown, not switchable here.
        ms = { ready: Boolean(v.ready), reason: null, status: null, local: false };
        st.media.set(m, ms);
        buildMediaRow(m, ms);
        setControlsEnabled(st.online);
      }
      ms.status = {
        ready: Boolean(v.ready), current: Number(v.current) || 0, max: Number(v.max) || 0,
        available: Number(v.available) || 0,
      };
      if (!ms.local) ms.ready = Boolean(v.ready);
      renderMedia(ms);
    }
    if (typeof msg.rule === 'string') {
      ui.rule.textContent = 'Capacity rule: ' + msg.rule;
      ui.rule.hidden = false;
    }
  }

  async function onReadyToggle(m) {
    const ms = st.media.get(m);
    if (!ms || !ms.row) return;
    const wantReady = ms.row.ready.checked;
    const reason = selectedReason(ms.row.reason);
    const msg = wantReady
      ? { message: 'RequestCancelNotReadyForMedia', media: m }
      : { message: 'RequestNotReadyForMedia', media: m };
    if (!wantReady && reason) msg.reason = reason;
    ms.busy = true;
    setControlsEnabled(st.online);
    try {
      await agentRequest(msg);
      ms.ready = wantReady;
      ms.reason = wantReady ? null : reason;
      logEvent(m + ': ' + (wantReady ? 'ready' : 'not ready' + (reason ? ' (' + reason.description + ')' : '')) + '.', '');
    } catch (err) {
      showError((wantReady ? 'Ready for ' : 'Not ready for ') + m, err);
    }
    ms.busy = false;
    renderMedia(ms);
    setControlsEnabled(st.online);
    ms.row.ready.focus();
  }

  async function onReasonChange(m) {
    const ms = st.media.get(m);
    if (!ms || !ms.row || ms.ready) return; // While ready the picker only prepares the next not-ready.
    const reason = selectedReason(ms.row.reason);
    const msg = reason
      ? { message: 'RequestChangeMediaStateReason', media: m, reason }
      : { message: 'RequestNotReadyForMedia', media: m };
    try {
      await agentRequest(msg);
      ms.reason = reason;
      logEvent(m + ': reason ' + (reason ? reason.description : 'cleared') + '.', '');
    } catch (err) {
      reasonOptions(ms.row.reason, ms.reason);
      showError('Changing the reason for ' + m, err);
    }
  }

  async function onDndToggle() {
    const want = ui.dnd.checked;
    ui.dnd.disabled = true;
    try {
      await agentRequest({ message: want ? 'RequestDoNotDisturbOn' : 'RequestDoNotDisturbOff' });
      st.dnd = want;
      logEvent('Do not disturb ' + (want ? 'on' : 'off') + '.', '');
    } catch (err) {
      ui.dnd.checked = st.dnd;
      showError('Do not disturb ' + (want ? 'on' : 'off'), err);
    }
    ui.dnd.disabled = !st.online;
    for (const ms of st.media.values()) renderMedia(ms);
  }

  /* ---------- interactions ---------- */

  function updateEmpty() {
    ui.invitesEmpty.hidden = st.invites.size > 0;
    ui.heldEmpty.hidden = st.held.size > 0;
  }

  /* Moves the focus out of a card that is about to go, so keyboard users are not lost. */
  function rescueFocus(el, fallback) {
    if (!el.contains(document.activeElement)) return;
    const next = el.nextElementSibling || el.previousElementSibling;
    const target = next ? next.querySelector('button') : null;
    if (target) {
      target.focus();
    } else {
      fallback.tabIndex = -1;
      fallback.focus();
    }
  }

  function onInvite(msg) {
    const id = msg.interactionId;
    if (typeof id !== 'string' || st.invites.has(id) || st.held.has(id)) return;
    const timeout = Number.isFinite(msg.timeoutSec) && msg.timeoutSec > 0 ? msg.timeoutSec : 0;
    const frag = ui.tplInvite.content.cloneNode(true);
    const el = frag.querySelector('li');
    const n = st.nextCard++;
    el.id = 'invite-' + n;
    el.dataset.testid = 'invite';
    el.dataset.interactionId = id;
    el.dataset.media = String(msg.media || '');
    const title = el.querySelector('.c-title');
    title.id = 'invite-title-' + n;
    title.textContent = (msg.media || '?') + ' from ' + (msg.queue || '?') + ' — ' + id;
    el.setAttribute('aria-labelledby', title.id);
    fillUserData(el.querySelector('.c-data'), msg.userData);
    el.querySelector('.c-data').dataset.testid = 'userdata';
    const cd = el.querySelector('.c-countdown');
    cd.dataset.testid = 'countdown';
    const accept = el.querySelector('.c-accept');
    accept.dataset.testid = 'accept';
    accept.setAttribute('aria-describedby', title.id);
    const reject = el.querySelector('.c-reject');
    reject.dataset.testid = 'reject';
    reject.setAttribute('aria-describedby', title.id);
    const inv = { msg, deadline: timeout ? Date.now() + timeout * 1000 : 0, el, cd, accept, reject };
    st.invites.set(id, inv);
    accept.addEventListener('click', () => onAccept(id));
    reject.addEventListener('click', () => onReject(id));
    ui.invites.append(el);
    tickInvite(inv);
    updateEmpty();
    logEvent('Invitation: ' + (msg.media || '?') + ' from queue ' + (msg.queue || '?') + ' (' + id + ')' +
      (timeout ? ', answer within ' + timeout + ' s.' : '.'), 'new');
  }

  function tickInvite(inv) {
    if (!inv.deadline) {
      inv.cd.textContent = 'No time limit.';
      return;
    }
    const left = secondsLeft(inv.deadline);
    inv.cd.textContent = left > 0 ? 'Answer within ' + left + ' s.' : 'Time is up; waiting for the server.';
    inv.cd.dataset.seconds = String(left);
    inv.el.classList.toggle('urgent', left <= 5);
  }

  function removeInvite(id) {
    const inv = st.invites.get(id);
    if (!inv) return null;
    rescueFocus(inv.el, ui.invitesTitle);
    inv.el.remove();
    st.invites.delete(id);
    updateEmpty();
    return inv;
  }

  async function onAccept(id) {
    const inv = st.invites.get(id);
    if (!inv) return;
    inv.accept.disabled = inv.reject.disabled = true;
    try {
      await agentRequest({ message: 'RequestAccept', interactionId: id });
    } catch (err) {
      if (st.invites.has(id)) inv.accept.disabled = inv.reject.disabled = !st.online;
      showError('Accept ' + id, err);
      return;
    }
    removeInvite(id);
    addHeld(inv.msg);
    logEvent('Accepted ' + id + '.', 'good');
  }

  async function onReject(id) {
    const inv = st.invites.get(id);
    if (!inv) return;
    inv.accept.disabled = inv.reject.disabled = true;
    try {
      await agentRequest({ message: 'RequestReject', interactionId: id });
    } catch (err) {
      if (st.invites.has(id)) inv.accept.disabled = inv.reject.disabled = !st.online;
      showError('Reject ' + id, err);
      return;
    }
    removeInvite(id);
    logEvent('Rejected ' + id + '.', '');
  }

  function queuesFor(media) {
    const tenant = st.creds ? st.creds.tenant : '';
    return st.config.queues.filter((q) => q.tenant === tenant && q.media === media);
  }

  function addHeld(msg) {
    const id = msg.interactionId;
    const frag = ui.tplHeld.content.cloneNode(true);
    const el = frag.querySelector('li');
    const n = st.nextCard++;
    el.id = 'held-' + n;
    el.dataset.testid = 'held';
    el.dataset.interactionId = id;
    el.dataset.media = String(msg.media || '');
    el.dataset.state = 'Handling';
    const title = el.querySelector('.c-title');
    title.id = 'held-title-' + n;
    title.textContent = (msg.media || '?') + ' from ' + (msg.queue || '?') + ' — ' + id;
    el.setAttribute('aria-labelledby', title.id);
    const stateP = el.querySelector('.c-state');
    stateP.dataset.testid = 'held-state';
    stateP.textContent = 'Handling';
    fillUserData(el.querySelector('.c-data'), msg.userData);
    el.querySelector('.c-data').dataset.testid = 'userdata';
    const done = el.querySelector('.c-done');
    done.dataset.testid = 'done';
    done.setAttribute('aria-describedby', title.id);
    const qsel = el.querySelector('.c-queue');
    qsel.id = 'held-queue-' + n;
    qsel.dataset.testid = 'transfer-queue';
    el.querySelector('.c-transfer-label').htmlFor = qsel.id;
    const queues = queuesFor(msg.media);
    for (const q of queues) {
      const o = document.createElement('option');
      o.value = q.queue;
      o.textContent = q.queue;
      qsel.append(o);
    }
    const other = queues.find((q) => q.queue !== msg.queue);
    if (other) qsel.value = other.queue;
    const transfer = el.querySelector('.c-transfer');
    transfer.dataset.testid = 'transfer';
    transfer.setAttribute('aria-describedby', title.id);
    const hasQueues = queues.length > 0;
    qsel.hidden = transfer.hidden = el.querySelector('.c-transfer-label').hidden = !hasQueues;
    const complete = el.querySelector('.c-complete');
    complete.dataset.testid = 'complete-after-work';
    complete.setAttribute('aria-describedby', title.id);
    const h = {
      msg, state: 'Handling', awDeadline: 0, el, stateP, done, qsel, transfer, complete,
      handlingBox: el.querySelector('.c-handling'), awBox: el.querySelector('.c-afterwork'),
    };
    st.held.set(id, h);
    done.addEventListener('click', () => onDone(id));
    transfer.addEventListener('click', () => onTransfer(id));
    complete.addEventListener('click', () => onComplete(id));
    ui.held.append(el);
    updateEmpty();
    done.focus();
  }

  function removeHeld(id) {
    const h = st.held.get(id);
    if (!h) return null;
    rescueFocus(h.el, ui.heldTitle);
    h.el.remove();
    st.held.delete(id);
    updateEmpty();
    return h;
  }

  function setHeldBusy(h, busy) {
    for (const b of [h.done, h.transfer, h.qsel, h.complete]) b.disabled = busy || !st.online;
  }

  async function onDone(id) {
    const h = st.held.get(id);
    if (!h) return;
    setHeldBusy(h, true);
    let ack;
    try {
      ack = await agentRequest({ message: 'RequestStopProcessing', interactionId: id });
    } catch (err) {
      if (st.held.has(id)) setHeldBusy(h, false);
      showError('Done with ' + id, err);
      return;
    }
    const aw = Number.isInteger(ack.afterWorkSec) ? ack.afterWorkSec : 0;
    if (aw <= 0) {
      removeHeld(id);
      logEvent('Finished ' + id + '.', '');
      return;
    }
    h.state = 'AfterWork';
    h.awDeadline = Date.now() + aw * 1000;
    h.el.dataset.state = 'AfterWork';
    h.handlingBox.hidden = true;
    h.awBox.hidden = false;
    setHeldBusy(h, false);
    tickAfterWork(h);
    h.complete.focus();
    logEvent('After-work for ' + id + ': ' + aw + ' s.', '');
  }

  function tickAfterWork(h) {
    const left = secondsLeft(h.awDeadline);
    h.stateP.textContent = left > 0 ? 'After-work: ' + left + ' s left' : 'After-work: time is up';
    h.stateP.dataset.seconds = String(left);
  }

  async function onComplete(id) {
    const h = st.held.get(id);
    if (!h) return;
    setHeldBusy(h, true);
    try {
      await agentRequest({ message: 'RequestCompleteAfterWork', interactionId: id });
    } catch (err) {
      if (st.held.has(id)) setHeldBusy(h, false);
      showError('Finishing after-work of ' + id, err);
      return;
    }
    removeHeld(id);
    logEvent('After-work of ' + id + ' finished.', '');
  }

  async function onTransfer(id) {
    const h = st.held.get(id);
    if (!h) return;
    const queue = h.qsel.value;
    if (!queue) return;
    setHeldBusy(h, true);
    try {
      await agentRequest({ message: 'RequestPlaceInQueue', interactionId: id, queue });
    } catch (err) {
      if (st.held.has(id)) setHeldBusy(h, false);
      showError('Transfer of ' + id + ' to ' + queue, err);
      return;
    }
    removeHeld(id);
    logEvent('Transferred ' + id + ' to queue ' + queue + '.', '');
  }

  // A supervisor acted on this agent (docs/protocol.md, "Supervisor actions"): said in the
  // event list, naming the supervisor; a forced logout ends the session like a logout.
  function onSupervisorAction(msg) {
    const who = 'Supervisor ' + String(msg.supervisor || '?');
    const r = msg.reason;
    let why = '';
    if (r && typeof r === 'object') why = ' (' + [r.code, r.description].filter((v) => v !== undefined && v !== null && v !== '').join(' ') + ')';
    else if (typeof r === 'string' && r) why = ' (' + r + ')';
    let text;
    switch (msg.action) {
      case 'ForceNotReady': text = who + ' made you not ready for ' + msg.media + why + '.'; break;
      case 'ForceLogout': text = who + ' logged you out' + why + '.'; break;
      case 'RevokeInteraction': text = who + ' took ' + msg.interactionId + ' back to its queue' + why + '.'; break;
      case 'Reassign': text = who + ' reassigned ' + msg.interactionId + why + '.'; break;
      default: text = who + ' did ' + String(msg.action) + why + '.';
    }
    logEvent(text, 'supervisor');
    const ms = msg.action === 'ForceNotReady' ? st.media.get(msg.media) : null;
    if (ms && ms.local) {
      // The server made the media not ready: the switch and the reason follow.
      ms.ready = false;
      ms.reason = r && typeof r === 'object' && Number.isInteger(r.code)
        ? { code: r.code, description: String(r.description || r.code) } : null;
      if (ms.row) reasonOptions(ms.row.reason, ms.reason);
      renderMedia(ms);
    }
    if (msg.action === 'ForceLogout') {
      forgetSession();
      setBanner(text);
    }
  }

  function onRevoked(msg) {
    const id = msg.interactionId;
    const why = msg.reason === 'Timeout' ? 'not answered in time'
      : msg.reason === 'Stopped' ? 'the customer left'
        : msg.reason === 'Supervisor' ? 'taken by a supervisor' : String(msg.reason || 'no reason given');
    if (removeInvite(id) || removeHeld(id)) {
      logEvent('Invitation ' + id + ' withdrawn: ' + why + '.', 'bad');
    }
  }

  function onEnded(msg, kind) {
    const id = msg.interactionId;
    if (!removeHeld(id)) return;
    let why;
    if (msg.reason === 'Stopped') why = 'the customer left';
    else if (msg.reason === 'AfterWorkEnded') why = 'after-work time is over';
    else if (msg.reason === 'Supervisor') why = 'taken by a supervisor';
    else why = String(msg.reason || 'no reason given');
    logEvent('Interaction ' + id + ' ' + kind + ': ' + why + '.', kind === 'ended' ? '' : 'bad');
  }

  function tick() {
    for (const inv of st.invites.values()) tickInvite(inv);
    for (const h of st.held.values()) if (h.state === 'AfterWork') tickAfterWork(h);
    updateBanner();
  }

  /* ---------- start ---------- */

  async function start() {
    ui.loginForm.addEventListener('submit', onLoginSubmit);
    ui.logout.addEventListener('click', onLogout);
    ui.dnd.addEventListener('change', onDndToggle);
    ui.errorClose.addEventListener('click', clearError);
    prefillLogin();
    setConnState('offline', 'offline');
    setInterval(tick, 250);
    if (!(await loadConfig())) {
      showError('Loading the desktop configuration', { errorName: 'Unavailable', errorDescription: 'could not read /desk-config.json' });
    }
    renderLoginMedia();
    const empty = [ui.tenant, ui.agent, ui.place, ui.password].find((i) => !i.value);
    (empty || ui.loginSubmit).focus();
    document.body.dataset.ready = 'true';
  }

  start();
})();
