import { ApiError, del, get, post, qs, type Row } from '../api';
import { append, h } from '../dom';
import { ago, fmt2, fmtDateTime } from '../format';
import type { Ctx } from '../main';

const STATES: [string, string][] = [['open', 'Open (pending and firing)'], ['firing', 'Firing'], ['pending', 'Pending'], ['resolved', 'Resolved']];
const isSet = (t: string) => !!t && !t.startsWith('0001-');

export async function alertsPage(ctx: Ctx): Promise<void> {
  const state = STATES.some(([s]) => s === ctx.params.get('state')) ? ctx.params.get('state')! : 'open';
  const canAct = ctx.scopes.includes('admin');
  const [list, silences] = await Promise.all([
    get<{ alerts: Row[] }>('/api/v1/alerts' + qs({ community: ctx.community, state: state === 'open' ? '' : state, limit: 1000 })),
    get<{ silences: Row[] }>('/api/v1/alerts/silences'),
  ]);
  const status = h('p', { className: 'action-status', role: 'status', 'aria-live': 'polite', 'data-testid': 'action-status' });
  const why = 'Your API key has the read scope only: acknowledging and silencing need a key with the admin scope (api.tokens[].scopes).';

  const act = async (btn: HTMLButtonElement, what: string, fn: () => Promise<unknown>) => {
    btn.disabled = true;
    status.textContent = `${what}…`;
    try {
      await fn();
      ctx.navigate('/alerts', { done: what });
    } catch (err) {
      btn.disabled = false;
      status.textContent = `${what} failed: ${err instanceof ApiError ? err.message : String(err)}`;
      status.className = 'action-status error';
    }
  };
  const done = ctx.params.get('done');
  if (done) {
    status.textContent = `${done}: done.`;
    history.replaceState(null, '', location.pathname + qs({ ...Object.fromEntries(ctx.params), done: null }));
  }

  const stateSel = h('select', { id: 'f-state', name: 'state' }, STATES.map(([s, l]) => h('option', { value: s, selected: s === state }, l)));
  stateSel.addEventListener('change', () => ctx.navigate('/alerts', { state: stateSel.value === 'open' ? null : stateSel.value }));

  const actionButton = (label: string, what: string, fn: () => Promise<unknown>, name: string) => {
    const b = h('button', { type: 'button', className: 'small-btn', disabled: !canAct, 'aria-describedby': canAct ? null : 'readonly-why', 'aria-label': `${label}: ${name}` }, label);
    b.addEventListener('click', () => void act(b, what, fn));
    return b;
  };
  // The most severe first, then the newest.
  const rank: Record<string, number> = { critical: 0, warning: 1, info: 2 };
  list.alerts.sort((a, b) => (rank[a.severity] ?? 3) - (rank[b.severity] ?? 3) || String(b.started_at).localeCompare(String(a.started_at)));
  const SHOWN = 50;
  const showAll = ctx.params.get('all') === '1';
  const rows = list.alerts.slice(0, showAll ? undefined : SHOWN).map((a) => {
    const acked = isSet(a.acknowledged_at);
    return h('tr', { 'data-alert': a.id },
      h('td', {}, h('span', { className: `sev sev-${a.severity}` }, a.severity)),
      h('th', { scope: 'row' }, a.rule, a.key ? h('div', { className: 'muted small' }, a.key) : null),
      h('td', { 'data-col': 'state' }, h('span', { className: `state state-${a.state}` }, a.state),
        acked ? h('div', { className: 'muted small', 'data-col': 'ack' }, `acknowledged by ${a.acknowledged_by || '–'} ${ago(a.acknowledged_at)}`) : null),
      h('td', { title: fmtDateTime(a.started_at) }, ago(a.started_at)),
      h('td', { className: 'num' }, `${fmt2(a.value)} (was ${fmt2(a.baseline)})`),
      h('td', { className: 'summary' }, a.summary),
      h('td', { className: 'actions' },
        a.state !== 'resolved' && !acked ? actionButton('Acknowledge', `Acknowledge ${a.rule}`, () => post(`/api/v1/alerts/${encodeURIComponent(a.id)}/ack`, { by: 'dashboard' }), a.rule) : null,
        a.state !== 'resolved' ? actionButton('Silence 24 h', `Silence ${a.rule}`, () => post('/api/v1/alerts/silences', {
          rule: a.rule, community: a.community, key: a.key, ends_at: new Date(Date.now() + 86400_000).toISOString(),
          comment: 'silenced from the dashboard', by: 'dashboard' }), a.rule) : null),
    );
  });

  const silenceRows = silences.silences.filter((s) => !s.community || s.community === ctx.community).map((s) => h('tr', { 'data-silence': s.id },
    h('th', { scope: 'row' }, s.rule || 'every rule'), h('td', {}, s.key || 'every key'), h('td', {}, fmtDateTime(s.ends_at)),
    h('td', {}, s.by || '–'), h('td', {}, s.comment || '–'),
    h('td', {}, (() => {
      const b = h('button', { type: 'button', className: 'small-btn secondary', disabled: !canAct, 'aria-describedby': canAct ? null : 'readonly-why', 'aria-label': `End the silence of ${s.rule || 'every rule'}` }, 'End silence');
      b.addEventListener('click', () => void act(b, `End the silence of ${s.rule || 'every rule'}`, () => del(`/api/v1/alerts/silences/${encodeURIComponent(s.id)}`)));
      return b;
    })())));

  append(ctx.main, [
    h('div', { className: 'page-head' }, h('h1', {}, 'Alerts'),
      h('p', { className: 'sub' }, `Alerts of ${ctx.community}, judged every minute from alerts.yaml. Acknowledging keeps an alert open but stops reminders; a silence holds its notifications until it ends.`)),
    canAct ? null : h('p', { className: 'notice', id: 'readonly-why', 'data-testid': 'readonly-why' }, why),
    h('div', { className: 'filters' }, h('div', {}, h('label', { for: 'f-state' }, 'State'), stateSel)),
    status,
    h('div', { className: 'card table-card' },
      h('table', { 'data-testid': 'alerts-table' },
        h('caption', { 'data-testid': 'alerts-count', 'data-count': list.alerts.length }, `${list.alerts.length} ${state === 'open' ? 'open' : state} alerts`),
        h('thead', {}, h('tr', {}, ['Severity', 'Rule', 'State', 'Since', 'Value', 'Summary', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 7, className: 'empty' }, `No ${state === 'open' ? 'open' : state} alerts.`)))),
      rows.length < list.alerts.length ? h('div', { className: 'pager' }, h('span', { className: 'muted' }, `${rows.length} of ${list.alerts.length} shown, the most severe and newest first`),
        h('button', { type: 'button', onclick: () => ctx.navigate('/alerts', { all: '1' }) }, `Show all ${list.alerts.length}`)) : null),
    h('div', { className: 'card table-card' },
      h('table', { 'data-testid': 'silences-table' },
        h('caption', {}, 'Active silences'),
        h('thead', {}, h('tr', {}, ['Rule', 'Key', 'Ends', 'By', 'Comment', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, silenceRows.length ? silenceRows : h('tr', {}, h('td', { colspan: 6, className: 'empty' }, 'No silences.'))))),
  ]);
}
