import { communityPath, get, qs, type Row } from '../api';
import { append, card, h, table } from '../dom';
import { fmt2, fmtHours, fmtInt, fmtPct, levelName } from '../format';
import type { Ctx } from '../main';

// The weekly report (GET /report): the same numbers as the e-mail, laid
// out with the dashboard's styles. ?week= picks the week (any day in it).

const day = (iso: string): string => String(iso).slice(0, 10);

function shiftWeek(iso: string, days: number): string {
  const d = new Date(`${day(iso)}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

function change(f: Row): string {
  if (f.change === null || f.change === undefined) return f.unit === 'share' || !f.value ? '–' : 'new';
  if (f.unit === 'share') return `${f.change >= 0 ? '+' : ''}${fmt2(f.change * 100)} pts`;
  return `${f.change >= 0 ? '+' : ''}${fmtPct(f.change)}`;
}

const value = (f: Row, v: number): string => (f.unit === 'share' ? fmtPct(v) : fmtInt(v));
const hours = (h: number | null | undefined): string => (h === null || h === undefined ? '–' : fmtHours(h * 3600));
const seconds = (s: number | null | undefined): string => fmtHours(s);

export async function reportPage(ctx: Ctx): Promise<void> {
  const week = ctx.params.get('week') ?? '';
  const { report: r } = await get<{ report: Row }>(communityPath(ctx.community, '/report' + qs({ week })));
  const start = day(r.week_start);
  const end = shiftWeek(start, 6);
  const main = ctx.main;
  append(main, [h('div', { className: 'page-head' },
    h('h1', {}, `Weekly report: ${ctx.community}`),
    h('p', { className: 'sub' }, `Week of ${start} to ${end} (Monday to Sunday, UTC), against the week before. Bots and teammates left out.`),
    h('p', { className: 'sub' },
      ctx.link('/report', '← Previous week', { week: shiftWeek(start, -7) }), ' · ',
      ctx.link('/report', 'Next week →', { week: shiftWeek(start, 7) }), ' · ',
      ctx.link('/report', 'Last full week', { week: null })))]);

  append(main, [card('The week in brief', h('ul', { className: 'story', 'data-testid': 'report-story' },
    (r.story as string[]).map((s) => h('li', {}, s))))]);

  const grid = h('div', { className: 'grid' });
  main.appendChild(grid);
  grid.appendChild(card('Health, against the week before', table('Health metrics this week and the week before',
    ['Metric', 'This week', 'Week before', 'Change'],
    (r.health as Row[]).map((f) => [f.label, value(f, f.value), f.unit === 'share' && f.change === null ? '–' : value(f, f.previous), change(f)]),
    { rowHeader: true, testid: 'report-health', hideCaption: true })));
  grid.appendChild(card('Time to first response', table('Time to first response per item type',
    ['Item', 'Opened', 'Answered', 'Median', 'Week before'],
    ((r.response ?? []) as Row[]).map((x) => [x.item_type, fmtInt(x.opened), fmtPct(x.response_rate), hours(x.median_hours), hours(x.previous_median_hours)]),
    { rowHeader: true, testid: 'report-response', hideCaption: true })));

  const g = r.gravity as Row | null;
  grid.appendChild(card('Gravity and orbit levels', g
    ? h('div', {},
      h('p', { 'data-testid': 'report-gravity' }, `Gravity ${fmt2(g.gravity)}`, g.previous_gravity === null ? '' : ` (week before ${fmt2(g.previous_gravity)})`, `; ${fmtInt(g.members)} members in orbit.`),
      table('Members per orbit level at the week\'s end', ['Leading', 'Contributing', 'Participating', 'Exploring'],
        [[fmtInt(g.leading), fmtInt(g.contributing), fmtInt(g.participating), fmtInt(g.exploring)]], { hideCaption: true }))
    : h('p', { className: 'muted' }, 'No weekly gravity for this week yet (written when stream time enters the next week).')));

  const mv = r.level_movement as Row | null;
  grid.appendChild(card(mv ? `Level movement in ${day(mv.month).slice(0, 7)}` : 'Level movement', mv
    ? table('Members per level at the month\'s start and where they went', ['Level at the start', 'Members', 'Moved up', 'Held', 'Moved down'],
      (mv.levels as Row[]).map((l) => [levelName(l.level), fmtInt(l.members), fmtInt(l.moved_up), fmtInt(l.held), fmtInt(l.moved_down)]),
      { rowHeader: true, hideCaption: true })
    : h('p', { className: 'muted' }, 'No full month yet.')));

  grid.appendChild(card('Top contributors', table('The week\'s most active members', ['Member', 'Contributions', 'Activities', 'Level', 'Love'],
    ((r.top_contributors ?? []) as Row[]).map((c) => [ctx.link(`/members/${encodeURIComponent(c.member_id)}`, c.name || c.member_id),
      fmtInt(c.contributions), fmtInt(c.activities), levelName(c.orbit_level), fmt2(c.love)]),
    { rowHeader: true, testid: 'report-top', hideCaption: true })));

  const leaders = [...((r.new_leaders ?? []) as Row[]).map((l) => h('li', {}, ctx.link(`/members/${encodeURIComponent(l.member_id)}`, l.name || l.member_id),
    ` reached Leading on ${day(l.at)} (from ${levelName(l.from_level)}; ${l.reason})`)),
  ...((r.roles_gained ?? []) as Row[]).map((x) => h('li', {}, ctx.link(`/members/${encodeURIComponent(x.member_id)}`, x.name || x.member_id),
    ` became ${x.role} on ${day(x.at)}`))];
  grid.appendChild(card('New leaders', leaders.length ? h('ul', { 'data-testid': 'report-leaders' }, leaders)
    : h('p', { className: 'muted' }, 'Nobody reached Leading or gained a role this week.')));

  const st = r.structure as Row | null;
  if (st && st.measures.members > 0) {
    const m = st.measures;
    grid.appendChild(card('Structure of the community', h('div', { 'data-testid': 'report-structure' },
      h('p', {}, h('strong', { className: `class class-${m.class}` }, m.class), `: ${m.reason}.`),
      table('Structure measures of the reach graph now', ['Measure', 'Value'], [
        ['Members with any connection', `${fmtPct(m.connected_share)} of ${fmtInt(m.members)}`],
        ['Degree centralization (1 = a star)', fmt2(m.centralization)],
        ['Edges touching the top member / the top 5', `${fmtPct(m.top1_edge_share)} / ${fmtPct(m.top5_edge_share)}`],
        ['Density; average clustering', `${m.density.toFixed(4)}; ${fmt2(m.clustering)}`],
        ['Largest connected group', `${fmtInt(m.largest_component)} (${fmtPct(m.largest_component_share)})`],
        ...(st.bus_risk as Row[]).map((b) => [`If the top ${b.k} connector${b.k === 1 ? '' : 's'} left (${(b.removed as Row[]).map((x) => x.display_name || x.member_id).join(', ')})`,
          `${fmtPct(b.pair_share_lost)} of connected pairs lost`]),
      ], { rowHeader: true, hideCaption: true }),
      (st.trend as Row[]).length ? table('Structure by month', ['Month', 'Class', 'Connected', 'Centralization', 'Clustering', 'Lost without the top 1'],
        (st.trend as Row[]).slice(-6).map((p) => [String(p.month).slice(0, 7), p.class, fmtPct(p.connected_share), fmt2(p.centralization), fmt2(p.clustering), fmtPct(p.bus_pairs_lost_k1)]),
        { rowHeader: true }) : null)));
  }

  const pp = r.pain_points as Row | null;
  if (pp) {
    grid.appendChild(card('Pain points', h('div', { 'data-testid': 'report-pain-points' },
      h('p', {}, `${fmtInt(pp.questions)} questions opened (week before ${fmtInt(pp.previous_questions)}), ${fmtPct(pp.unanswered_share)} unanswered, median first response ${seconds(pp.median_response_seconds)}.`),
      table('Recurring question topics', ['Topic', 'Questions', 'Growth', 'Unanswered', 'Median response'],
        (pp.topics as Row[]).map((t) => [h('span', {}, h('strong', {}, t.label),
          ...(t.examples as Row[]).map((e) => h('div', { className: 'muted small' }, e.url ? h('a', { href: e.url, rel: 'noopener noreferrer' }, e.title) : e.title))),
        fmtInt(t.items), t.new ? 'new' : `${t.growth >= 0 ? '+' : ''}${fmtInt(t.growth)}`, fmtPct(t.unanswered_share), seconds(t.median_response_seconds)]),
        { rowHeader: true, hideCaption: true }))));
  }
  reportTail(ctx, grid, r);
}

// The sections after the pain points: signals and the customer base.
export function reportTail(ctx: Ctx, grid: HTMLElement, r: Row): void {
  const sigs = (r.signals ?? []) as Row[];
  grid.appendChild(card(`Signals (${fmtInt(r.signals_total)} this week)`, sigs.length
    ? h('ul', { className: 'signals', 'data-testid': 'report-signals' }, sigs.map((s) => h('li', {},
      ctx.link(`/members/${encodeURIComponent(s.member.id)}`, s.member.display_name || s.member.id),
      ` (${s.member.level_name}${s.member.organization ? ', ' + s.member.organization : ''}) — ${s.rule}: `,
      s.activity.url ? h('a', { href: s.activity.url, rel: 'noopener noreferrer' }, s.activity.title) : s.activity.title,
      h('div', { className: 'muted small' }, `${String(s.at).slice(0, 16).replace('T', ' ')} UTC · why: ${(s.reasons as string[]).join('; ')}`))))
    : h('p', { className: 'muted' }, 'No signal fired this week (signal rules live in the alert rules file, under signals:).')));

  const a = r.accounts as Row | null;
  if (!a) {
    grid.appendChild(card('Reach into the customer base', h('p', { className: 'muted' },
      'No customer accounts yet: import them with orbitflow accounts import FILE (CSV or JSON Lines).')));
    return;
  }
  const prev = (dim: string, val: string) => (a.previous as Row[]).find((p) => p.dimension === dim && p.value === val);
  const rows = ['', 'segment', 'plan'].flatMap((dim) => (a.week as Row[]).filter((w) => w.dimension === dim)).map((w) => {
    const p = prev(w.dimension, w.value);
    return [w.dimension ? `${w.dimension} ${w.value}` : 'All accounts', `${fmtInt(w.active_accounts)} of ${fmtInt(w.accounts)}`, fmtPct(w.share),
      p ? fmtPct(p.share) : '–', fmtInt(w.active_members)];
  });
  grid.appendChild(card('Reach into the customer base', h('div', { 'data-testid': 'report-accounts' },
    table('Accounts with an active member this week', ['Accounts', 'With an active member', 'Share', 'Week before', 'Active members'], rows,
      { rowHeader: true, hideCaption: true }),
    (a.top as Row[]).length ? h('p', {}, h('strong', {}, 'Most active: '), (a.top as Row[]).map((t) => `${t.name} (${fmtInt(t.active_members)})`).join(', ')) : null,
    (a.dropped as Row[]).length ? h('p', {}, h('strong', {}, 'Activity dropped: '),
      (a.dropped as Row[]).map((d) => `${d.name} (${fmtInt(d.current)} active members, ${fmt2(d.baseline)} usually)`).join(', ')) : null)));
}
