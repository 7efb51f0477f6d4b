// musketeer's page: the cluster from the ClusterWatch stream (Server-Sent Events read with
// fetch, so that the token travels in a header), and the operator's controls.
// Every text from the cluster goes through textContent: nothing is parsed as HTML.
'use strict';

const KEY = 'musketeer.token';
const state = { nodes: new Map(), services: new Map(), tasks: new Map(), revision: 0 };
const lastRouting = new Map();  // service -> Routing of the last change made from this page
let role = '';
let watchAbort = null;
let renderQueued = false;

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function token() { return sessionStorage.getItem(KEY) || ''; }

// One API call: POST /v1/{Service}/{Method} with the token as a header.
async function call(service, method, body) {
  const res = await fetch(`/v1/${service}/${method}`, {
    method: 'POST',
    headers: { 'Authorization': `Bearer ${token()}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body || {}),
  });
  const text = await res.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch (e) { data = { message: text }; }
  if (!res.ok) {
    const err = new Error(data.message || `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return data;
}

function setStatus(text, isError) {
  const s = $('status');
  s.textContent = text;
  s.className = isError ? 'status error' : 'status';
}

// ------------------------------------------------------------------ login

async function login(t) {
  sessionStorage.setItem(KEY, t);
  try {
    const me = await call('Session', 'WhoAmI');
    role = me.role;
    $('who').textContent = `${me.name} (${me.role})`;
    $('login').hidden = true;
    $('app').hidden = false;
    $('logout').hidden = false;
    document.body.dataset.role = role;
    $('login-error').textContent = '';
    startWatch();
  } catch (e) {
    sessionStorage.removeItem(KEY);
    $('login-error').textContent = `login failed: ${e.message}`;
  }
}

function logout() {
  sessionStorage.removeItem(KEY);
  if (watchAbort) watchAbort.abort();
  location.reload();
}

// ------------------------------------------------------------------ the watch

function applyEvent(ev) {
  const type = ev.type;
  if (ev.revision) state.revision = Number(ev.revision);
  if (type === 'RESET') {
    state.nodes.clear(); state.services.clear(); state.tasks.clear();
    return;
  }
  if (type === 'SYNCED') { $('conn').textContent = 'live'; $('conn').className = 'conn live'; return; }
  const map = ev.kind === 'node' ? state.nodes : ev.kind === 'service' ? state.services : state.tasks;
  if (type === 'PUT') map.set(ev.name, ev[ev.kind]);
  else if (type === 'DELETE') map.delete(ev.name);
}

async function startWatch() {
  if (watchAbort) watchAbort.abort();
  const ctl = new AbortController();
  watchAbort = ctl;
  let delay = 500;
  while (!ctl.signal.aborted) {
    try {
      const headers = { 'Authorization': `Bearer ${token()}`, 'Accept': 'text/event-stream' };
      const q = state.revision ? `?since_revision=${state.revision}` : '';
      const res = await fetch(`/v1/watch${q}`, { headers, signal: ctl.signal });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        throw new Error(body.message || `HTTP ${res.status}`);
      }
      delay = 500;
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          let event = 'message';
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
          }
          if (!data.length) continue;
          const msg = JSON.parse(data.join('\n'));
          if (event === 'message') { applyEvent(msg); queueRender(); }
          else if (event === 'error') throw new Error(msg.message);
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
      $('conn').textContent = `reconnecting: ${e.message}`;
      $('conn').className = 'conn';
    }
    await new Promise(r => setTimeout(r, delay));
    delay = Math.min(delay * 2, 5000);
  }
}

function queueRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; render(); });
}

// ------------------------------------------------------------------ rendering

const canOperate = () => role === 'operator' || role === 'admin';

function render() {
  renderNodes();
  renderServices();
  renderRouting();
}

