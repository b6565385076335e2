import { communityPath, get, qs, type Row } from '../api';
import { h } from '../dom';
import { ago, fmt1, fmtInt, LEVELS, levelName } from '../format';
import type { Ctx } from '../main';

const SORTS: [string, string][] = [['love', 'Love'], ['reach', 'Reach'], ['member_gravity', 'Gravity'], ['last_seen', 'Last seen']];
export const PAGE = 50;

export async function membersPage(ctx: Ctx): Promise<void> {
  const p = ctx.params;
  const sort = SORTS.some(([s]) => s === p.get('sort')) ? p.get('sort')! : 'love';
  const level = p.get('level') ?? '';
  const role = p.get('role') ?? '';
  const cursor = p.get('cursor') ?? '';
  const page = await get<{ members: Row[]; next_cursor?: string }>(communityPath(ctx.community, '/members' + qs({ sort, level, role, cursor, limit: PAGE })));

  const levelSel = h('select', { id: 'f-level', name: 'level' },
    h('option', { value: '' }, 'All levels'),
    [1, 2, 3, 4, 0].map((l) => h('option', { value: String(l), selected: String(l) === level }, LEVELS[l])));
  const roleIn = h('input', { id: 'f-role', name: 'role', type: 'text', value: role, placeholder: 'e.g. advocate', pattern: '[a-z0-9][a-z0-9_\\-]*',
    title: 'a role name: a-z, 0-9, _ and -', autocomplete: 'off' });
  const form = h('form', { className: 'filters', role: 'search', 'aria-label': 'Filter members' },
    h('div', {}, h('label', { for: 'f-level' }, 'Level'), levelSel),
    h('div', {}, h('label', { for: 'f-role' }, 'Role'), roleIn),
    h('button', { type: 'submit' }, 'Apply filters'),
    level || role ? h('button', { type: 'button', className: 'secondary', onclick: () => ctx.navigate('/members', { level: null, role: null, cursor: null }) }, 'Clear') : null,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!roleIn.reportValidity()) return;
    ctx.navigate('/members', { level: levelSel.value || null, role: roleIn.value.trim() || null, cursor: null });
  });

  const th = (key: string, label: string) => {
    const active = key === sort;
    return h('th', { scope: 'col', 'aria-sort': active ? 'descending' : 'none', className: 'num' },
      h('button', { type: 'button', className: 'sort', 'data-sort': key, 'aria-label': `${label}: sort by ${label.toLowerCase()}, highest first`,
        onclick: () => ctx.navigate('/members', { sort: key, cursor: null }) }, label, h('span', { 'aria-hidden': 'true', className: 'arrow' }, active ? ' ▼' : ' ↕')));
  };
  const rows = page.members.map((m) => h('tr', { 'data-member': m.member_id },
    h('th', { scope: 'row' }, ctx.link('/members/' + encodeURIComponent(m.member_id), m.display_name || m.member_id, { cursor: null }),
      h('div', { className: 'muted small' }, m.member_id)),
    h('td', { 'data-level': m.orbit_level }, levelName(m.orbit_level)),
    h('td', {}, (m.roles as string[]).length ? (m.roles as string[]).map((r) => h('span', { className: 'tag' }, r)) : h('span', { className: 'muted' }, '–'),
      m.is_teammate ? h('span', { className: 'tag team' }, 'teammate') : null),
    h('td', { className: 'num', 'data-col': 'love' }, fmt1(m.love)),
    h('td', { className: 'num', 'data-col': 'reach' }, fmt1(m.reach)),
    h('td', { className: 'num', 'data-col': 'member_gravity' }, fmtInt(m.member_gravity)),
    h('td', { className: 'num', 'data-col': 'last_seen', title: m.last_seen }, ago(m.last_seen)),
  ));
  const sortLabel = SORTS.find(([s]) => s === sort)![1].toLowerCase();
  const tbl = h('table', { className: 'members', 'data-testid': 'members-table' },
    h('caption', {}, `Members of ${ctx.community} by ${sortLabel}, highest first${level ? `, level ${levelName(Number(level))}` : ''}${role ? `, role ${role}` : ''}`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Member'), h('th', { scope: 'col' }, 'Level'), h('th', { scope: 'col' }, 'Roles'),
      SORTS.map(([k, l]) => th(k, l)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 7, className: 'empty' }, 'No member matches these filters.'))));

  ctx.main.append(
    h('div', { className: 'page-head' }, h('h1', {}, 'Members'),
      h('p', { className: 'sub' }, 'Love is how much a member does (decaying over time), reach how connected they are; both as of now. Bots left out.')),
    form,
    h('div', { className: 'card table-card' }, tbl,
      h('div', { className: 'pager' },
        cursor ? h('button', { type: 'button', className: 'secondary', onclick: () => ctx.navigate('/members', { cursor: null }) }, 'First page') : null,
        h('span', { className: 'muted', role: 'status' }, `${rows.length} members shown`),
        page.next_cursor ? h('button', { type: 'button', onclick: () => ctx.navigate('/members', { cursor: page.next_cursor! }) }, 'Next page') : null)),
  );
}
