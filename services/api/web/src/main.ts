// Orbitflow's dashboard: a single-page app over the query and alert API.
// Routes live in the path (the server answers index.html for them); the
// community and the range are query parameters, so a link is a view.
import './style.css';
import { ApiError, clearKey, get, getKey, type Row } from './api';
import { destroyCharts } from './charts';
import { append, clear, h } from './dom';
import { isoDay } from './format';
import { alertsPage } from './pages/alerts';
import { memberPage } from './pages/member';
import { membersPage } from './pages/members';
import { networkPage } from './pages/network';
import { overviewPage } from './pages/overview';
import { reportPage } from './pages/report';
import { signinPage } from './pages/signin';

export interface Ctx {
  main: HTMLElement;
  community: string;
  days: number;
  from: string;
  to: string;
  scopes: string[];
  params: URLSearchParams;
  navigate: (path: string, params?: Record<string, string | null>) => void;
  link: (path: string, text: string | Node, params?: Record<string, string | null>, attrs?: Record<string, string>) => HTMLAnchorElement;
}

const RANGES = [30, 90, 180, 365];
const app = document.getElementById('app')!;
let communities: Row[] | null = null;
let scopes: string[] | null = null;
let renderSeq = 0;

function href(path: string, params?: Record<string, string | null>, keep = true): string {
  const q = new URLSearchParams(keep ? location.search : '');
  for (const [k, v] of Object.entries(params ?? {})) {
    if (v === null) q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  return path + (s ? '?' + s : '');
}

export function navigate(path: string, params?: Record<string, string | null>): void {
  history.pushState(null, '', href(path, params));
  void render();
}

function link(path: string, text: string | Node, params?: Record<string, string | null>, attrs: Record<string, string> = {}): HTMLAnchorElement {
  const a = h('a', { href: href(path, params), ...attrs }, text);
  a.addEventListener('click', (e) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    navigate(path, params);
  });
  return a;
}

const NAV: [string, string][] = [['/', 'Overview'], ['/members', 'Members'], ['/network', 'Network'], ['/report', 'Report'], ['/alerts', 'Alerts']];

function section(path: string): string {
  if (path.startsWith('/members')) return '/members';
  if (path.startsWith('/network')) return '/network';
  if (path.startsWith('/alerts')) return '/alerts';
  if (path.startsWith('/report')) return '/report';
  return '/';
}

function shell(ctx: Omit<Ctx, 'main'>): HTMLElement {
  const current = section(location.pathname);
  const communitySel = h('select', { id: 'community', name: 'community' },
    (communities ?? []).map((c) => h('option', { value: c.community, selected: c.community === ctx.community }, c.community)));
  if (!communities?.length) append(communitySel, [h('option', { value: ctx.community }, ctx.community || 'no communities yet')]);
  communitySel.addEventListener('change', () => navigate(location.pathname.startsWith('/members/') ? '/members' : location.pathname, { c: communitySel.value, cursor: null }));
  const rangeSel = h('select', { id: 'range', name: 'range' },
    RANGES.map((d) => h('option', { value: String(d), selected: d === ctx.days }, `Last ${d} days`)));
  rangeSel.addEventListener('change', () => navigate(location.pathname, { days: rangeSel.value }));
  const readOnly = !ctx.scopes.includes('admin');
  const main = h('main', { id: 'main', tabindex: '-1', 'data-community': ctx.community, 'data-from': ctx.from, 'data-to': ctx.to });
  const root = h('div', { className: 'layout' },
    h('header', { className: 'top' },
      h('div', { className: 'brand' }, link('/', h('span', {}, h('span', { className: 'logo', 'aria-hidden': 'true' }), 'Orbitflow'), {}, { 'aria-label': 'Orbitflow overview' })),
      h('nav', { 'aria-label': 'Main' }, h('ul', {}, NAV.map(([p, t]) => h('li', {}, link(p, t, { cursor: null }, p === current ? { 'aria-current': 'page' } : {}))))),
      h('div', { className: 'controls' },
        h('label', { for: 'community' }, 'Community'), communitySel,
        h('label', { for: 'range' }, 'Range'), rangeSel,
        readOnly ? h('span', { className: 'badge', title: 'This key has the read scope only: alert actions are disabled' }, 'read-only key') : null,
        h('button', { type: 'button', className: 'secondary', onclick: () => { clearKey(); scopes = null; communities = null; navigate('/signin', { next: null }); } }, 'Sign out'),
      ),
    ),
    main,
    h('footer', {}, `Community ${ctx.community} · ${ctx.from} to ${ctx.to} (UTC) · data from the Orbitflow API`),
  );
  return root;
}