function renderNodes() {
  const box = $('nodes');
  const cols = [];
  const names = [...state.nodes.keys()].sort();
  for (const name of names) {
    const n = state.nodes.get(name);
    const down = n.state !== 'running' || (n.swarmStatus && n.swarmStatus !== 'ready');
    const col = el('div', { class: `node${down ? ' down' : ''}${n.availability === 'drain' ? ' drain' : ''}`,
                            'data-node': name });
    col.append(el('h3', {}, name));
    const badges = el('div', {});
    if (n.swarmRole) badges.append(el('span', { class: `badge ${n.swarmRole}` }, n.swarmRole));
    if (n.availability) badges.append(el('span', { class: `badge ${n.availability}`, 'data-field': 'availability' }, n.availability));
    badges.append(el('span', { class: `badge ${n.state}` }, `engine ${n.state}`));
    if (n.swarmStatus) badges.append(el('span', { class: `badge ${n.swarmStatus}` }, n.swarmStatus));
    col.append(badges);
    col.append(el('div', { class: 'meta' }, `${n.address} · ${n.driver}${n.engineVersion ? ' · docker ' + n.engineVersion : ''}`));
    if (n.eventStream && n.eventStream !== 'live') col.append(el('div', { class: 'meta' }, `events: ${n.eventStream}`));
    const labels = Object.entries(n.labels || {});
    if (labels.length) {
      const l = el('div', { class: 'meta labels' });
      for (const [k, v] of labels) l.append(el('code', {}, `${k}=${v}`));
      col.append(l);
    }
    if (canOperate() && n.swarmNodeId) {
      const drain = n.availability === 'drain';
      col.append(el('div', {}, el('button', {
        type: 'button', className: drain ? 'activate' : 'drain',
        onclick: () => act(`${drain ? 'activate' : 'drain'} ${name}`,
          () => call('Nodes', 'UpdateNode', { name, availability: drain ? 'active' : 'drain' })),
      }, drain ? 'Activate' : 'Drain')));
    }
    const tasks = [...state.tasks.values()]
      .filter(t => t.node === name && t.desiredState === 'running')
      .sort((a, b) => (a.service + a.slot).localeCompare(b.service + b.slot));
    for (const t of tasks) {
      const box = el('div', { class: `task ${t.state}`, 'data-service': t.service, 'data-state': t.state },
        el('div', {}, el('b', {}, t.service), t.slot ? `.${t.slot}` : '', ` ${t.state}`),
        el('div', { class: 'img' }, t.image));
      if (t.error) box.append(el('div', { class: 'error' }, t.error));
      col.append(box);
    }
    cols.push(col);
  }
  box.replaceChildren(...cols);
}

function renderServices() {
  const body = $('services').tBodies[0];
  const rows = [];
  for (const name of [...state.services.keys()].sort()) {
    const s = state.services.get(name);
    const spec = s.spec || {};
    const running = Number(s.running || 0), desired = Number(s.desired || 0);
    const labels = el('td', { class: 'labels' });
    for (const [k, v] of Object.entries(spec.labels || {})) labels.append(el('code', {}, `${k}=${v}`));
    const ops = el('td', { class: 'ops' });
    if (canOperate()) {
      const replicas = draftInput(name, 'replicas', { type: 'number', min: 0, className: 'replicas', title: 'replicas' }, desired);
      const image = draftInput(name, 'image', { type: 'text', className: 'image', title: 'image' }, spec.image || '');
      // Every action carries a request_id: a browser that sends the POST again (its connection
      // dropped) gets the first call's answer, never a second scale or rollback.
      ops.append(
        replicas,
        el('button', { type: 'button', className: 'scale', onclick: () => act(`scale ${name} to ${replicas.value}`,
          () => sent(replicas, call('Services', 'UpdateService', { name, replicas: Number(replicas.value), wait: true, requestId: newRequestId() })), name) }, 'Scale'),
        ' ', image,
        el('button', { type: 'button', className: 'update-image', onclick: () => act(`update ${name} to ${image.value}`,
          () => sent(image, call('Services', 'UpdateService', { name, image: image.value, wait: true, requestId: newRequestId() })), name) }, 'Update image'),
        ' ',
        el('button', { type: 'button', className: 'rollback', onclick: () => act(`roll back ${name}`,
          () => call('Services', 'RollbackService', { name, wait: true, requestId: newRequestId() }), name) }, 'Roll back'));
    }
    const mode = s.routing && s.routing.mode ? s.routing.mode : (spec.ports && spec.ports.length ? 'ingress' : '—');
    rows.push(el('tr', { 'data-service': name },
      el('td', {}, name, s.stack ? el('div', { class: 'muted' }, `stack ${s.stack}`) : null),
      el('td', {}, spec.image || ''),
      el('td', { class: `num ${running >= desired ? 'ok' : 'short'}`, 'data-field': 'running' }, `${running}/${desired}`,
        s.autoscale && s.autoscale.policy ? el('div', { class: 'muted', 'data-field': 'autoscale' },
          `autoscale ${s.autoscale.policy.min}–${s.autoscale.policy.max} on ${s.autoscale.policy.metric}` +
          (s.autoscale.paused ? ' · paused (an operator scaled it)' : '') +
          (s.autoscale.lastDecision ? ` · last ${s.autoscale.lastDecision.from}→${s.autoscale.lastDecision.to}` : '')) : null),
      el('td', {}, s.updateState || '', s.updateMessage && s.updateMessage !== `update ${s.updateState}`
        ? el('div', { class: 'muted' }, s.updateMessage) : null),
      el('td', { class: 'error', 'data-field': 'last-error' }, lastError(name, s)),
      labels,
      el('td', {}, mode),
      ops));
  }
  // A live update re-renders the table: what is being typed stays (drafts) and so do the
  // focus and the caret.
  const active = document.activeElement;
  const focused = active && active.dataset ? active.dataset.draft : undefined;
  let caret = null;
  try { caret = focused ? [active.selectionStart, active.selectionEnd] : null; } catch (e) { caret = null; }
  body.replaceChildren(...rows);
  document.querySelectorAll('.ops').forEach(c => { c.hidden = !canOperate(); });
  if (focused) {
    const again = body.querySelector(`input[data-draft="${CSS.escape(focused)}"]`);
    if (again) {
      again.focus();
      try { if (caret && caret[0] !== null) again.setSelectionRange(caret[0], caret[1]); } catch (e) { /* number inputs */ }
    }
  }
}

