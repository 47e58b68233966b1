import { h, render } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import { api, ApiError, storedKey, storeKey, subscribe } from './api.js';
import { Chart } from './chart.js';
import { ago, gb, ghz, loadClass, mbps, pct, seconds, time } from './format.js';

const html = htm.bind(h);
const ROLE_RANK = { viewer: 1, operator: 2, admin: 3 };
const can = (session, role) => ROLE_RANK[session.role] >= ROLE_RANK[role];
const STATE_LABELS = { connected: null, 'entering-maintenance': 'entering maintenance', maintenance: 'maintenance', quarantine: 'quarantine', failed: 'failed', standby: 'standby' };

/** Polls `load` every `ms` while mounted (and at once when `deps` change). */
function usePolled(load, ms, deps) {
  const [state, setState] = useState({ data: null, error: null });
  const reload = useCallback(() => load().then((data) => setState({ data, error: null }), (error) => setState((s) => ({ data: s.data, error }))), deps);
  useEffect(() => {
    setState({ data: null, error: null });
    void reload();
    if (!ms) return undefined;
    const timer = setInterval(() => void reload(), ms);
    return () => clearInterval(timer);
  }, [reload]);
  return [state.data, state.error, reload];
}

/** Why a key was refused, in the server's words without the route's role (signing in is not a route to the user). */
function refusal(error) {
  if (!(error instanceof ApiError) || error.status !== 401) return error.message;
  const why = (error.body?.message ?? '').replace(/ \(this route needs role \w+\)$/, '');
  return why ? `This key is not accepted: ${why}.` : 'This key is not accepted.';
}

function SignIn({ onSignedIn, message }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState(message ?? null);
  const submit = async (event) => {
    event.preventDefault();
    storeKey(key.trim());
    try {
      onSignedIn(await api('/session'));
    } catch (e) {
      storeKey(null);
      setError(refusal(e));
    }
  };
  return html`<div class="signin">
    <form class="card signin-card" onSubmit=${submit}>
      <div class="brand big"><span class="logo">⚖</span> Ballast</div>
      <p class="muted">Sign in with an API key. It is kept for this browser tab only.</p>
      <input id="api-key" type="password" autocomplete="off" placeholder="API key" value=${key} onInput=${(e) => setKey(e.target.value)} autofocus />
      ${error && html`<p class="error">${error}</p>`}
      <button class="primary" type="submit" disabled=${!key.trim()}>Sign in</button>
    </form>
  </div>`;
}

function Bar({ value, line, label }) {
  const cls = loadClass(value, line);
  return html`<div class="bar-row" title=${`${label} ${pct(value, 1)}`}>
    <span class="bar-label">${label}</span>
    <div class="bar"><div class=${`fill ${cls}`} style=${{ width: `${Math.min(100, value * 100)}%` }}></div>${line !== null && line !== undefined && html`<div class="line" style=${{ left: `${line * 100}%` }}></div>`}</div>
    <span class="bar-value">${pct(value)}</span>
  </div>`;
}

function StateBadge({ state }) {
  const label = STATE_LABELS[state];
  return label ? html`<span class=${`badge state-${state}`}>${label}</span>` : null;
}

function ClusterList({ clusters, selected, onSelect }) {
  return html`<nav class="clusters">
    <h2>Clusters</h2>
    ${clusters.map(
      (c) => html`<button class=${`cluster-item ${c.id === selected ? 'selected' : ''}`} data-cluster=${c.id} onClick=${() => onSelect(c.id)}>
        <div class="cluster-name">${c.name ?? c.id}</div>
        <div class="cluster-figures">
          <span class=${c.status?.aboveTarget ? 'warn' : 'ok'}>${c.status ? c.status.imbalance.toFixed(3) : '…'}</span>
          <span class="muted"> / ${c.status?.targetImbalance ?? '—'}</span>
          ${c.detections > 0 && html`<span class="badge detection">${c.detections} open</span>`}
        </div>
        <div class="muted small">${c.hostCount} hosts · ${c.vmCount} VMs · ${c.policy.automationLevel}</div>
      </button>`,
    )}
  </nav>`;
}

function Dialog({ title, children, onClose, actions }) {
  return html`<div class="overlay" onClick=${(e) => e.target === e.currentTarget && onClose()}>
    <div class="card dialog" role="dialog" aria-label=${title}>
      <h3>${title}</h3>
      <div class="dialog-body">${children}</div>
      <div class="dialog-actions">${actions}<button onClick=${onClose}>Close</button></div>
    </div>
  </div>`;
}

