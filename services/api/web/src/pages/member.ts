import { ApiError, communityPath, get, qs, type Row } from '../api';
import { chart, color } from '../charts';
import { append, card, dataTable, h, table } from '../dom';
import { ago, fmt1, fmt2, fmtDateTime, fmtInt, levelName } from '../format';
import type { Ctx } from '../main';

export async function memberPage(ctx: Ctx, id: string): Promise<void> {
  const c = ctx.community;
  const base = communityPath(c, '/members/' + encodeURIComponent(id));
  let detail: Row;
  let activity: Row;
  try {
    [detail, activity] = await Promise.all([get(base), get(base + '/activity' + qs({ from: ctx.from, to: ctx.to, period: 'week', limit: 15 }))]);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      append(ctx.main, [h('h1', {}, 'Member not found'), h('p', {}, err.message + ' '), ctx.link('/members', 'Back to the members')]);
      return;
    }
    throw err;
  }
  const m = detail.member as Row;
  const series = activity.series as Row[];
  const total = series.reduce((s, r) => s + r.activities, 0);
  const graph = (detail.graph as Row[])[0];

  append(ctx.main, [
    h('nav', { 'aria-label': 'Breadcrumb', className: 'crumbs' }, ctx.link('/members', 'Members'), ' / ', m.display_name || m.member_id),
    h('div', { className: 'page-head' },
      h('h1', {}, m.display_name || m.member_id),
      h('p', { className: 'sub' }, h('code', {}, m.member_id), ` · ${levelName(m.orbit_level)} (step ${m.orbit_step} of 12)`,
        m.is_teammate ? ' · teammate' : '', ` · first seen ${fmtDateTime(m.first_seen)} · last seen ${ago(m.last_seen)}`),
      (m.roles as string[]).length ? h('p', {}, (m.roles as string[]).map((r) => h('span', { className: 'tag' }, r))) : null),
    h('dl', { className: 'kpis' },
      kpi('member-love', 'Love', fmt1(m.love), 'activity, decaying over time'),
      kpi('member-reach', 'Reach', fmt1(m.reach), 'connections, decaying'),
      kpi('member-gravity', 'Gravity', fmtInt(m.member_gravity), 'love × reach'),
      kpi('member-level', 'Level', levelName(m.orbit_level), `step ${m.orbit_step}`),
      kpi('member-activities', 'Activities', fmtInt(total), `${ctx.from} to ${ctx.to}`),
      kpi('member-pocket', 'Pocket', graph && graph.pocket !== null ? `#${graph.pocket}` : '–', graph ? `PageRank ${fmt2(graph.pagerank * 1000)}‰` : 'no weekly graph measures yet'),
    ),
  ]);
  const grid = h('div', { className: 'grid' });
  ctx.main.appendChild(grid);

  const weeks = [...new Set(series.map((r) => r.period_start as string))].sort();
  const sources = [...new Set(series.map((r) => r.source as string))].sort();
  const n = new Map(series.map((r) => [`${r.period_start}|${r.source}`, r.activities as number]));
  grid.appendChild(card('Activity timeline',
    chart({ label: `Activities per week of ${m.display_name}, by source`, kind: 'bar', stacked: true, labels: weeks, testid: 'chart-member-activity',
      series: sources.map((s, i) => ({ label: s, data: weeks.map((w) => n.get(`${w}|${s}`) ?? 0), color: color(i) })) }),
    dataTable('Activities per week and source', ['Week', ...sources], weeks.map((w) => [w, ...sources.map((s) => fmtInt(n.get(`${w}|${s}`) ?? 0))])),
    table('Latest activities', ['When', 'Type', 'Source', 'Channel', 'Title'],
      (activity.recent as Row[]).map((a) => [fmtDateTime(a.occurred_at), a.type, a.source, a.channel || '–', a.title || '–']),
      { testid: 'member-recent' }),
  ));
  grid.lastElementChild!.classList.add('wide');

  const bySource = detail.love_by_source as Row[];
  grid.appendChild(card('Love by source',
    chart({ label: 'Love by source', kind: 'bar', horizontal: true, labels: bySource.map((r) => r.source), height: 40 + 34 * Math.max(1, bySource.length), testid: 'chart-love-source',
      series: [{ label: 'Love', data: bySource.map((r) => r.love), color: color(0) }] }),
    dataTable('Love by source', ['Source', 'Love', 'Activities'], bySource.map((r) => [r.source, fmt1(r.love), fmtInt(r.activities)])),
  ));
  grid.appendChild(card('Love by channel',
    table('Love by channel (top 20)', ['Channel', 'Love', 'Activities'], (detail.love_by_channel as Row[]).map((r) => [r.channel || '(none)', fmt1(r.love), fmtInt(r.activities)]),
      { rowHeader: true, testid: 'love-by-channel', hideCaption: true }),
  ));
  grid.appendChild(card('Level history',
    table('Level changes, newest first', ['When', 'From', 'To', 'Why'], (detail.level_changes as Row[]).map((r) => [
      fmtDateTime(r.changed_at), `${levelName(r.from_level)} (${r.from_step})`, `${levelName(r.to_level)} (${r.to_step})`, [r.reason, r.detail].filter(Boolean).join(': ')]),
    { testid: 'level-history', hideCaption: true }),
  ));
  grid.appendChild(card('Strongest connections',
    table('Strongest connections', ['Member', 'Strength', 'Direct', 'Indirect', 'Last interaction'], (detail.connections as Row[]).map((r) => [
      ctx.link('/members/' + encodeURIComponent(r.member_id), r.member_id), fmt1(r.strength), fmtInt(r.direct_interactions), fmtInt(r.indirect_interactions), ago(r.last_interaction_at)]),
    { rowHeader: true, testid: 'connections', hideCaption: true }),
  ));
  grid.appendChild(card('Identities and roles',
    table('Identities', ['Identity', 'Source', 'Username'], (detail.identities as Row[]).map((r) => [r.identity, r.source, r.username || '–']),
      { rowHeader: true, testid: 'identities' }),
    table('Roles', ['Role', 'Since', 'Why'], (detail.roles as Row[]).map((r) => [r.role, fmtDateTime(r.since), r.reason]), { rowHeader: true }),
  ));
}

function kpi(testid: string, label: string, value: string, note: string): HTMLElement {
  return h('div', { className: 'kpi', 'data-testid': testid },
    h('dt', {}, label), h('dd', {}, h('span', { className: 'kpi-value' }, value), h('span', { className: 'kpi-note' }, note)));
}
