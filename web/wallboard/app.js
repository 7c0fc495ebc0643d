// Supervisor wallboard: a StatClient of the statserver over WebSocket (GET /ws), speaking
// the wire protocol of docs/protocol.md. It subscribes to the agent statuses of the chosen
// tenants and shows one tile per agent, totals per media and the interaction servers.
//
// Built to stay fluid with 10,000 agents: a message only updates the agent's record and
// marks it dirty; once per animation frame the dirty tiles that are on screen (and nothing
// else) are written to the DOM. The board is virtual: only the tiles in and near the
// visible part of the board exist, placed absolutely by this script on a grid of
// fixed-size cells, so the DOM holds a few hundred tiles whatever the number of agents.
// Totals are kept incrementally, and sort keys that change with load re-sort at most once
// per RESORT_MS so tiles do not jump on every event.
//
// An agent that holds more of a ready media than its max (current > max) is marked "over"
// on its tile and its media row: routing never does that, but a rule reload that lowers
// a max, or a routing bug, can leave an agent there, and a supervisor must see it.
//
// A tile shows the not-ready reason of the agent's media and the time in its current
// state, counting up each second; both come from the status (each media's `reason` and
// `since`, docs/statserver.md).
//
// The queue panel lists the queues of RequestQueueList (the queues of this client's tenants
// the statserver's statistics engine knows, asked again every QUEUE_LIST_MS) and opens five statistics per
// queue with notify "changes": Waiting, OldestWait, and over the day ServiceLevel,
// AverageSpeedOfAnswer and Abandoned; the service level is coloured against the
// statserver's service-level-target. The chart of the selected queue's last hour is
// sampled here, in the page, every SAMPLE_S seconds (?sample=N for another period): it
// starts empty when the page opens.
//
// Supervisor actions: with supervisor credentials (a [clients] entry of type Supervisor on
// the interaction servers) the page also connects to each interaction server's /ws as a
// Supervisor, and a click on an agent's tile opens a panel that lists what the agent
// holds and offers force not ready, force logout, revoke and reassign
// (docs/web-wallboard.md, "Supervisor actions").
'use strict';