function showError(main: HTMLElement, err: unknown): void {
  const msg = err instanceof Error ? err.message : String(err);
  append(main, [h('div', { className: 'error', role: 'alert' }, h('strong', {}, 'Could not load this page: '), msg)]);
}

export async function render(): Promise<void> {
  const seq = ++renderSeq;
  destroyCharts();
  const path = location.pathname;
  const params = new URLSearchParams(location.search);
  if (path === '/signin' || !getKey()) {
    // Where to go once signed in: the page asked for, or ?next= of /signin.
    const next = path === '/signin' ? params.get('next') : path + location.search;
    clear(app);
    const main = h('main', { id: 'main', tabindex: '-1', className: 'signin-main' });
    app.appendChild(main);
    if (path !== '/signin') history.replaceState(null, '', '/signin' + (path !== '/' ? '?next=' + encodeURIComponent(next!) : ''));
    signinPage(main, params, async () => {
      scopes = null;
      communities = null;
      history.replaceState(null, '', next && next.startsWith('/') && !next.startsWith('//') ? next : '/');
      await render();
    }, path === '/signin' ? params.get('reason') : null);
    return;
  }
  try {
    if (!scopes) scopes = (await get<{ scopes: string[] }>('/api/v1/whoami')).scopes;
    if (!communities) communities = (await get<{ communities: Row[] }>('/api/v1/communities')).communities;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      clearKey();
      history.replaceState(null, '', '/signin?reason=' + encodeURIComponent('The API did not accept the key; sign in again.'));
      return render();
    }
    clear(app);
    const main = h('main', { id: 'main' });
    app.appendChild(main);
    showError(main, err);
    return;
  }
  if (seq !== renderSeq) return;
  const days = RANGES.includes(Number(params.get('days'))) ? Number(params.get('days')) : 90;
  const community = params.get('c') || (communities.find((c) => c.community === 'demo') ?? communities[0])?.community || '';
  const to = new Date();
  const from = new Date(to.getTime() - (days - 1) * 86400_000);
  const base = { community, days, from: isoDay(from), to: isoDay(to), scopes, params, navigate, link };
  clear(app);
  app.appendChild(shell(base));
  const main = app.querySelector('main')!;
  const ctx: Ctx = { ...base, main };
  main.setAttribute('aria-busy', 'true');
  try {
    if (!community) {
      append(main, [h('h1', {}, 'No community yet'), h('p', {}, 'Nothing has been ingested: run `orbitflow run --demo`, or `orbitflow ingest`, then reload.')]);
    } else if (path === '/' || path === '/overview') await overviewPage(ctx);
    else if (path === '/members') await membersPage(ctx);
    else if (path.startsWith('/members/')) await memberPage(ctx, decodeURIComponent(path.slice('/members/'.length)));
    else if (path === '/network') await networkPage(ctx);
    else if (path === '/alerts') await alertsPage(ctx);
    else if (path === '/report') await reportPage(ctx);
    else append(main, [h('h1', {}, 'Not found'), h('p', {}, 'No such page. '), link('/', 'Go to the overview')]);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      clearKey();
      history.replaceState(null, '', '/signin');
      return render();
    }
    if (seq === renderSeq) showError(main, err);
  } finally {
    main.removeAttribute('aria-busy');
    if (seq === renderSeq) main.setAttribute('data-ready', 'true');
  }
  // Move focus to the new page's heading for keyboard and screen reader users.
  const h1 = main.querySelector('h1');
  if (h1 && document.activeElement === document.body) {
    h1.setAttribute('tabindex', '-1');
    h1.focus({ preventScroll: true });
  }
}

window.addEventListener('popstate', () => void render());
void render();