// Values typed into a service's fields and not sent yet, by "service/field".
const drafts = new Map();

function draftInput(name, field, attrs, current) {
  const key = `${name}/${field}`;
  const input = el('input', { ...attrs, value: drafts.has(key) ? drafts.get(key) : current, 'data-draft': key });
  input.addEventListener('input', () => drafts.set(key, input.value));
  return input;
}

// Once the action is sent, the field shows the service again, not the draft.
function sent(input, promise) {
  drafts.delete(input.dataset.draft);
  return promise;
}

function newRequestId() {
  if (window.crypto && crypto.randomUUID) return `page-${crypto.randomUUID()}`;
  return `page-${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

// The newest task error of a service, or why its update stopped.
function lastError(name, s) {
  let newest = null;
  for (const t of state.tasks.values()) {
    if (t.service === name && t.error && (!newest || t.updatedAt > newest.updatedAt)) newest = t;
  }
  if (newest) return `${newest.node}: ${newest.error}`;
  const st = s.updateState || '';
  return st === 'paused' || st.startsWith('rollback') ? s.updateMessage || '' : '';
}

function renderRouting() {
  const box = $('routing');
  const parts = [];
  for (const name of [...state.services.keys()].sort()) {
    const s = state.services.get(name);
    if (!s.spec || !s.spec.ports || !s.spec.ports.length) continue;
    const ports = s.spec.ports.map(p => `${p.published}→${p.target}`).join(', ');
    const r = s.routing || {};
    const div = el('div', { class: 'svc', 'data-service': name },
      el('b', {}, name), ` ports ${ports}: `,
      r.mode === 'edge-proxy'
        ? `edge proxy (a ${r.edgeService} container on every node, drained ones too), no IPVS on these nodes`
        : 'IPVS ingress routing mesh');
    const probe = lastRouting.get(name);
    if (probe && probe.probes && probe.probes.length) {
      div.append(el('div', { class: 'muted' }, 'replicas that answered /ping after the last change made here:'));
      for (const p of probe.probes) {
        const who = (p.hostnames || []).join(', ');
        div.append(el('div', { class: 'probe' },
          `${p.node} ${p.address}: ${p.answered ? `${(p.hostnames || []).length}/${p.expected} (${who})` : `no answer ${p.error || ''}`}${p.warmingUp ? ' — still warming up' : ''}`));
      }
    } else {
      div.append(el('div', { class: 'muted' }, 'which replicas answer on each node is probed after each scale or update made here'));
    }
    parts.push(div);
  }
  box.replaceChildren(...parts);
}

// Actions wait for convergence, so several may be in flight: an older one that finishes
// late must not cover the status of a newer one (its failure is still shown).
let lastAct = 0;
async function act(what, fn, service) {
  const mine = ++lastAct;
  setStatus(`${what}…`);
  try {
    const out = await fn();
    if (service && out && out.routing) lastRouting.set(service, out.routing);
    if (mine === lastAct) setStatus(`${what}: done`);
    queueRender();
  } catch (e) {
    setStatus(`${what}: ${e.message}`, true);
  }
}

// ------------------------------------------------------------------ start

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', ev => {
    ev.preventDefault();
    login($('token').value.trim());
  });
  $('logout').addEventListener('click', logout);
  if (token()) login(token());
});