function MaintenanceDialog({ host, onClose, onDone }) {
  const [preview, setPreview] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    api(`/hosts/${encodeURIComponent(host.id)}/maintenance`, { method: 'POST', body: { dryRun: true } }).then(setPreview, (e) => setError(e));
  }, [host.id]);
  const confirm = async () => {
    setBusy(true);
    try {
      await api(`/hosts/${encodeURIComponent(host.id)}/maintenance`, { method: 'POST', body: {} });
      onDone();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  const moves = preview?.plan?.moves ?? preview?.moves ?? [];
  const unfit = error?.body?.unfit ?? error?.body?.vms ?? null;
  return html`<${Dialog} title=${`Enter maintenance: ${host.id}`} onClose=${onClose}
    actions=${preview && !error && html`<button class="primary" id="confirm-maintenance" disabled=${busy} onClick=${confirm}>Enter maintenance</button>`}>
    ${!preview && !error && html`<p class="muted">Asking for a dry run…</p>`}
    ${preview && html`<div class="dry-run">
      <p><strong>Dry run:</strong> ${moves.length} VMs would leave ${host.id}${moves.length > 0 ? ', biggest first' : ''}.</p>
      <table class="table compact"><thead><tr><th>VM</th><th>to</th><th>reason</th></tr></thead>
      <tbody>${moves.slice(0, 50).map((m) => html`<tr><td>${m.vmId}</td><td>${m.toHostId}</td><td>${m.reason}</td></tr>`)}</tbody></table>
      ${moves.length > 50 && html`<p class="muted">…and ${moves.length - 50} more</p>`}
    </div>`}
    ${error && html`<div class="error"><p>${error.message}</p>
      ${Array.isArray(unfit) && html`<ul>${unfit.slice(0, 20).map((u) => html`<li>${u.vmId}: ${u.reason}</li>`)}</ul>`}</div>`}
  <//>`;
}

/** Manual migration of one VM: the target is the operator's choice; a refusal shows the planner's reason. */
function MigrateDialog({ vm, hosts, onClose, onDone }) {
  const others = hosts.filter((h) => h.id !== vm.hostId).sort((a, b) => (a.state === 'connected' ? 0 : 1) - (b.state === 'connected' ? 0 : 1));
  const [target, setTarget] = useState(others.find((h) => h.state === 'connected')?.id ?? others[0]?.id ?? '');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const go = async () => {
    setBusy(true);
    setError(null);
    try {
      await api(`/vms/${encodeURIComponent(vm.id)}/migrate`, { method: 'POST', body: { hostId: target } });
      onDone();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return html`<${Dialog} title=${`Migrate ${vm.id}`} onClose=${onClose}
    actions=${html`<button class="primary" id="confirm-migrate" disabled=${!target || busy} onClick=${go}>Migrate</button>`}>
    <p class="muted">From ${vm.hostId}. Checked like a move of a plan: capacity, rules, compatibility and the host's state.</p>
    <label>Target host <select id="migrate-target" value=${target} onChange=${(e) => { setTarget(e.target.value); setError(null); }}>
      ${others.map((h) => html`<option value=${h.id}>${h.id}${h.state === 'connected' ? '' : ` (${STATE_LABELS[h.state] ?? h.state})`} — CPU ${pct(h.cpuUtilization)}, memory ${pct(h.memoryUtilization)}</option>`)}
    </select></label>
    ${error && html`<p class="error" id="migrate-refusal">${error.message}</p>`}
  <//>`;
}

function HostCard({ host, line, selected, session, onSelect, onEnter, onExit }) {
  const inMaintenance = host.state === 'maintenance' || host.state === 'entering-maintenance';
  return html`<div class=${`card host ${selected ? 'selected' : ''} ${host.overloaded ? 'overloaded' : ''} state-${host.state}`} data-host=${host.id} onClick=${() => onSelect(host.id)}>
    <div class="host-head"><span class="host-name">${host.id}</span><${StateBadge} state=${host.state} /></div>
    <${Bar} label="CPU" value=${host.cpuUtilization} line=${line.cpu} />
    <${Bar} label="MEM" value=${host.memoryUtilization} line=${line.memory} />
    <div class="host-foot muted small"><span>${host.vmCount} VMs</span>
      ${can(session, 'operator') && html`<span class="host-actions" onClick=${(e) => e.stopPropagation()}>
        ${!inMaintenance && host.state !== 'failed' && html`<button class="small-button" data-action="enter-maintenance" onClick=${() => onEnter(host)}>Enter maintenance</button>`}
        ${inMaintenance && html`<button class="small-button" data-action="exit-maintenance" onClick=${() => onExit(host)}>Exit maintenance</button>`}
      </span>`}
    </div>
  </div>`;
}

function HostVms({ host, hosts, session, onMigrate }) {
  const [vms] = usePolled(() => api(`/vms?hostId=${encodeURIComponent(host.id)}&limit=1000`), 10000, [host.id]);
  const [migrations] = usePolled(() => api(`/migrations?hostId=${encodeURIComponent(host.id)}&limit=200`), 10000, [host.id]);
  const last = useMemo(() => {
    const byVm = new Map();
    for (const m of migrations?.items ?? []) if (!byVm.has(m.vmId)) byVm.set(m.vmId, m);
    return byVm;
  }, [migrations]);
  if (!vms) return html`<section class="card"><h3>VMs on ${host.id}</h3><p class="muted">Loading…</p></section>`;
  const items = [...vms.items].sort((a, b) => b.cpuDemandMhz - a.cpuDemandMhz);
  return html`<section class="card host-vms">
    <h3>VMs on ${host.id} <span class="muted">(${vms.total})</span></h3>
    <table class="table"><thead><tr><th>VM</th><th>power</th><th>vCPU</th><th>CPU demand</th><th>memory (active)</th><th>contention</th><th>last migration</th>${can(session, 'operator') && html`<th></th>`}</tr></thead>
    <tbody>${items.map((vm) => {
      const m = last.get(vm.id);
      return html`<tr data-vm=${vm.id}>
        <td>${vm.name ?? vm.id}</td><td>${vm.powerState}</td><td>${vm.vcpus}</td><td>${ghz(vm.cpuDemandMhz)}</td>
        <td>${gb(vm.memoryMb)} (${gb(vm.memoryActiveMb)})</td>
        <td>${vm.cpuContention === undefined || vm.cpuContention === null ? '—' : pct(vm.cpuContention, 1)}</td>
        <td>${m ? html`<span class=${`state-text ${m.state}`}>${m.state}</span> ${m.sourceHostId} → ${m.targetHostId}, ${ago(m.finishedAt ?? m.createdAt)}` : '—'}</td>
        ${can(session, 'operator') && html`<td><button class="small-button" data-action="migrate" onClick=${() => onMigrate(vm)}>Migrate…</button></td>`}
      </tr>`;
    })}</tbody></table>
    ${hosts.length === 0 && ''}
  </section>`;
}

function InFlight({ live, connection }) {
  const rows = live.inFlight;
  return html`<section class="card in-flight">
    <h3>Migrations in flight <span class="muted">(${rows.length})</span><span class=${`live-dot ${connection}`} title=${connection}></span></h3>
    ${rows.length === 0 ? html`<p class="muted">Nothing is moving.</p>` : html`<table class="table"><thead><tr><th>VM</th><th>from → to</th><th>phase</th><th class="wide">progress</th><th>throughput</th><th>elapsed / predicted</th></tr></thead>
    <tbody>${rows.map((m) => {
      const p = m.progress;
      const total = p ? p.transferredBytes + p.remainingBytes : 0;
      const done = p && total > 0 ? p.transferredBytes / total : 0;
      const elapsed = m.startedAt ? Date.now() - new Date(m.startedAt).getTime() : null;
      const overdue = elapsed !== null && m.predictedMs !== null && elapsed > m.predictedMs * 1.5;
      return html`<tr data-migration=${m.id} data-state=${m.state}>
        <td>${m.vmId}</td><td>${m.sourceHostId} → ${m.targetHostId}</td>
        <td>${m.state === 'running' ? (p?.phase ?? 'starting') : m.state}${p?.iteration > 1 ? html` <span class="muted">pass ${p.iteration}</span>` : ''}</td>
        <td><div class="progress"><div class="fill" style=${{ width: `${(done * 100).toFixed(1)}%` }}></div><span class="progress-label">${pct(done)}</span></div></td>
        <td>${mbps(m.throughputMbps ?? p?.bandwidthMbps ?? null)}</td>
        <td class=${overdue ? 'warn' : ''}>${seconds(elapsed)} / ${seconds(m.predictedMs)}</td>
      </tr>`;
    })}</tbody></table>`}
  </section>`;
}

function History({ clusterId, refreshKey }) {
  const [page] = usePolled(() => api(`/migrations?clusterId=${encodeURIComponent(clusterId)}&limit=100`), 5000, [clusterId, refreshKey]);
  const ended = (page?.items ?? []).filter((m) => ['succeeded', 'failed', 'cancelled'].includes(m.state)).slice(0, 25);
  return html`<section class="card history">
    <h3>Recent migrations</h3>
    ${ended.length === 0 ? html`<p class="muted">None yet.</p>` : html`<table class="table"><thead><tr><th>ended</th><th>VM</th><th>from → to</th><th>state</th><th>duration (predicted)</th><th>downtime (predicted)</th><th>reason</th></tr></thead>
    <tbody>${ended.map((m) => html`<tr data-history=${m.id}>
      <td>${time(m.finishedAt)}</td><td>${m.vmId}</td><td>${m.sourceHostId} → ${m.targetHostId}</td>
      <td><span class=${`state-text ${m.state}`}>${m.state}</span>${m.error ? html` <span class="muted small" title=${m.error}>${m.error.slice(0, 60)}</span>` : ''}</td>
      <td>${seconds(m.result?.totalTimeMs)} <span class="muted">(${seconds(m.prediction?.totalTimeMs)})</span></td>
      <td>${seconds(m.result?.downtimeMs)} <span class="muted">(${seconds(m.prediction?.downtimeMs)})</span></td>
      <td>${m.reason}</td></tr>`)}</tbody></table>`}
  </section>`;
}

/** Why each move was proposed, in words, from the plan's trace (step, scores, cost, imbalance after). */
function moveReasons(plan, index) {
  const traced = plan.trace?.moves?.find((m) => m.index === index);
  if (!traced) return [];
  const reasons = [];
  const scores = Object.entries(traced.score ?? {}).filter(([name, value]) => name !== 'total' && value !== 0);
  reasons.push(`${traced.step}: imbalance ${traced.imbalanceAfter.toFixed(3)} after this move`);
  if (scores.length > 0) reasons.push(`scores ${scores.map(([name, value]) => `${name} ${value >= 0 ? '+' : ''}${value.toFixed(3)}`).join(', ')}`);
  if (traced.cost) reasons.push(`about ${seconds(traced.cost.seconds * 1000)}, ${gb(traced.cost.transferredMb)} sent, ${seconds(traced.cost.downtimeMs)} pause${traced.cost.converges ? '' : ' (does not converge)'}`);
  if (traced.note) reasons.push(traced.note);
  return reasons;
}

/**
 * A proposed plan, approved move by move: approved moves are marked; the operator approves the
 * ones picked and either rejects the rest or keeps them for later. Moves the server refuses (no
 * longer valid) are listed with the reason, and then nothing is rejected.
 */
function Recommendation({ plan, session, onDecided }) {
  const moves = plan.plan.moves;
  const approved = new Set(plan.approvedMoves ?? []);
  const open = moves.map((_, i) => i).filter((i) => !approved.has(i));
  const [chosen, setChosen] = useState(() => moves.map((_, i) => !approved.has(i)));
  const [error, setError] = useState(null);
  const [refused, setRefused] = useState([]);
  const toggle = (i) => setChosen((c) => c.map((v, j) => (j === i ? !v : v)));
  const picked = open.filter((i) => chosen[i]);
  const run = async (rejectRest) => {
    setError(null);
    try {
      if (picked.length > 0) {
        const approval = await api(`/plans/${plan.id}/approve`, { method: 'POST', body: { moves: picked } });
        setRefused(approval.refused ?? []);
        if ((approval.refused ?? []).length > 0) return onDecided();
      }
      if (rejectRest && picked.length < open.length) await api(`/plans/${plan.id}/reject`, { method: 'POST', body: {} });
      onDecided();
    } catch (e) {
      setError(e);
      setRefused(e.body?.problems ?? []);
    }
  };
  const reject = async () => {
    try {
      await api(`/plans/${plan.id}/reject`, { method: 'POST', body: {} });
      onDecided();
    } catch (e) {
      setError(e);
    }
  };
  const operator = can(session, 'operator');
  const count = picked.length;
  const rest = open.length - count;
  return html`<div class="recommendation" data-plan=${plan.id}>
    <div class="rec-head"><strong>${moves.length} moves</strong>${approved.size > 0 ? html` <span class="badge">${approved.size} approved</span>` : ''} <span class="muted">imbalance ${plan.plan.imbalanceBefore.toFixed(3)} → ${plan.plan.imbalanceAfter.toFixed(3)} · proposed ${ago(plan.createdAt)} by ${plan.source}</span></div>
    <table class="table"><thead><tr>${operator && html`<th>approve</th>`}<th>#</th><th>VM</th><th>from → to</th><th>priority</th><th>why</th></tr></thead>
    <tbody>${moves.map((m, i) => html`<tr data-move=${i} data-approved=${approved.has(i) ? 'true' : undefined}>
      ${operator && html`<td>${approved.has(i) ? html`<span class="state-text succeeded">approved</span>` : html`<input type="checkbox" checked=${chosen[i]} onChange=${() => toggle(i)} />`}</td>`}
      <td>${i}</td><td>${m.vmId}</td><td>${m.fromHostId} → ${m.toHostId}</td><td>${m.priority}</td>
      <td class="small">${m.reason}${moveReasons(plan, i).map((r) => html`<div class="muted">${r}</div>`)}</td></tr>`)}</tbody></table>
    ${operator && html`<div class="rec-actions">
      <button class="primary" data-action="approve-selected" onClick=${() => run(true)}>${count === open.length ? (approved.size > 0 ? 'Approve the rest' : 'Approve all') : count === 0 ? 'Reject all' : `Approve ${count}, reject ${rest}`}</button>
      ${count > 0 && rest > 0 && html`<button data-action="approve-only" onClick=${() => run(false)}>Approve ${count}, keep ${rest} for later</button>`}
      <button data-action="reject-plan" onClick=${reject}>${approved.size > 0 ? 'Reject the rest' : 'Reject plan'}</button>
    </div>`}
    ${error && html`<p class="error">${error.message}</p>`}
    ${refused.length > 0 && html`<ul class="error refused">${refused.map((r) => html`<li data-refused=${r.index}>move ${r.index} (${r.vmId}): ${r.reason}</li>`)}</ul>`}
  </div>`;
}

function Recommendations({ clusterId, session, refreshKey, onDecided }) {
  const [page, , reload] = usePolled(() => api(`/plans?clusterId=${encodeURIComponent(clusterId)}&status=proposed&limit=5`), 5000, [clusterId, refreshKey]);
  const plans = page?.items ?? [];
  if (plans.length === 0) return null;
  return html`<section class="card recommendations">
    <h3>Recommendations <span class="muted">(${page.total})</span></h3>
    ${plans.map((p) => html`<${Recommendation} key=${p.id} plan=${p} session=${session} onDecided=${() => { void reload(); onDecided(); }} />`)}
  </section>`;
}

function Evaluation({ status }) {
  // planning.last is the closed loop's last evaluation: what it decided (a code) and why, in words.
  const last = status.planning?.last;
  const loop = status.closedLoop ?? null;
  const detections = loop?.detections ?? [];
  return html`<section class="card evaluation">
    <h3>Last evaluation</h3>
    ${last ? html`<p class="why" id="evaluation-summary"><span class=${`badge outcome-${last.outcome}`}>${last.outcome}</span> ${last.reason}</p>
      <p class="muted small">evaluated ${ago(last.at)}${status.planning.nextAt ? ` · next ${time(status.planning.nextAt)}` : ''}${loop && loop.heldVms.length > 0 ? ` · ${loop.heldVms.length} VMs held by cooldown` : ''}${loop?.changeWindow && !loop.changeWindow.open ? ' · outside the change window' : ''}</p>` : html`<p class="muted">Not evaluated yet.</p>`}
    ${detections.length > 0 && html`<ul class="detections">${detections.map((d) => html`<li><span class="badge detection">${d.kind}</span> ${d.description}${d.acting ? '' : html` <span class="muted small">(held ${d.holdLeftSeconds} s more)</span>`}</li>`)}</ul>`}
    ${status.metrics && html`<p class="muted small">metrics: ${status.metrics.source}, last ${ago(status.metrics.lastSuccessAt)}${status.metrics.error ? html` · <span class="error">${status.metrics.error}</span>` : ''}${status.metrics.staleVms > 0 ? ` · ${status.metrics.staleVms} VMs stale` : ''}</p>`}
  </section>`;
}

function ClusterView({ cluster, session, live, connection }) {
  const clusterId = cluster.id;
  const [refreshKey, setRefreshKey] = useState(0);
  const refresh = () => setRefreshKey((k) => k + 1);
  const [status, statusError] = usePolled(() => api(`/clusters/${encodeURIComponent(clusterId)}/status`), 5000, [clusterId, refreshKey]);
  const [series] = usePolled(() => api(`/clusters/${encodeURIComponent(clusterId)}/imbalance?from=${new Date(Date.now() - 86400000).toISOString()}&step=5m`), 60000, [clusterId]);
  const [selectedHost, setSelectedHost] = useState(null);
  const [dialog, setDialog] = useState(null);
  const rendered = useRef(false);
  useEffect(() => {
    if (status && !rendered.current) {
      rendered.current = true;
      performance.mark(`ballast:cluster-rendered:${clusterId}`);
    }
  }, [status]);
  useEffect(() => () => (rendered.current = false), [clusterId]);
  if (!status) return html`<main class="cluster-view"><p class=${statusError ? 'error' : 'muted'}>${statusError ? statusError.message : 'Loading…'}</p></main>`;
  const host = status.hosts.find((x) => x.id === selectedHost);
  const exit = async (h) => {
    try {
      await api(`/hosts/${encodeURIComponent(h.id)}/maintenance`, { method: 'DELETE', body: {} });
    } catch (e) {
      alert(e.message);
    }
    refresh();
  };
  const liveHere = { inFlight: live.inFlight.filter((m) => m.clusterId === clusterId) };
  return html`<main class="cluster-view" data-cluster-view=${clusterId}>
    <div class="summary">
      <div class="card stat"><div class="stat-label">Imbalance</div><div class=${`stat-value ${status.aboveTarget ? 'warn' : 'ok'}`} id="imbalance">${status.imbalance.toFixed(3)}</div><div class="muted small">target ${status.targetImbalance ?? 'none (threshold 1)'}</div></div>
      <div class="card stat"><div class="stat-label">Hosts</div><div class="stat-value">${status.hosts.length}</div><div class="muted small">${status.hosts.filter((x) => x.overloaded).length} overloaded · ${status.hosts.filter((x) => x.state !== 'connected').length} not connected</div></div>
      <div class="card stat"><div class="stat-label">VMs</div><div class="stat-value">${status.hosts.reduce((s, x) => s + x.vmCount, 0)}</div><div class="muted small">${cluster.policy.automationLevel}, threshold ${cluster.policy.migrationThreshold}</div></div>
      <div class="card stat"><div class="stat-label">In flight</div><div class="stat-value">${liveHere.inFlight.length}</div><div class="muted small">live</div></div>
    </div>
    <div class="row">
      <section class="card chart-card"><h3>Last 24 hours</h3><${Chart} points=${series?.points ?? []} target=${status.targetImbalance} /></section>
      <${Evaluation} status=${status} />
    </div>
    <${Recommendations} clusterId=${clusterId} session=${session} refreshKey=${refreshKey} onDecided=${refresh} />
    <${InFlight} live=${liveHere} connection=${connection} />
    <section class="hosts-section"><h3>Hosts</h3>
      <div class="hosts">${status.hosts.map((x) => html`<${HostCard} key=${x.id} host=${x} line=${status.overloadLine} selected=${x.id === selectedHost} session=${session}
        onSelect=${(id) => setSelectedHost(id === selectedHost ? null : id)} onEnter=${(hh) => setDialog({ kind: 'maintenance', host: hh })} onExit=${exit} />`)}</div>
    </section>
    ${host && html`<${HostVms} host=${host} hosts=${status.hosts} session=${session} onMigrate=${(vm) => setDialog({ kind: 'migrate', vm })} />`}
    <${History} clusterId=${clusterId} refreshKey=${refreshKey} />
    ${dialog?.kind === 'maintenance' && html`<${MaintenanceDialog} host=${dialog.host} onClose=${() => setDialog(null)} onDone=${() => { setDialog(null); refresh(); }} />`}
    ${dialog?.kind === 'migrate' && html`<${MigrateDialog} vm=${dialog.vm} hosts=${status.hosts} onClose=${() => setDialog(null)} onDone=${() => { setDialog(null); refresh(); }} />`}
  </main>`;
}

/** The live view's state: migrations in flight, with a throughput from successive frames. */
function useLive(session) {
  const [live, setLive] = useState({ inFlight: [] });
  const [connection, setConnection] = useState('connecting');
  const previous = useRef(new Map());
  useEffect(() => {
    if (!session) return undefined;
    return subscribe('/events', (event, frame) => {
      if (event !== 'migrations') return;
      const at = new Date(frame.at).getTime();
      const next = new Map();
      const inFlight = frame.inFlight.map((m) => {
        const bytes = m.progress?.transferredBytes ?? 0;
        const before = previous.current.get(m.id);
        const throughputMbps = before && at > before.at && bytes >= before.bytes ? ((bytes - before.bytes) * 8) / 1e6 / ((at - before.at) / 1000) : (before?.throughputMbps ?? null);
        next.set(m.id, { at, bytes, throughputMbps });
        return { ...m, throughputMbps };
      });
      previous.current = next;
      setLive({ inFlight });
    }, setConnection);
  }, [session]);
  return [live, connection];
}

function App() {
  const [session, setSession] = useState(undefined);
  const [signInMessage, setSignInMessage] = useState(null);
  const [clusters, setClusters] = useState(null);
  const [selected, setSelected] = useState(() => new URLSearchParams(location.hash.slice(1)).get('cluster'));
  useEffect(() => {
    const hadKey = storedKey() !== null;
    api('/session').then(setSession, (e) => {
      if (hadKey) storeKey(null);
      // No key yet is no error; a key of this tab that stopped working (revoked, expired) is said.
      setSignInMessage(e instanceof ApiError && e.status === 401 && !hadKey ? null : refusal(e));
      setSession(null);
    });
  }, []);
  const loadClusters = useCallback(async () => {
    const page = await api('/clusters?limit=1000');
    const withStatus = await Promise.all(
      page.items.map(async (c) => {
        const status = await api(`/clusters/${encodeURIComponent(c.id)}/status`).catch(() => null);
        const detections = status?.closedLoop?.detections?.length ?? 0;
        return { ...c, status, detections };
      }),
    );
    setClusters(withStatus);
  }, []);
  useEffect(() => {
    if (!session) return undefined;
    void loadClusters();
    const timer = setInterval(() => void loadClusters(), 15000);
    return () => clearInterval(timer);
  }, [session]);
  useEffect(() => {
    if (clusters && clusters.length > 0 && !clusters.some((c) => c.id === selected)) setSelected(clusters[0].id);
  }, [clusters]);
  useEffect(() => {
    if (selected) history.replaceState(null, '', `#cluster=${encodeURIComponent(selected)}`);
  }, [selected]);
  const [live, connection] = useLive(session);
  if (session === undefined) return html`<p class="muted pad">Loading…</p>`;
  if (session === null) return html`<${SignIn} message=${signInMessage} onSignedIn=${setSession} />`;
  const cluster = clusters?.find((c) => c.id === selected);
  const signOut = () => {
    storeKey(null);
    setSession(null);
    setClusters(null);
  };
  return html`<div class="layout">
    <header class="topbar">
      <div class="brand"><span class="logo">⚖</span> Ballast</div>
      <div class="who"><span class=${`badge role-${session.role}`} id="role">${session.role}</span> <span class="muted">${session.keyName}</span>
        ${session.keyId !== null && html`<button class="small-button" data-action="sign-out" onClick=${signOut}>Sign out</button>`}</div>
    </header>
    <div class="body">
      ${clusters ? html`<${ClusterList} clusters=${clusters} selected=${selected} onSelect=${setSelected} />` : html`<nav class="clusters"><p class="muted">Loading…</p></nav>`}
      ${cluster ? html`<${ClusterView} key=${cluster.id} cluster=${cluster} session=${session} live=${live} connection=${connection} />` : html`<main class="cluster-view"><p class="muted">${clusters?.length === 0 ? 'No cluster yet: import one with POST /api/v1/clusters/import.' : ''}</p></main>`}
    </div>
  </div>`;
}

render(html`<${App} />`, document.getElementById('app'));