(() => {
  const STORE_TOKEN = 'cc.wallboard.token';
  const STORE_TENANTS = 'cc.wallboard.tenants';
  const SERVER_LIST_MS = 2000;
  const BACKOFF_MIN_MS = 100;
  const BACKOFF_MAX_MS = 5000;
  // While a snapshot arrives, the board re-sorts at most this often (new agents appear).
  const SNAPSHOT_SORT_MS = 250;
  // Rows of tiles kept beyond the visible ones, above and below, for smooth scrolling.
  const OVERSCAN_ROWS = 2;
  // Re-sorting by load or state at most this often, so tiles do not jump on every event.
  const RESORT_MS = 1000;
  // The protocol's default line maximum: a longer message is not sent.
  const MAX_MESSAGE = 65536;
  // How often the queue list is asked for again (queues appear with their first visit).
  const QUEUE_LIST_MS = 10000;
  // The statistics of a queue row, in column order.
  const QUEUE_STATS = ['Waiting', 'OldestWait', 'ServiceLevel', 'AverageSpeedOfAnswer', 'Abandoned'];
  // The chart's span and its default sampling period.
  const CHART_SPAN_MS = 3600 * 1000;
  const SAMPLE_S_DEFAULT = 10;
  // Below the target by at most this many points, the service level is shown as a warning.
  const SL_WARN_POINTS = 10;
  // Tile geometry in CSS pixels; style.css sizes the tile's content to fit TILE_H.
  const TILE_H = 136;
  const TILE_MIN_W = 150;
  const GAP = 8;
  const STATE_ORDER = { ready: 0, full: 1, notready: 2, dnd: 3, loggedout: 4 };
  const STATE_LABEL = { ready: 'Ready', full: 'Full', notready: 'Not ready', dnd: 'DND', loggedout: 'Logged out' };
  const ERROR_WORDS = {
    4: 'the statserver expected a registration first',
    5: 'the statserver refused the token or this request (check the name and token fields)',
    12: 'the statserver has reached a limit (connections or rate)',
    14: 'the statserver cannot do that right now',
  };

  const $ = (id) => document.getElementById(id);
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

  // ---- state ----

  /** key "tenant/agentId" -> agent record; see newAgent(). */
  const agents = new Map();
  /** media -> {ready, held, left, max} over logged-in agents, kept incrementally. */
  const totals = new Map();
  const mediaSeen = new Set();
  const dirty = new Set();
  let frameScheduled = false;
  let laterTimer = null;
  let newAgents = false;
  let orderDirty = false;
  let filterDirty = false;
  let placeDirty = false;
  let viewDirty = false;
  /** Every agent, in sort order (as of the last applyOrder()). */
  let sorted = [];
  /** The agents the filters let through, in sort order: the board's cells. */
  let view = [];
  /** Agents that have a tile in the DOM now. */
  const live = new Set();
  const layout = { cols: 0, tw: 0 };
  let lastSort = 0;
  let loggedInCount = 0;
  /** Logged-in agents marked over capacity. */
  let overCount = 0;
  let tenantsShown = new Set();

  // Instrumentation read by the browser tests (tests/browser/wallboard.test.mjs): what the
  // page did, so a test can prove that one status updates one tile and not the board.
  const stats = {
    messages: 0, statuses: 0, frames: 0, tileRenders: 0, tilesCreated: 0, resorts: 0,
    maxFrameMs: 0, lastFrameMs: 0, snapshotDone: 0, connects: 0,
  };
  window.wallboard = {
    stats,
    agents,
    /** The keys ("tenant/agentId") of the tiles shown, in board order. */
    order: () => view.map((a) => a.key),
    /** key "server/tenant/id" -> queue record: values (statistic -> value), samples. */
    queues: new Map(),
    /** Takes one chart sample now (the tests do not wait for the period). */
    sample: () => sampleQueues(),
  };

  // ---- connection ----

  let ws = null;
  let connGen = 0;
  let seq = 0;
  let ref = 0;
  const pending = new Map();
  let serverTimer = null;
  let queueTimer = null;
  let pingTimer = null;
  let reconnectTimer = null;
  let backoff = BACKOFF_MIN_MS;
  let wantConnected = false;
  let lastSent = 0;
  let idleTimeoutS = 30;
  /** Agents seen in the snapshot of the current subscription (null outside one). */
  let snapshotKeys = null;

  function setConn(state, text) {
    const el = document.querySelector('[data-testid="conn"]');
    el.dataset.state = state;
    el.querySelector('[data-testid="conn-text"]').textContent = text;
  }

  function showBanner(text, kind) {
    const b = $('banner');
    if (!text) {
      b.hidden = true;
      b.textContent = '';
      return;
    }
    b.hidden = false;
    b.dataset.kind = kind || 'error';
    b.textContent = text;
  }

  function send(obj) {
    const text = JSON.stringify(obj);
    if (text.length > MAX_MESSAGE || !ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(text);
    lastSent = Date.now();
    return true;
  }

  /** Sends a request; onAnswer(msg) gets its EventAck or EventError. */
  function request(obj, onAnswer) {
    const id = ++ref;
    pending.set(id, onAnswer || (() => {}));
    send({ ...obj, referenceId: id });
  }

  function errorText(m) {
    const words = ERROR_WORDS[m.errorCode];
    const what = m.errorDescription ? `: ${m.errorDescription}` : '';
    return `${words ? words[0].toUpperCase() + words.slice(1) : 'Error'} (${m.errorName || 'error ' + m.errorCode}${what}).`;
  }

  function stopTimers() {
    clearInterval(serverTimer);
    clearInterval(pingTimer);
    clearInterval(queueTimer);
    serverTimer = null;
    pingTimer = null;
    queueTimer = null;
  }

  function connect() {
    const token = $('token').value;
    const tenants = $('tenants').value.split(',').map((t) => t.trim()).filter((t) => t);
    try {
      localStorage.setItem(STORE_TOKEN, token);
      localStorage.setItem(STORE_TENANTS, tenants.join(', '));
    } catch (e) {
      // Private windows may refuse storage; the board still works for this visit.
    }
    const newSet = new Set(tenants);
    if (newSet.size !== tenantsShown.size || [...newSet].some((t) => !tenantsShown.has(t))) clearBoard();
    tenantsShown = newSet;
    wantConnected = true;
    backoff = BACKOFF_MIN_MS;
    open(token, tenants);
  }

  function open(token, tenants) {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    if (ws) {
      const old = ws;
      ws = null;
      old.onclose = null;
      old.close();
    }
    stopTimers();
    pending.clear();
    seq = 0;
    ref = 0;
    snapshotKeys = null;
    const gen = ++connGen;
    setConn('connecting', 'Connecting…');
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let sock;
    try {
      sock = new WebSocket(`${proto}//${location.host}/ws`);
    } catch (e) {
      lost(`Cannot open the connection: ${e.message}`);
      return;
    }
    ws = sock;
    sock.onopen = () => {
      if (gen !== connGen) return;
      const clientName = $('client-name').value.trim() || 'wallboard';
      request({ message: 'RequestRegisterClient', clientName, clientType: 'StatClient', token }, (m) => {
        if (m.message !== 'EventAck') {
          // A refused token will be refused again: wait for the supervisor to fix it.
          wantConnected = false;
          setConn('error', 'Refused');
          showBanner(`Registration refused. ${errorText(m)}`);
          sock.close();
          return;
        }
        if (Number.isInteger(m.idleTimeout) && m.idleTimeout > 0) idleTimeoutS = m.idleTimeout;
        stats.connects++;
        backoff = BACKOFF_MIN_MS;
        setConn('connected', `Connected to ${m.serverName || 'statserver'}`);
        showBanner('');
        subscribe(tenants);
        startQueues();
        pollServers();
        serverTimer = setInterval(pollServers, SERVER_LIST_MS);
        pingTimer = setInterval(() => {
          if (Date.now() - lastSent >= (idleTimeoutS * 1000) / 3) request({ message: 'RequestPing' });
        }, 1000);
      });
    };
    sock.onmessage = (ev) => {
      if (gen !== connGen) return;
      onMessage(ev.data);
    };
    sock.onclose = (ev) => {
      if (gen !== connGen) return;
      ws = null;
      stopTimers();
      if (wantConnected) lost(`Connection to the statserver lost${ev.code ? ` (close code ${ev.code})` : ''}.`);
      else if (document.querySelector('[data-testid="conn"]').dataset.state !== 'error') setConn('idle', 'Not connected');
    };
  }

  /** The connection dropped: the board stays, marked stale, and a new connection is tried
   *  with exponential backoff. */
  function lost(why) {
    stopTimers();
    markServersUnknown();
    const wait = backoff;
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    setConn('disconnected', 'Disconnected');
    showBanner(`${why} Reconnecting in ${(wait / 1000).toFixed(1)} s…`, 'warn');
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(() => {
      if (!wantConnected) return;
      const tenants = [...tenantsShown];
      open($('token').value, tenants);
    }, wait);
  }

  function reconnectSoon(why) {
    if (ws) {
      const old = ws;
      ws = null;
      old.onclose = null;
      old.close();
    }
    lost(why);
  }

  function subscribe(tenants) {
    const req = { message: 'RequestSubscribeAgentStatus' };
    if (tenants.length) req.tenants = tenants;
    snapshotKeys = new Set();
    request(req, (m) => {
      if (m.message !== 'EventAck') showBanner(`Subscription refused. ${errorText(m)}`);
    });
  }

  function pollServers() {
    request({ message: 'RequestServerList' }, (m) => {
      if (m.message === 'EventAck' && Array.isArray(m.servers)) renderServers(m.servers);
    });
  }

  function onMessage(text) {
    let m;
    try {
      m = JSON.parse(text);
    } catch (e) {
      reconnectSoon('The statserver sent a message that is not JSON.');
      return;
    }
    if (!m || typeof m !== 'object') return;
    stats.messages++;
    // Every server message carries seq 1, 2, 3 …; a gap means a message was lost, and
    // the protocol says to reconnect.
    if (m.seq !== seq + 1) {
      reconnectSoon(`Message sequence broken (got ${m.seq} after ${seq}).`);
      return;
    }
    seq = m.seq;
    switch (m.message) {
      case 'EventAck':
      case 'EventError': {
        const h = pending.get(m.referenceId);
        if (h) {
          pending.delete(m.referenceId);
          h(m);
        } else if (m.message === 'EventError') {
          showBanner(errorText(m));
        }
        break;
      }
      case 'EventCurrentAgentStatus':
        onStatus(m);
        break;
      case 'EventAgentStatusSnapshotDone':
        onSnapshotDone();
        break;
      case 'EventStatisticValue':
        onStatisticValue(m);
        break;
      default:
        break;
    }
  }

  // ---- agents ----

  function newAgent(key, tenant, agentId) {
    return {
      key, tenant, agentId, placeId: '', loggedIn: false, dnd: false,
      media: {}, // media -> {ready, current, max, available, reason, since}
      reason: '', // the not-ready reasons of its media, "Lunch" or "Lunch, code 4"; '' when none
      since: 0, // Unix ms when the newest of its media's states began; 0 when unknown
      state: 'loggedout', load: 0, held: 0,
      over: '', // "chat 4/3, email 2/1": the ready media held above their max, '' when none
      // "billing 9 · spanish 5" (skills.js), '' when the status carries no `skills`;
      // skillNames are the names, for the agent filter.
      skills: '', skillNames: [],
      num: /^[0-9]{1,15}$/.test(agentId) ? Number(agentId) : NaN,
      el: null, rows: null, pos: -1, hidden: true,
    };
  }

  function num(v) {
    return Number.isFinite(v) && v >= 0 ? v : 0;
  }

  /** A status's reason {code, description} in words: its description, else "code N". */
  function reasonText(r) {
    if (!r || typeof r !== 'object') return '';
    if (typeof r.description === 'string' && r.description) return r.description.slice(0, 200);
    return Number.isInteger(r.code) ? `code ${r.code}` : '';
  }

  /** Seconds as m:ss, or h:mm:ss from an hour on. */
  function clock(s) {
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, '0');
    return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
  }

  /** The time in state of an agent, as its tile shows it now. */
  function sinceText(a) {
    return a.since > 0 && a.loggedIn ? clock((Date.now() - a.since) / 1000) : '';
  }

  function agentState(a) {
    if (!a.loggedIn) return 'loggedout';
    if (a.dnd) return 'dnd';
    let ready = false;
    let avail = false;
    for (const k in a.media) {
      const v = a.media[k];
      if (v.ready) {
        ready = true;
        if (v.available > 0) avail = true;
      }
    }
    if (!ready) return 'notready';
    return avail ? 'ready' : 'full';
  }

  /** True when the agent holds more of a ready media than its max (capacity-rules.md:
   *  `current` above `max`). A media not ready is left out: nothing is routed to it. */
  function isOver(a, v) {
    return a.loggedIn && v.ready && v.current > v.max;
  }

  /** The agent's media above their max, as the tile's badge says them, or ''. */
  function overText(a) {
    return Object.keys(a.media).sort().filter((k) => isOver(a, a.media[k]))
      .map((k) => `${k} ${a.media[k].current}/${a.media[k].max}`).join(', ');
  }

  function mediaState(a, v) {
    if (!a.loggedIn) return 'loggedout';
    if (!v.ready) return 'notready';
    if (a.dnd) return 'dnd';
    return v.available > 0 ? 'ready' : 'full';
  }

  /** Adds (sign 1) or removes (sign -1) an agent's share of the totals. */
  function account(a, sign) {
    if (!a.loggedIn) return;
    loggedInCount += sign;
    if (a.over) overCount += sign;
    for (const k in a.media) {
      const v = a.media[k];
      let t = totals.get(k);
      if (!t) {
        t = { ready: 0, held: 0, left: 0, max: 0 };
        totals.set(k, t);
      }
      t.ready += sign * (v.ready ? 1 : 0);
      t.held += sign * v.current;
      t.left += sign * v.available;
      t.max += sign * v.max;
    }
  }

  function onStatus(m) {
    stats.statuses++;
    if (typeof m.tenant !== 'string' || typeof m.agentId !== 'string') return;
    const key = `${m.tenant}/${m.agentId}`;
    let a = agents.get(key);
    const isNew = !a;
    if (isNew) {
      a = newAgent(key, m.tenant, m.agentId);
      agents.set(key, a);
      newAgents = true;
    }
    if (snapshotKeys) snapshotKeys.add(key);
    account(a, -1);
    const oldState = a.state;
    const oldLoad = a.load;
    a.loggedIn = m.loggedIn === true;
    a.dnd = m.dnd === true;
    if (typeof m.placeId === 'string') a.placeId = m.placeId;
    const media = {};
    let cur = 0;
    let max = 0;
    if (m.media && typeof m.media === 'object') {
      for (const k of Object.keys(m.media)) {
        const v = m.media[k] || {};
        media[k] = {
          ready: v.ready === true, current: num(v.current), max: num(v.max), available: num(v.available),
          reason: reasonText(v.reason), since: Number.isSafeInteger(v.since) && v.since > 0 ? v.since : 0,
        };
        cur += media[k].current;
        max += media[k].max;
        if (!mediaSeen.has(k)) addMediaOption(k);
      }
    }
    a.media = media;
    a.reason = [...new Set(Object.keys(media).sort().map((k) => media[k].reason).filter((r) => r))].join(', ');
    a.since = a.loggedIn ? Math.max(0, ...Object.values(media).map((v) => v.since)) : 0;
    // The statserver's status carries the agent's skills ({} when none). A logged-out
    // agent's tile shows none (its last status carries {}), nor does a status without the
    // field (an older statserver).
    const sk = a.loggedIn ? ccSkills.parse(m.skills) : null;
    a.skills = sk ? ccSkills.format(sk) : '';
    a.skillNames = sk ? sk.list.map((x) => x[0]) : [];
    a.held = cur;
    a.load = max > 0 ? cur / max : 0;
    a.state = agentState(a);
    a.over = overText(a);
    account(a, 1);
    if (a.state !== oldState || a.load !== oldLoad) orderDirty = orderDirty || sortKey() !== 'id';
    markDirty(a);
  }

  function onSnapshotDone() {
    stats.snapshotDone++;
    // Agents on the board that the new subscription's snapshot did not list are no
    // longer known to the statserver: they logged out while the board was away.
    if (snapshotKeys) {
      for (const a of agents.values()) {
        if (!snapshotKeys.has(a.key) && a.loggedIn) {
          account(a, -1);
          a.loggedIn = false;
          a.state = 'loggedout';
          a.media = {};
          a.reason = '';
          a.since = 0;
          a.held = 0;
          a.load = 0;
          a.over = '';
          a.skills = '';
          a.skillNames = [];
          account(a, 1);
          orderDirty = orderDirty || sortKey() !== 'id';
          markDirty(a);
        }
      }
    }
    snapshotKeys = null;
    schedule();
  }

  function clearBoard() {
    clearQueues();
    agents.clear();
    totals.clear();
    dirty.clear();
    loggedInCount = 0;
    overCount = 0;
    live.clear();
    $('canvas').textContent = '';
    sorted = [];
    view = [];
    $('totals-body').textContent = '';
    viewDirty = true;
    schedule();
  }

  // ---- rendering ----

  function markDirty(a) {
    dirty.add(a);
    schedule();
  }

  function schedule() {
    if (frameScheduled) return;
    frameScheduled = true;
    requestAnimationFrame(frame);
  }

  /** A frame after ms (one pending at a time), for work that waits for its throttle. */
  function scheduleLater(ms) {
    if (laterTimer) return;
    laterTimer = setTimeout(() => {
      laterTimer = null;
      schedule();
    }, ms);
  }

  function frame() {
    frameScheduled = false;
    const t0 = performance.now();
    stats.frames++;
    const filtering = filterActive();
    for (const a of dirty) {
      if (filtering || a.pos === -1) updateHidden(a);
      if (a.el) renderTile(a);
    }
    dirty.clear();
    if (filterDirty) {
      filterDirty = false;
      for (const a of agents.values()) updateHidden(a);
    }
    const now = Date.now();
    if (newAgents) {
      // New agents must get a cell; during a big snapshot that is batched.
      if (!snapshotKeys || now - lastSort >= SNAPSHOT_SORT_MS) {
        newAgents = false;
        orderDirty = true;
        lastSort = 0;
      } else {
        scheduleLater(SNAPSHOT_SORT_MS);
      }
    }
    if (orderDirty && (sortKey() === 'id' || now - lastSort >= RESORT_MS)) {
      applyOrder();
      lastSort = now;
    } else if (orderDirty) {
      scheduleLater(RESORT_MS - (now - lastSort));
    }
    if (viewDirty) {
      viewDirty = false;
      view = sorted.filter((a) => !a.hidden);
      placeDirty = true;
    }
    if (placeDirty) placeTiles();
    renderTotals();
    const ms = performance.now() - t0;
    stats.lastFrameMs = ms;
    if (ms > stats.maxFrameMs) stats.maxFrameMs = ms;
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function createTile(a) {
    stats.tilesCreated++;
    const t = el('div', 'tile');
    t.dataset.testid = `agent-${a.key}`;
    t.dataset.tenant = a.tenant;
    t.dataset.agentId = a.agentId;
    t.title = `${a.tenant} / ${a.agentId}`;
    const head = el('div', 'head');
    head.appendChild(el('span', 'id', a.agentId));
    const place = el('span', 'place');
    head.appendChild(place);
    // The time in state, on the right of the head line.
    const since = el('span', 'since');
    since.dataset.testid = 'since';
    since.hidden = true;
    head.appendChild(since);
    t.appendChild(head);
    // The state's line: the state, the over-capacity badge and the reason, cut with an
    // ellipsis on a narrow tile rather than wrapped (the tile's height is fixed).
    const line = el('div', 'sline');
    t.appendChild(line);
    const st = el('div', 'state');
    st.dataset.testid = 'state';
    line.appendChild(st);
    // The over-capacity badge: words, not only a colour, so that it reads without colour
    // and in a screen reader; hidden while the agent is within its rule.
    const over = el('span', 'over');
    over.dataset.testid = 'over';
    over.hidden = true;
    line.appendChild(over);
    const reason = el('span', 'reason');
    reason.dataset.testid = 'reason';
    reason.hidden = true;
    line.appendChild(reason);
    // The agent's skills, one line cut with an ellipsis; the whole list is its title.
    const skills = el('div', 'skills');
    skills.dataset.testid = 'skills';
    skills.hidden = true;
    t.appendChild(skills);
    const list = el('div', 'media');
    t.appendChild(list);
    a.el = t;
    a.skillsEl = skills;
    a.stateEl = st;
    a.placeEl = place;
    a.listEl = list;
    a.overEl = over;
    a.reasonEl = reason;
    a.sinceEl = since;
    a.rows = new Map();
    a.shown = {};
  }

  /** Writes one agent's record into its tile, touching only what changed. */
  function renderTile(a) {
    stats.tileRenders++;
    const s = a.shown;
    if (s.state !== a.state) {
      a.el.dataset.state = a.state;
      a.stateEl.textContent = STATE_LABEL[a.state];
      s.state = a.state;
    }
    if (s.placeId !== a.placeId) {
      a.placeEl.textContent = a.placeId;
      s.placeId = a.placeId;
    }
    if (s.over !== a.over) {
      if (a.over) {
        a.el.dataset.over = 'true';
        // Shown as "over 4/3", the media row marked beside it; the media's name is in the
        // text for screen readers (and the tests) but not drawn, so the badge fits the
        // state's line of a narrow tile.
        a.overEl.textContent = 'over ';
        const parts = Object.keys(a.media).sort().filter((k) => isOver(a, a.media[k]));
        parts.forEach((k, i) => {
          if (i) a.overEl.append(', ');
          a.overEl.append(el('span', 'sr', `${k} `), `${a.media[k].current}/${a.media[k].max}`);
        });
        a.overEl.title = `Over capacity: holds more than its rule allows (held/max: ${a.over})`;
        a.el.title = `${a.tenant} / ${a.agentId}: over capacity (${a.over})`;
      } else {
        delete a.el.dataset.over;
        a.overEl.textContent = '';
        a.overEl.title = '';
        a.el.title = `${a.tenant} / ${a.agentId}`;
      }
      a.overEl.hidden = !a.over;
      s.over = a.over;
    }
    if (s.reason !== a.reason) {
      a.reasonEl.textContent = a.reason;
      a.reasonEl.title = a.reason ? `Not ready: ${a.reason}` : '';
      a.reasonEl.hidden = !a.reason;
      s.reason = a.reason;
    }
    if (s.since !== a.since) {
      a.sinceEl.dataset.since = String(a.since);
      a.sinceEl.title = a.since > 0 ? `In this state since ${new Date(a.since).toLocaleTimeString()}` : '';
      s.since = a.since;
    }
    renderSince(a);
    if (s.skills !== a.skills) {
      a.skillsEl.textContent = a.skills;
      a.skillsEl.title = a.skills ? `Skills: ${a.skills}` : '';
      a.skillsEl.hidden = !a.skills;
      s.skills = a.skills;
    }
    for (const [k, row] of a.rows) {
      if (!(k in a.media)) {
        row.el.remove();
        a.rows.delete(k);
      }
    }
    const names = Object.keys(a.media).sort();
    let prev = null;
    for (const k of names) {
      const v = a.media[k];
      let row = a.rows.get(k);
      if (!row) {
        row = createRow(k);
        a.rows.set(k, row);
        if (prev) prev.el.after(row.el);
        else a.listEl.prepend(row.el);
      }
      prev = row;
      const ms = mediaState(a, v);
      const count = `${v.current}/${v.max}`;
      if (row.state !== ms) {
        row.el.dataset.state = ms;
        row.state = ms;
      }
      if (row.count !== count) {
        row.countEl.textContent = count;
        row.el.dataset.current = String(v.current);
        row.el.dataset.max = String(v.max);
        // Held with a max of 0 (above the rule, or not routable) fills the bar too.
        row.fill.style.width = `${v.max > 0 ? Math.min(100, (100 * v.current) / v.max) : v.current > 0 ? 100 : 0}%`;
        row.count = count;
      }
      if (row.available !== v.available) {
        row.el.dataset.available = String(v.available);
        row.available = v.available;
      }
      if (row.ready !== v.ready) {
        row.el.dataset.ready = String(v.ready);
        row.ready = v.ready;
      }
      const over = isOver(a, v);
      if (row.over !== over) {
        if (over) row.el.dataset.over = 'true';
        else delete row.el.dataset.over;
        row.over = over;
      }
      const title = `${k}: ${v.ready ? 'ready' : 'not ready'}${v.reason ? ` (${v.reason})` : ''}, ${v.current} of ${v.max}, ${v.available} available${over ? ' (over capacity)' : ''}${v.since ? `, since ${new Date(v.since).toLocaleTimeString()}` : ''}`;
      if (row.title !== title) {
        row.el.title = title;
        row.title = title;
      }
    }
  }

  /** Writes a tile's time in state; called by renderTile and once a second for every
   *  tile on screen (not counted as a render: only the text of the counter changes). */
  function renderSince(a) {
    const text = sinceText(a);
    if (a.sinceEl.textContent !== text) a.sinceEl.textContent = text;
    if (a.sinceEl.hidden !== !text) a.sinceEl.hidden = !text;
  }

  function createRow(k) {
    const r = el('div', 'm');
    r.dataset.testid = `media-${k}`;
    r.dataset.media = k;
    r.appendChild(el('span', 'name', k));
    const bar = el('span', 'bar');
    const fill = el('span', 'fill');
    bar.appendChild(fill);
    r.appendChild(bar);
    const count = el('span', 'count');
    count.dataset.testid = 'count';
    r.appendChild(count);
    return { el: r, fill, countEl: count, state: null, count: null, available: null, ready: null, over: false, title: null };
  }

  function sortKey() {
    return $('sort').value;
  }

  function compare(kind) {
    // Numeric ids, the common case, compare as numbers; the collator is much slower.
    const byId = (x, y) => {
      if (!Number.isNaN(x.num) && !Number.isNaN(y.num) && x.num !== y.num) return x.num - y.num;
      return collator.compare(x.agentId, y.agentId) || collator.compare(x.tenant, y.tenant);
    };
    if (kind === 'load') return (x, y) => (y.load - x.load) || (y.held - x.held) || byId(x, y);
    if (kind === 'state') return (x, y) => (STATE_ORDER[x.state] - STATE_ORDER[y.state]) || byId(x, y);
    return byId;
  }

  function applyOrder() {
    orderDirty = false;
    stats.resorts++;
    sorted = [...agents.values()];
    sorted.sort(compare(sortKey()));
    viewDirty = true;
  }

  /** Gives the cells in and near the visible part of the board their tiles: creates the
   *  tiles that scrolled (or sorted) into it, removes those that left, and writes the
   *  position of only the tiles that moved (all of them when the width changed). */
  function placeTiles() {
    placeDirty = false;
    const board = $('board');
    const canvas = $('canvas');
    const w = Math.max(TILE_MIN_W, canvas.clientWidth);
    const cols = Math.max(1, Math.floor((w + GAP) / (TILE_MIN_W + GAP)));
    const tw = Math.floor((w + GAP) / cols - GAP);
    let force = false;
    if (cols !== layout.cols || tw !== layout.tw) {
      layout.cols = cols;
      layout.tw = tw;
      board.style.setProperty('--tw', `${tw}px`);
      force = true;
    }
    const rowH = TILE_H + GAP;
    const top = Math.max(0, board.scrollTop - canvas.offsetTop);
    const firstRow = Math.max(0, Math.floor(top / rowH) - OVERSCAN_ROWS);
    const lastRow = Math.ceil((top + board.clientHeight) / rowH) + OVERSCAN_ROWS;
    const first = Math.min(view.length, firstRow * cols);
    const last = Math.min(view.length, lastRow * cols);
    const want = new Set(view.slice(first, last));
    for (const a of live) {
      if (!want.has(a)) {
        a.el.remove();
        a.el = null;
        a.pos = -1;
        live.delete(a);
      }
    }
    const frag = document.createDocumentFragment();
    for (let k = first; k < last; k++) {
      const a = view[k];
      if (!a.el) {
        createTile(a);
        renderTile(a);
        frag.appendChild(a.el);
        live.add(a);
        a.pos = -1;
      }
      if (force || a.pos !== k) {
        const x = (k % cols) * (tw + GAP);
        const y = Math.floor(k / cols) * rowH;
        a.el.style.transform = `translate(${x}px, ${y}px)`;
        a.pos = k;
      }
    }
    canvas.appendChild(frag);
    const h = `${Math.ceil(view.length / cols) * rowH}px`;
    if (canvas.style.height !== h) canvas.style.height = h;
  }

  function filterActive() {
    return $('filter-agent').value.trim() !== '' || $('filter-media').value !== '';
  }

  function matches(a) {
    const text = $('filter-agent').value.trim().toLowerCase();
    const media = $('filter-media').value;
    if (media && !(media in a.media)) return false;
    if (text && !a.agentId.toLowerCase().includes(text) && !a.placeId.toLowerCase().includes(text) &&
        !a.skillNames.some((n) => n.includes(text))) return false;
    return true;
  }

  /** Re-evaluates the filters for one agent; a change re-builds the board's cells. */
  function updateHidden(a) {
    const h = !matches(a);
    if (h !== a.hidden) {
      a.hidden = h;
      viewDirty = true;
    }
  }

  function renderTotals() {
    setText('[data-testid="count-shown"]', String(view.length));
    setText('[data-testid="count-agents"]', String(agents.size));
    setText('[data-testid="count-loggedin"]', String(loggedInCount));
    setText('[data-testid="count-over"]', String(overCount));
    const overLine = document.querySelector('[data-testid="over-line"]');
    if (overLine.hidden !== (overCount === 0)) overLine.hidden = overCount === 0;
    const body = $('totals-body');
    for (const k of [...totals.keys()].sort()) {
      const t = totals.get(k);
      let row = body.querySelector(`tr[data-media="${CSS.escape(k)}"]`);
      if (!row) {
        row = el('tr');
        row.dataset.media = k;
        row.dataset.testid = `total-${k}`;
        row.appendChild(el('th', '', k));
        for (const f of ['ready', 'held', 'left']) {
          const td = el('td');
          td.dataset.testid = `total-${k}-${f}`;
          row.appendChild(td);
        }
        const after = [...body.children].find((r) => r.dataset.media > k);
        body.insertBefore(row, after || null);
      }
      const cells = row.querySelectorAll('td');
      const vals = [t.ready, t.held, t.left];
      for (let i = 0; i < 3; i++) {
        const v = String(vals[i]);
        if (cells[i].textContent !== v) cells[i].textContent = v;
      }
      row.title = `${k}: ${t.held} held of ${t.max} capacity`;
    }
  }

  function setText(sel, v) {
    const e = document.querySelector(sel);
    if (e.textContent !== v) e.textContent = v;
  }

  function addMediaOption(k) {
    mediaSeen.add(k);
    const sel = $('filter-media');
    const o = el('option', '', k);
    o.value = k;
    const after = [...sel.options].find((x) => x.value && x.value > k);
    sel.insertBefore(o, after || null);
  }

  // ---- queues ----

  const queues = window.wallboard.queues;
  /** statisticId -> {q, stat} of the statistics open on this connection. */
  const openStats = new Map();
  let nextStatId = 1;
  let slTarget = 80;
  let slThreshold = 20;
  let chartKey = '';
  let sampleS = SAMPLE_S_DEFAULT;

  function clearQueues() {
    queues.clear();
    openStats.clear();
    chartKey = '';
    renderQueueRows();
    renderChart();
  }

  /** On every (re)registration: the statistics of the previous connection are gone. */
  function startQueues() {
    openStats.clear();
    nextStatId = 1;
    for (const q of queues.values()) q.gen = 0;
    loadQueues();
    queueTimer = setInterval(loadQueues, QUEUE_LIST_MS);
  }

  /** The service-level settings from /wallboard-config.json, and the queues of this
   * client's tenants with RequestQueueList (the page names none: it is open to everyone). */
  async function loadQueues() {
    const gen = connGen;
    request({ message: 'RequestQueueList' }, (m) => {
      if (gen !== connGen || m.message !== 'EventAck') return;
      addQueues(Array.isArray(m.queues) ? m.queues : []);
    });
    let cfg;
    try {
      const r = await fetch('/wallboard-config.json', { cache: 'no-store' });
      if (!r.ok) return;
      cfg = await r.json();
    } catch (e) {
      return; // asked again in QUEUE_LIST_MS
    }
    if (gen !== connGen || !cfg || typeof cfg !== 'object') return;
    if (Number.isFinite(cfg.serviceLevelTarget)) slTarget = cfg.serviceLevelTarget;
    if (Number.isFinite(cfg.serviceLevelThreshold)) slThreshold = cfg.serviceLevelThreshold;
    setText('[data-testid="sl-target"]', String(slTarget));
    setText('[data-testid="sl-threshold"]', String(slThreshold));
    for (const q of queues.values()) renderQueue(q);
  }

  function addQueues(list) {
    let added = false;
    for (const x of list) {
      if (!x || typeof x.server !== 'string' || typeof x.tenant !== 'string' || typeof x.id !== 'string') continue;
      if (tenantsShown.size && !tenantsShown.has(x.tenant)) continue;
      const key = `${x.server}/${x.tenant}/${x.id}`;
      let q = queues.get(key);
      if (!q) {
        q = { key, server: x.server, tenant: x.tenant, id: x.id, values: {}, samples: [], gen: 0, row: null };
        queues.set(key, q);
        added = true;
      }
      if (q.gen !== connGen) openQueue(q);
    }
    if (added) renderQueueRows();
  }

  function openQueue(q) {
    q.gen = connGen;
    for (const stat of QUEUE_STATS) {
      const statisticId = nextStatId++;
      openStats.set(statisticId, { q, stat });
      request({
        message: 'RequestOpenStatistic', statisticId,
        object: { type: 'Queue', server: q.server, tenant: q.tenant, id: q.id },
        statistic: stat, profile: 'day', notify: 'changes',
      }, (m) => {
        if (m.message !== 'EventAck') {
          openStats.delete(statisticId);
          showBanner(`Queue ${q.id}: ${stat} refused. ${errorText(m)}`);
        }
      });
    }
  }

  function onStatisticValue(m) {
    const o = openStats.get(m.statisticId);
    if (!o) return;
    const v = m.value;
    o.q.values[o.stat] = typeof v === 'number' && Number.isFinite(v) ? v : null;
    renderQueue(o.q);
  }

  function secondsText(v) {
    if (v === null || v === undefined) return '—';
    return v < 60 ? `${Math.round(v)} s` : clock(v);
  }

  /** The service level against the target: ok, warn (within SL_WARN_POINTS below), bad. */
  function slClass(v) {
    if (v === null || v === undefined) return 'none';
    if (v >= slTarget) return 'ok';
    return v >= slTarget - SL_WARN_POINTS ? 'warn' : 'bad';
  }

  function renderQueueRows() {
    const body = $('queues-body');
    const list = [...queues.values()].sort((x, y) => collator.compare(x.id, y.id)
      || collator.compare(x.tenant, y.tenant) || collator.compare(x.server, y.server));
    body.textContent = '';
    if (!list.length) {
      const tr = el('tr', 'none');
      const td = el('td', '', 'No queues yet');
      td.colSpan = 6;
      tr.appendChild(td);
      body.appendChild(tr);
    }
    for (const q of list) {
      if (!q.row) {
        const tr = el('tr');
        tr.dataset.testid = `queue-${q.key}`;
        tr.title = `${q.tenant} / ${q.id} on ${q.server}`;
        const name = el('td', 'qname', q.id);
        name.appendChild(el('span', 'srv', q.server));
        tr.appendChild(name);
        q.cells = {};
        for (const stat of QUEUE_STATS) {
          const td = el('td', '', '—');
          td.dataset.testid = `q-${stat}`;
          tr.appendChild(td);
          q.cells[stat] = td;
        }
        tr.addEventListener('click', () => selectChart(q.key));
        q.row = tr;
        renderQueue(q);
      }
      body.appendChild(q.row);
    }
    const sel = $('chart-queue');
    const keys = list.map((q) => q.key);
    if ([...sel.options].map((o) => o.value).join('\n') !== keys.join('\n')) {
      sel.textContent = '';
      for (const q of list) {
        const o = el('option', '', `${q.id} (${q.server})`);
        o.value = q.key;
        sel.appendChild(o);
      }
    }
    if (!queues.has(chartKey)) chartKey = keys[0] || '';
    selectChart(chartKey);
  }

  function renderQueue(q) {
    if (!q.row) return;
    const v = q.values;
    const texts = {
      Waiting: v.Waiting === undefined || v.Waiting === null ? '—' : String(v.Waiting),
      OldestWait: secondsText(v.OldestWait),
      ServiceLevel: v.ServiceLevel === undefined || v.ServiceLevel === null ? '—' : `${v.ServiceLevel.toFixed(1)} %`,
      AverageSpeedOfAnswer: secondsText(v.AverageSpeedOfAnswer),
      Abandoned: v.Abandoned === undefined || v.Abandoned === null ? '—' : String(v.Abandoned),
    };
    for (const stat of QUEUE_STATS) {
      const td = q.cells[stat];
      if (td.textContent !== texts[stat]) td.textContent = texts[stat];
      const raw = v[stat] === undefined ? '' : v[stat] === null ? 'null' : String(v[stat]);
      if (td.dataset.value !== raw) td.dataset.value = raw;
    }
    const sl = slClass(v.ServiceLevel);
    if (q.cells.ServiceLevel.dataset.sl !== sl) {
      q.cells.ServiceLevel.dataset.sl = sl;
      q.cells.ServiceLevel.title = sl === 'none' ? 'nothing answered or abandoned after the threshold today'
        : `target ${slTarget} %: ${sl === 'ok' ? 'met' : 'missed'}`;
    }
    const waiting = (v.Waiting || 0) > 0;
    if (q.cells.Waiting.dataset.waiting !== String(waiting)) q.cells.Waiting.dataset.waiting = String(waiting);
  }

  function selectChart(key) {
    chartKey = key;
    const sel = $('chart-queue');
    if (sel.value !== key) sel.value = key;
    for (const q of queues.values()) {
      if (q.row) q.row.setAttribute('aria-selected', String(q.key === key));
    }
    renderChart();
  }

  /** One sample of every queue's service level and waiting, for the chart. */
  function sampleQueues() {
    const now = Date.now();
    for (const q of queues.values()) {
      if (q.gen !== connGen || !ws) continue; // nothing known while disconnected
      q.samples.push({ t: now, sl: q.values.ServiceLevel ?? null, waiting: q.values.Waiting ?? 0 });
      while (q.samples.length && q.samples[0].t < now - CHART_SPAN_MS) q.samples.shift();
    }
    renderChart();
  }

  const SVG = 'http://www.w3.org/2000/svg';
  function svgEl(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /** Draws the selected queue's last hour: service level 0..100 % and waiting 0..its max,
   *  on the same plot (x: the hour, right edge now). */
  function renderChart() {
    const svg = $('chart');
    svg.textContent = '';
    const X0 = 22, X1 = 296, Y0 = 8, Y1 = 96;
    for (const f of [0, 0.5, 1]) {
      const y = Y1 - f * (Y1 - Y0);
      svg.appendChild(svgEl('line', { class: 'grid', x1: X0, x2: X1, y1: y, y2: y }));
    }
    const ty = Y1 - (slTarget / 100) * (Y1 - Y0);
    svg.appendChild(svgEl('line', { class: 'target', x1: X0, x2: X1, y1: ty, y2: ty, 'data-testid': 'chart-target' }));
    svg.appendChild(svgEl('text', { x: 2, y: Y0 + 3 }, '100%'));
    svg.appendChild(svgEl('text', { x: 2, y: Y1 + 2 }, '0'));
    svg.appendChild(svgEl('text', { x: X0, y: 108 }, '−60 min'));
    svg.appendChild(svgEl('text', { x: X1 - 14, y: 108 }, 'now'));
    const q = queues.get(chartKey);
    const samples = q ? q.samples : [];
    const maxWait = Math.max(1, ...samples.map((p) => p.waiting));
    svg.appendChild(svgEl('text', { x: X1 - 60, y: Y0 - 1 }, `waiting max ${maxWait}`));
    const now = Date.now();
    const x = (t) => (X1 - ((now - t) / CHART_SPAN_MS) * (X1 - X0)).toFixed(1);
    const sl = samples.filter((p) => p.sl !== null).map((p) => `${x(p.t)},${(Y1 - (p.sl / 100) * (Y1 - Y0)).toFixed(1)}`);
    const wt = samples.map((p) => `${x(p.t)},${(Y1 - (p.waiting / maxWait) * (Y1 - Y0)).toFixed(1)}`);
    svg.appendChild(svgEl('polyline', { class: 'waiting', points: wt.join(' '), 'data-testid': 'chart-waiting' }));
    svg.appendChild(svgEl('polyline', { class: 'sl', points: sl.join(' '), 'data-testid': 'chart-sl' }));
    svg.dataset.samples = String(samples.length);
  }

  // ---- servers ----

  let serverNames = [];

  function renderServers(servers) {
    const ul = $('servers');
    const names = servers.map((s) => String(s.name));
    if (names.join('\n') !== serverNames.join('\n')) {
      ul.textContent = '';
      for (const s of servers) {
        const li = el('li');
        li.dataset.testid = `server-${s.name}`;
        li.appendChild(el('span', 'dot'));
        li.appendChild(el('span', 'name', String(s.name)));
        li.appendChild(el('span', 'what'));
        li.appendChild(el('span', 'addr', String(s.address || '')));
        ul.appendChild(li);
      }
      if (!servers.length) ul.appendChild(el('li', 'none', 'no interaction servers configured'));
      serverNames = names;
    }
    servers.forEach((s, i) => {
      const li = ul.children[i];
      const state = s.connected ? 'connected' : 'disconnected';
      li.dataset.connected = String(!!s.connected);
      li.dataset.state = state;
      const what = s.connected ? `connected · ${num(s.agents)} agents` : 'disconnected';
      const w = li.querySelector('.what');
      if (w.textContent !== what) w.textContent = what;
    });
  }

  /** While the board itself is disconnected, the servers' state is unknown. */
  function markServersUnknown() {
    for (const li of $('servers').children) {
      if (li.dataset.state) {
        li.dataset.state = 'unknown';
        li.querySelector('.what').textContent = 'unknown (board disconnected)';
      }
    }
  }

  // ---- supervisor actions ----

  /** One Supervisor connection per interaction server. */
  const sup = { conns: [], want: false, agent: null };

  function supState() {
    const ready = sup.conns.filter((c) => c.ready);
    const stEl = document.querySelector('[data-testid="sup-state"]');
    stEl.dataset.state = ready.length ? 'on' : 'off';
    stEl.textContent = ready.length ? `on (${ready.map((c) => c.serverName).join(', ')})` : (sup.want ? 'connecting…' : 'off');
    document.body.classList.toggle('sup-on', ready.length > 0);
  }

  function supResult(text, kind) {
    const p = document.querySelector('[data-testid="sup-result"]');
    p.textContent = text;
    p.dataset.kind = kind || '';
  }

  function supSend(c, obj) {
    if (!c.ws || c.ws.readyState !== WebSocket.OPEN) return Promise.reject({ errorName: 'Unavailable', errorDescription: 'not connected' });
    const id = ++c.ref;
    return new Promise((resolve, reject) => {
      c.pending.set(id, (m) => (m.message === 'EventAck' ? resolve(m) : reject(m)));
      c.ws.send(JSON.stringify({ ...obj, referenceId: id }));
      c.lastSent = Date.now();
    });
  }

  function supOpen(c) {
    c.ready = false;
    c.seq = 0;
    c.ref = 0;
    c.pending = new Map();
    let sock;
    try {
      sock = new WebSocket(c.url);
    } catch (e) {
      supResult(`Cannot open ${c.url}: ${e.message}`, 'error');
      return;
    }
    c.ws = sock;
    sock.onopen = () => {
      supSend(c, { message: 'RequestRegisterClient', clientType: 'Supervisor', clientName: sup.name, token: sup.secret })
        .then((m) => {
          c.ready = true;
          c.serverName = m.serverName || c.url;
          c.backoff = BACKOFF_MIN_MS;
          const idle = Number.isInteger(m.idleTimeout) && m.idleTimeout > 0 ? m.idleTimeout : 30;
          c.ping = setInterval(() => {
            if (Date.now() - c.lastSent >= (idle * 1000) / 3) supSend(c, { message: 'RequestPing' }).catch(() => {});
          }, 1000);
          supState();
        })
        .catch((m) => {
          // Wrong credentials stay wrong: no retry until the form is sent again.
          c.refused = true;
          supResult(`${c.url} refused the supervisor: ${m.errorDescription || m.errorName}`, 'error');
          sock.close();
        });
    };
    sock.onmessage = (ev) => {
      let m;
      try {
        m = JSON.parse(ev.data);
      } catch (e) {
        sock.close();
        return;
      }
      if (m.seq !== ++c.seq) {
        sock.close();
        return;
      }
      if ((m.message === 'EventAck' || m.message === 'EventError') && m.referenceId !== undefined) {
        const f = c.pending.get(m.referenceId);
        c.pending.delete(m.referenceId);
        if (f) f(m);
      }
    };
    sock.onclose = () => {
      clearInterval(c.ping);
      c.ready = false;
      c.ws = null;
      for (const f of c.pending.values()) f({ message: 'EventError', errorName: 'Unavailable', errorDescription: 'connection lost' });
      c.pending.clear();
      supState();
      if (sup.want && !c.refused && sup.conns.includes(c)) {
        c.timer = setTimeout(() => supOpen(c), c.backoff);
        c.backoff = Math.min(c.backoff * 2, BACKOFF_MAX_MS);
      }
    };
  }

  function supConnect() {
    for (const c of sup.conns) {
      clearTimeout(c.timer);
      if (c.ws) {
        c.ws.onclose = null;
        c.ws.close();
      }
      clearInterval(c.ping);
    }
    sup.name = $('sup-name').value.trim();
    sup.secret = $('sup-secret').value;
    const urls = $('sup-urls').value.split(',').map((u) => u.trim()).filter((u) => u);
    sup.want = Boolean(sup.name && urls.length);
    sup.conns = sup.want ? urls.map((url) => ({ url, backoff: BACKOFF_MIN_MS })) : [];
    supResult('');
    for (const c of sup.conns) supOpen(c);
    supState();
  }

  /** Sends an action on an agent to every connected server; the agent is logged in on
   *  one or more of them, and the others answer 6. */
  async function supAgentAction(req, what) {
    const ready = sup.conns.filter((c) => c.ready);
    const answers = await Promise.allSettled(ready.map((c) => supSend(c, req)));
    const ok = answers.filter((a) => a.status === 'fulfilled').length;
    const errs = answers.filter((a) => a.status === 'rejected' && a.reason.errorCode !== 6).map((a) => a.reason);
    if (ok) supResult(`${what}: done.`);
    else if (errs.length) supResult(`${what}: ${errs[0].errorDescription || errs[0].errorName}`, 'error');
    else supResult(`${what}: the agent is not logged in on any interaction server.`, 'error');
    return ok > 0;
  }

  /** The connection of the server an interaction id names ("<serverName>:<number>"). */
  function supConnOf(id) {
    const server = id.slice(0, id.lastIndexOf(':'));
    return sup.conns.find((c) => c.ready && c.serverName === server);
  }

  async function supIxnAction(id, req, what) {
    const c = supConnOf(id);
    if (!c) {
      supResult(`${what}: no supervisor connection to the server of ${id}.`, 'error');
      return;
    }
    try {
      await supSend(c, req);
      supResult(`${what}: done.`);
    } catch (m) {
      supResult(`${what}: ${m.errorDescription || m.errorName}`, 'error');
    }
    supLoadIxns();
  }

  async function supLoadIxns() {
    const a = sup.agent;
    const list = $('sup-ixns');
    if (!a) return;
    const rows = [];
    await Promise.all(sup.conns.filter((c) => c.ready).map((c) =>
      supSend(c, { message: 'RequestAgentInteractions', tenant: a.tenant, agentId: a.agentId })
        .then((m) => rows.push(...(Array.isArray(m.interactions) ? m.interactions : [])))
        .catch(() => {})));
    if (sup.agent !== a) return;
    list.replaceChildren();
    if (!rows.length) list.appendChild(el('li', 'none', 'none'));
    for (const x of rows) {
      const li = el('li');
      li.dataset.testid = `sup-ixn-${x.interactionId}`;
      li.appendChild(el('span', 'id', `${x.interactionId} · ${x.media} · ${x.queue} · ${x.state}`));
      const revoke = el('button', '', 'Revoke');
      revoke.type = 'button';
      revoke.dataset.testid = 'sup-revoke';
      revoke.disabled = x.state === 'AfterWork';
      revoke.addEventListener('click', () => supIxnAction(x.interactionId,
        { message: 'RequestRevokeInteraction', tenant: a.tenant, interactionId: x.interactionId }, `Revoke ${x.interactionId}`));
      const to = el('input');
      to.placeholder = 'agent id';
      to.dataset.testid = 'sup-reassign-to';
      const reassign = el('button', '', 'Reassign');
      reassign.type = 'button';
      reassign.dataset.testid = 'sup-reassign';
      reassign.disabled = x.state === 'AfterWork';
      reassign.addEventListener('click', () => {
        const target = to.value.trim();
        if (!target) return;
        supIxnAction(x.interactionId, { message: 'RequestReassign', tenant: a.tenant, interactionId: x.interactionId, agentId: target },
          `Reassign ${x.interactionId} to ${target}`);
      });
      li.append(revoke, to, reassign);
      list.appendChild(li);
    }
  }

  function supOpenPanel(key) {
    const a = agents.get(key);
    if (!a || !sup.conns.some((c) => c.ready)) return;
    sup.agent = a;
    document.querySelector('[data-testid="sup-agent"]').textContent = `${a.tenant} / ${a.agentId}`;
    const media = $('sup-media');
    media.replaceChildren();
    for (const k of Object.keys(a.media || {}).sort()) {
      const o = el('option', '', k);
      o.value = k;
      media.appendChild(o);
    }
    $('sup-ixns').replaceChildren();
    supResult('');
    const d = $('sup-panel');
    if (!d.open) d.showModal();
    supLoadIxns();
  }

  /** hash: the address fragment's parameters as the page was opened. */
  function supInit(hash) {
    $('sup-form').addEventListener('submit', (e) => {
      e.preventDefault();
      supConnect();
    });
    $('board').addEventListener('click', (e) => {
      const t = e.target.closest('.tile');
      if (t && t.dataset.tenant !== undefined) supOpenPanel(`${t.dataset.tenant}/${t.dataset.agentId}`);
    });
    $('sup-panel').addEventListener('close', () => {
      sup.agent = null;
    });
    $('sup-notready').addEventListener('click', () => {
      const a = sup.agent;
      if (!a) return;
      const req = { message: 'RequestForceNotReady', tenant: a.tenant, agentId: a.agentId, media: $('sup-media').value };
      const code = $('sup-code').value;
      const text = $('sup-reason').value.trim();
      if (code !== '' || text) {
        req.reason = {};
        if (code !== '') req.reason.code = Number(code);
        if (text) req.reason.description = text;
      }
      supAgentAction(req, `Force not ready for ${req.media}`);
    });
    $('sup-logout').addEventListener('click', () => {
      const a = sup.agent;
      if (!a) return;
      const req = { message: 'RequestForceLogout', tenant: a.tenant, agentId: a.agentId };
      const text = $('sup-logout-reason').value.trim();
      if (text) req.reason = text;
      supAgentAction(req, 'Force logout');
    });
    // Credentials in the address fragment (never sent to a server) open the page as a
    // supervisor; they are taken out of the address bar at once.
    if (hash.get('sup') !== null) {
      history.replaceState(null, '', location.pathname + location.search);
      $('sup-name').value = hash.get('sup');
      $('sup-secret').value = hash.get('supSecret') || '';
      $('sup-urls').value = hash.get('ixn') || '';
      document.querySelector('[data-testid="sup-form-wrap"]').open = true;
      supConnect();
    }
  }

  // ---- start ----

  function init() {
    const params = new URLSearchParams(location.search);
    const hash = new URLSearchParams(location.hash.slice(1));
    let token = '';
    let tenants = '';
    try {
      token = localStorage.getItem(STORE_TOKEN) || '';
      tenants = localStorage.getItem(STORE_TENANTS) || '';
    } catch (e) {
      // No storage: the form starts empty.
    }
    // A token in the address fragment (never sent to a server) lets `make demo` print a
    // ready-to-open link; it is taken out of the address bar at once.
    if (hash.get('token') !== null) {
      token = hash.get('token');
      history.replaceState(null, '', location.pathname + location.search);
    }
    if (params.get('tenants') !== null) tenants = params.get('tenants');
    if (hash.get('name') !== null) $('client-name').value = hash.get('name');
    supInit(hash);
    $('token').value = token;
    $('tenants').value = tenants;
    $('connect-form').addEventListener('submit', (e) => {
      e.preventDefault();
      connect();
    });
    const sample = Number(params.get('sample'));
    if (Number.isInteger(sample) && sample >= 1 && sample <= 600) sampleS = sample;
    setInterval(sampleQueues, sampleS * 1000);
    // The time in state counts up on the tiles on screen, once a second.
    setInterval(() => {
      for (const a of live) renderSince(a);
    }, 1000);
    $('chart-queue').addEventListener('change', (e) => selectChart(e.target.value));
    renderChart();
    $('sort').addEventListener('change', () => {
      orderDirty = true;
      lastSort = 0;
      schedule();
    });
    const refilter = () => {
      filterDirty = true;
      schedule();
    };
    $('filter-agent').addEventListener('input', refilter);
    $('filter-media').addEventListener('change', refilter);
    // A new board width re-flows the tiles.
    new ResizeObserver(() => {
      placeDirty = true;
      schedule();
    }).observe($('board'));
    $('board').addEventListener('scroll', () => {
      placeDirty = true;
      schedule();
    }, { passive: true });
    if (token) connect();
    else $('token').focus();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
