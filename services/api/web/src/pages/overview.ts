import { communityPath, get, qs, type Row } from '../api';
import { chart, color } from '../charts';
import { append, card, dataTable, h, table } from '../dom';
import { fmt2, fmtHours, fmtInt, fmtPct, levelName } from '../format';
import type { Ctx } from '../main';

interface Metric { rows: Row[] }

function kpi(testid: string, label: string, value: string, note: string): HTMLElement {
  return h('div', { className: 'kpi', 'data-testid': testid },
    h('dt', {}, label), h('dd', {}, h('span', { className: 'kpi-value' }, value), h('span', { className: 'kpi-note' }, note)));
}

const LEVEL_ORDER = [1, 2, 3, 4, 0];

// latestFullWeek is the index of the last weekly row whose week (Monday to
// Sunday) ends on or before `to` (YYYY-MM-DD, inclusive); the last row when
// none does.
export function latestFullWeek(rows: Row[], to: string): number {
  for (let i = rows.length - 1; i >= 0; i--) {
    const end = new Date(`${rows[i].period_start}T00:00:00Z`);
    end.setUTCDate(end.getUTCDate() + 6);
    if (end.toISOString().slice(0, 10) <= to) return i;
  }
  return rows.length - 1;
}

export async function overviewPage(ctx: Ctx): Promise<void> {
  const c = ctx.community;
  const range = { from: ctx.from, to: ctx.to };
  const [week, bySource, gravity, levels, movement, ttfr, alerts] = await Promise.all([
    get<Metric>(communityPath(c, '/health' + qs({ ...range, period: 'week' }))),
    get<Metric>(communityPath(c, '/health' + qs({ ...range, period: 'day', segment: 'source' }))),
    get<Metric>(communityPath(c, '/metrics/gravity' + qs({ ...range, period: 'week' }))),
    get<Metric>(communityPath(c, '/metrics/levels')),
    get<Metric>(communityPath(c, '/metrics/level_movement' + qs(range))),
    get<Metric>(communityPath(c, '/metrics/time_to_first_response' + qs({ ...range, period: 'week' }))),
    get<{ alerts: Row[] }>('/api/v1/alerts' + qs({ community: c, limit: 1000 })).catch((err: Error) => ({ alerts: [] as Row[], error: err.message })),
  ]);
  const main = ctx.main;
  append(main, [h('div', { className: 'page-head' },
    h('h1', {}, `Community overview: ${c}`),
    h('p', { className: 'sub' }, `${ctx.from} to ${ctx.to}, bots and teammates left out. Weeks start on Monday (UTC).`))]);

  // Headline numbers: the latest full week in the range (the current week,
  // a day old on a Monday, would compare a part with a whole).
  const at = latestFullWeek(week.rows, ctx.to);
  const last = week.rows[at] ?? {};
  const prev = week.rows[at - 1];
  const g = gravity.rows[gravity.rows.length - 1];
  const lastTTFR = ttfr.rows.filter((r) => r.period_start === last.period_start);
  const opened = lastTTFR.reduce((s, r) => s + r.opened, 0);
  const responded = lastTTFR.reduce((s, r) => s + r.responded, 0);
  const rank: Record<string, number> = { critical: 0, warning: 1, info: 2 };
  const open = alerts.alerts.filter((a) => a.state === 'firing' || a.state === 'pending')
    .sort((a, b) => (rank[a.severity] ?? 3) - (rank[b.severity] ?? 3) || String(b.started_at).localeCompare(String(a.started_at)));
  const delta = (k: string) => (prev && prev[k] ? `${last[k] >= prev[k] ? '+' : ''}${fmtInt(last[k] - prev[k])} vs the week before` : 'first week in range');
  append(main, [h('dl', { className: 'kpis', 'aria-label': `The week of ${last.period_start ?? '–'}` },
    kpi('kpi-active-members', 'Active members', fmtInt(last.active_members), `week of ${last.period_start ?? '–'} · ${delta('active_members')}`),
    kpi('kpi-activities', 'Activities', fmtInt(last.activities), `week of ${last.period_start ?? '–'} · ${delta('activities')}`),
    kpi('kpi-new-members', 'New members', fmtInt(last.new_members), `returning: ${fmtInt((last.active_members ?? 0) - (last.new_members ?? 0))}`),
    kpi('kpi-gravity', 'Gravity', g ? fmt2(g.gravity) : '–', g ? `week of ${g.period_start} · ${fmtInt(g.members)} members in orbit` : 'no weekly gravity yet'),
    kpi('kpi-response-rate', 'Questions answered', opened ? fmtPct(responded / opened) : '–', `${fmtInt(responded)} of ${fmtInt(opened)} opened in the week of ${last.period_start ?? '–'}`),
    kpi('kpi-open-alerts', 'Open alerts', fmtInt(open.length), open.length ? `${open.filter((a) => a.state === 'firing').length} firing` : 'all quiet'),
  )]);

  const grid = h('div', { className: 'grid' });
  main.appendChild(grid);

  // Activity per day, stacked by source.
  const days = [...new Set(bySource.rows.map((r) => r.period_start as string))].sort();
  const totals = new Map<string, number>();
  for (const r of bySource.rows) totals.set(r.segment, (totals.get(r.segment) ?? 0) + r.volume);
  const sources = [...totals.keys()].sort((a, b) => totals.get(b)! - totals.get(a)!);
  const vol = new Map(bySource.rows.map((r) => [`${r.period_start}|${r.segment}`, r.volume as number]));
  grid.appendChild(card('Activity over time, by source',
    chart({ label: `Activities per day by source, ${ctx.from} to ${ctx.to}`, kind: 'bar', stacked: true, labels: days, height: 280, testid: 'chart-activity',
      series: sources.map((s, i) => ({ label: s, data: days.map((d) => vol.get(`${d}|${s}`) ?? 0), color: color(i) })) }),
    dataTable('Activities per source in the range', ['Source', 'Activities'], sources.map((s) => [s, fmtInt(totals.get(s))])),
  ));
  grid.lastElementChild!.classList.add('wide');

  // Active members, new vs returning, per week.
  const weeks = week.rows.map((r) => r.period_start as string);
  grid.appendChild(card('Active members: new and returning',
    chart({ label: 'Active members per week, new and returning', kind: 'bar', stacked: true, labels: weeks, testid: 'chart-members',
      series: [
        { label: 'Returning', data: week.rows.map((r) => r.active_members - r.new_members), color: color(0) },
        { label: 'New', data: week.rows.map((r) => r.new_members), color: color(4) },
      ] }),
    dataTable('Active members per week', ['Week', 'Active', 'New', 'Returning', 'Activities'],
      week.rows.map((r) => [r.period_start, fmtInt(r.active_members), fmtInt(r.new_members), fmtInt(r.active_members - r.new_members), fmtInt(r.activities)])),
  ));

  // Gravity trend.
  grid.appendChild(card('Gravity trend',
    chart({ label: 'Community gravity per week, with members in orbit', kind: 'line', labels: gravity.rows.map((r) => r.period_start), testid: 'chart-gravity',
      yTitle: 'gravity', y2Title: 'members',
      series: [
        { label: 'Gravity', data: gravity.rows.map((r) => r.gravity), color: color(0) },
        { label: 'Members in orbit', data: gravity.rows.map((r) => r.members), color: color(1), yAxisID: 'y2', dashed: true },
      ] }),
    dataTable('Gravity per week', ['Week', 'Gravity', 'Members', 'Leading', 'Contributing', 'Participating', 'Exploring'],
      gravity.rows.map((r) => [r.period_start, fmt2(r.gravity), fmtInt(r.members), fmtInt(r.leading), fmtInt(r.contributing), fmtInt(r.participating), fmtInt(r.exploring)])),
  ));

  // Orbit levels now.
  const byLevel = new Map(levels.rows.map((r) => [r.orbit_level as number, r.members as number]));
  const levelTotal = levels.rows.reduce((s, r) => s + r.members, 0);
  grid.appendChild(card('Orbit level distribution',
    chart({ label: 'Members per orbit level now', kind: 'bar', horizontal: true, labels: LEVEL_ORDER.map(levelName), testid: 'chart-levels', height: 220,
      series: [{ label: 'Members', data: LEVEL_ORDER.map((l) => byLevel.get(l) ?? 0), color: color(2) }] }),
    table('Members per orbit level now', ['Level', 'Members', 'Share'],
      LEVEL_ORDER.map((l) => [levelName(l), fmtInt(byLevel.get(l) ?? 0), levelTotal ? fmtPct((byLevel.get(l) ?? 0) / levelTotal) : '–']),
      { rowHeader: true, testid: 'levels-table', hideCaption: true }),
  ));

  // Bottlenecks: the latest month's movement between levels.
  const months = [...new Set(movement.rows.map((r) => r.period_start as string))].sort();
  const month = months[months.length - 1];
  const mrows = movement.rows.filter((r) => r.period_start === month);
  const upShare = (r: Row) => (r.members ? r.moved_up / r.members : 1);
  const candidates = mrows.filter((r) => r.orbit_level !== 1 && r.level !== 1 && r.members > 0);
  const bottleneck = candidates.length ? candidates.reduce((a, b) => (upShare(b) < upShare(a) ? b : a)) : null;
  const order = (r: Row) => LEVEL_ORDER.indexOf(r.level);
  grid.appendChild(card('Bottlenecks: movement between levels',
    h('p', { className: 'sub' }, month ? `Month of ${month}: members at each level, and how many moved up, held or moved down.` : 'No movement in this range yet.'),
    table(`Movement between orbit levels, month of ${month ?? '–'}`, ['Level', 'Members', 'Moved up', 'Held', 'Moved down', 'Moved up %'],
      [...mrows].sort((a, b) => order(a) - order(b)).map((r) => [
        h('span', {}, levelName(r.level), r === bottleneck ? h('span', { className: 'tag warn' }, 'bottleneck') : null),
        fmtInt(r.members), fmtInt(r.moved_up), fmtInt(r.held), fmtInt(r.moved_down), r.members ? fmtPct(upShare(r)) : '–']),
      { rowHeader: true, testid: 'bottleneck-table', hideCaption: true }),
  ));

  // Time to first response per week, for the busiest item types.
  const openedBy = new Map<string, number>();
  for (const r of ttfr.rows) openedBy.set(r.item_type, (openedBy.get(r.item_type) ?? 0) + r.opened);
  const types = [...openedBy.keys()].sort((a, b) => openedBy.get(b)! - openedBy.get(a)!).slice(0, 4);
  const tweeks = [...new Set(ttfr.rows.map((r) => r.period_start as string))].sort();
  const med = new Map(ttfr.rows.map((r) => [`${r.period_start}|${r.item_type}`, r.median_seconds as number | null]));
  grid.appendChild(card('Time to first response',
    chart({ label: 'Median hours to the first response per week, busiest item types', kind: 'line', labels: tweeks, yTitle: 'median hours', testid: 'chart-ttfr',
      series: types.map((t, i) => ({ label: t, data: tweeks.map((w) => { const v = med.get(`${w}|${t}`); return v === undefined || v === null ? null : v / 3600; }), color: color(i) })) }),
    dataTable('Time to first response in the latest week', ['Item type', 'Opened', 'Answered', 'Median', 'p90', 'Within SLO'],
      lastTTFR.map((r) => [r.item_type, fmtInt(r.opened), fmtInt(r.responded), fmtHours(r.median_seconds), fmtHours(r.p90_seconds), fmtPct(r.within_slo)])),
  ));

  // Open alerts.
  const alertErr = (alerts as { error?: string }).error;
  grid.appendChild(card('Open alerts',
    alertErr ? h('p', { className: 'error', role: 'status' }, `Alerts unavailable: ${alertErr}`) : null,
    open.length === 0 && !alertErr ? h('p', { className: 'ok' }, 'No open alerts.') : null,
    open.length ? h('ul', { className: 'alert-list', 'data-testid': 'overview-alerts' }, open.slice(0, 6).map((a) => h('li', {},
      h('span', { className: `sev sev-${a.severity}` }, a.severity), ' ', h('strong', {}, a.rule), ' ', h('span', { className: 'muted' }, a.key ? `(${a.key}) ` : ''),
      h('div', { className: 'muted small' }, a.summary)))) : null,
    ctx.link('/alerts', 'All alerts →'),
  ));

}
