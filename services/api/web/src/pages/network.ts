import { forceCenter, forceCollide, forceLink, forceManyBody, forceSimulation, forceX, forceY, type SimulationLinkDatum, type SimulationNodeDatum } from 'd3-force';
import { communityPath, get, qs, type Row } from '../api';
import { color } from '../charts';
import { h } from '../dom';
import { fmt1, fmt2, fmtInt, levelName } from '../format';
import type { Ctx } from '../main';

interface Node extends SimulationNodeDatum { id: string; name: string; level: number; pocket: number | null; pagerank: number; reach: number; r: number }
interface Link extends SimulationLinkDatum<Node> { strength: number }

const EDGE_LIMIT = 400;
const TOP_POCKETS = 8;

export async function networkPage(ctx: Ctx): Promise<void> {
  const g = await get<{ nodes: Row[]; edges: Row[] }>(communityPath(ctx.community, '/graph' + qs({ limit: EDGE_LIMIT, min_strength: 1 })));
  const nodes: Node[] = g.nodes.map((n) => ({ id: n.member_id, name: n.display_name || n.member_id, level: n.orbit_level, pocket: n.pocket ?? null,
    pagerank: n.pagerank ?? 0, reach: n.reach ?? 0, r: 3 }));
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const links: Link[] = g.edges.filter((e) => byId.has(e.member_a) && byId.has(e.member_b))
    .map((e) => ({ source: byId.get(e.member_a)!, target: byId.get(e.member_b)!, strength: e.strength }));
  const maxPR = Math.max(1e-9, ...nodes.map((n) => n.pagerank));
  for (const n of nodes) n.r = 3 + 9 * Math.sqrt(n.pagerank / maxPR);

  // Pockets: the biggest get a colour each, the rest are grey.
  const sizes = new Map<number, number>();
  for (const n of nodes) if (n.pocket !== null) sizes.set(n.pocket, (sizes.get(n.pocket) ?? 0) + 1);
  const pockets = [...sizes.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const pocketColor = new Map(pockets.slice(0, TOP_POCKETS).map(([p], i) => [p, color(i)]));
  const fill = (n: Node) => (n.pocket !== null && pocketColor.get(n.pocket)) || '#9ca3af';

  const pocketParam = ctx.params.get('pocket');
  let highlight: number | null = pocketParam !== null && sizes.has(Number(pocketParam)) ? Number(pocketParam) : null;
  let selected: Node | null = null;

  const canvas = h('canvas', { role: 'img', tabindex: '0', 'aria-label': `Network of the ${links.length} strongest connections between ${nodes.length} members, coloured by pocket. The table below lists the members.`, 'aria-describedby': 'graph-help' });
  const box = h('div', { className: 'graph-box' }, canvas);
  const info = h('div', { className: 'graph-info', role: 'status', 'aria-live': 'polite' }, 'Select a member in the graph or the list to see their connections.');

  const pocketSel = h('select', { id: 'pocket', name: 'pocket' }, h('option', { value: '' }, 'All pockets'),
    pockets.map(([p, size]) => h('option', { value: String(p), selected: p === highlight }, `Pocket #${p} (${size} members)`)));
  pocketSel.addEventListener('change', () => {
    highlight = pocketSel.value === '' ? null : Number(pocketSel.value);
    history.replaceState(null, '', location.pathname + qs({ ...Object.fromEntries(new URLSearchParams(location.search)), pocket: pocketSel.value || null }));
    draw();
  });

  const legend = h('ul', { className: 'legend', 'aria-label': 'Pocket colours' },
    pockets.slice(0, TOP_POCKETS).map(([p, size]) => h('li', {}, swatch(pocketColor.get(p)!), `#${p} · ${size}`)),
    pockets.length > TOP_POCKETS ? h('li', {}, swatch('#9ca3af'), 'other pockets') : null);

  const select = (n: Node | null) => {
    selected = n;
    draw();
    if (!n) return;
    const conns = links.filter((l) => l.source === n || l.target === n);
    info.replaceChildren(h('strong', {}, n.name), ` · ${levelName(n.level)} · pocket ${n.pocket === null ? '–' : '#' + n.pocket} · ${conns.length} of the shown connections · `,
      ctx.link('/members/' + encodeURIComponent(n.id), 'open member page', { pocket: null }));
  };

  const listRows = [...nodes].sort((a, b) => b.pagerank - a.pagerank || a.id.localeCompare(b.id)).map((n) => h('tr', { 'data-node': n.id },
    h('th', { scope: 'row' }, h('button', { type: 'button', className: 'linkish', onclick: () => select(n), 'aria-label': `Show ${n.name} in the graph` }, n.name)),
    h('td', {}, levelName(n.level)),
    h('td', {}, n.pocket === null ? '–' : h('span', {}, swatch(fill(n)), `#${n.pocket}`)),
    h('td', { className: 'num' }, fmt2(n.pagerank * 1000)),
    h('td', { className: 'num' }, fmt1(n.reach)),
    h('td', {}, ctx.link('/members/' + encodeURIComponent(n.id), 'member page', { pocket: null }))));

  ctx.main.append(
    h('div', { className: 'page-head' }, h('h1', {}, 'Network'),
      h('p', { className: 'sub', id: 'graph-help' }, 'The strongest connections between members (strength decays over time). Pockets are groups that talk mostly among themselves; node size is PageRank. Click a node, or use the list.')),
    h('dl', { className: 'kpis small' },
      kpiEl('graph-nodes', 'Members shown', fmtInt(nodes.length)),
      kpiEl('graph-edges', 'Connections shown', fmtInt(links.length)),
      kpiEl('graph-pockets', 'Pockets', fmtInt(pockets.length)),
    ),
    h('div', { className: 'card' },
      h('div', { className: 'filters' }, h('div', {}, h('label', { for: 'pocket' }, 'Highlight'), pocketSel), legend),
      box, info),
    h('div', { className: 'card table-card scroll', tabindex: '0', role: 'region', 'aria-label': 'Members in the graph (scrollable)' },
      h('table', { 'data-testid': 'node-list' },
        h('caption', {}, 'Members in the graph, by PageRank'),
        h('thead', {}, h('tr', {}, ['Member', 'Level', 'Pocket', 'PageRank ‰', 'Reach', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, listRows))),
  );

  // Lay out once, synchronously: a fixed number of ticks, then draw (no
  // animation to wait for; the same data gives the same picture).
  const width = Math.max(320, box.clientWidth);
  const height = Math.min(640, Math.max(420, Math.round(width * 0.55)));
  const sim = forceSimulation(nodes)
    .force('link', forceLink<Node, Link>(links).id((d) => d.id).distance(45).strength((l) => Math.min(1, 0.2 + l.strength / 200)))
    .force('charge', forceManyBody().strength(-70))
    .force('collide', forceCollide<Node>((d) => d.r + 1.5))
    .force('center', forceCenter(width / 2, height / 2))
    .force('x', forceX(width / 2).strength(0.06))
    .force('y', forceY(height / 2).strength(0.09))
    .stop();
  sim.tick(300);
  // Fit what the layout made into the canvas.
  const xs = nodes.map((n) => n.x!), ys = nodes.map((n) => n.y!);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const scale = Math.min((width - 40) / Math.max(1, x1 - x0), (height - 40) / Math.max(1, y1 - y0), 2.5);
  const px = (n: Node) => 20 + (n.x! - x0) * scale + (width - 40 - (x1 - x0) * scale) / 2;
  const py = (n: Node) => 20 + (n.y! - y0) * scale + (height - 40 - (y1 - y0) * scale) / 2;

  const dpr = window.devicePixelRatio || 1;
  canvas.width = width * dpr;
  canvas.height = height * dpr;
  canvas.style.width = width + 'px';
  canvas.style.height = height + 'px';
  const g2 = canvas.getContext('2d')!;
  const maxS = Math.max(1e-9, ...links.map((l) => l.strength));
  const labelled = new Set([...nodes].sort((a, b) => b.pagerank - a.pagerank).slice(0, 12));

  function draw(): void {
    g2.setTransform(dpr, 0, 0, dpr, 0, 0);
    g2.clearRect(0, 0, width, height);
    const dim = (n: Node) => (highlight !== null && n.pocket !== highlight) || (selected !== null && n !== selected && !links.some((l) => (l.source === selected && l.target === n) || (l.target === selected && l.source === n)));
    for (const l of links) {
      const a = l.source as Node, b = l.target as Node;
      const faded = dim(a) || dim(b);
      g2.strokeStyle = faded ? 'rgba(156,163,175,0.15)' : `rgba(75,85,99,${0.25 + 0.5 * (l.strength / maxS)})`;
      g2.lineWidth = 0.5 + 2.5 * (l.strength / maxS);
      g2.beginPath(); g2.moveTo(px(a), py(a)); g2.lineTo(px(b), py(b)); g2.stroke();
    }
    for (const n of nodes) {
      g2.globalAlpha = dim(n) ? 0.18 : 1;
      g2.fillStyle = fill(n);
      g2.beginPath(); g2.arc(px(n), py(n), n.r, 0, Math.PI * 2); g2.fill();
      g2.lineWidth = n === selected ? 3 : 1;
      g2.strokeStyle = n === selected ? '#111827' : '#ffffff';
      g2.stroke();
    }
    g2.globalAlpha = 1;
    g2.font = '12px system-ui, sans-serif';
    g2.textBaseline = 'middle';
    for (const n of nodes) {
      if (!(labelled.has(n) || n === selected) || (dim(n) && n !== selected)) continue;
      const x = px(n) + n.r + 3, y = py(n);
      g2.lineWidth = 3; g2.strokeStyle = 'rgba(255,255,255,0.9)'; g2.strokeText(n.name, x, y);
      g2.fillStyle = '#111827'; g2.fillText(n.name, x, y);
    }
  }
  canvas.addEventListener('click', (e) => {
    const r = canvas.getBoundingClientRect();
    const x = e.clientX - r.left, y = e.clientY - r.top;
    let best: Node | null = null, bd = 14 * 14;
    for (const n of nodes) {
      const d = (px(n) - x) ** 2 + (py(n) - y) ** 2;
      if (d < bd) { bd = d; best = n; }
    }
    select(best);
  });
  // Keyboard on the canvas: arrows step through the members by PageRank, Escape clears.
  const ranked = [...nodes].sort((a, b) => b.pagerank - a.pagerank);
  canvas.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { select(null); return; }
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft' && e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    e.preventDefault();
    const i = selected ? ranked.indexOf(selected) : -1;
    const step = e.key === 'ArrowRight' || e.key === 'ArrowDown' ? 1 : -1;
    select(ranked[(i + step + ranked.length) % ranked.length] ?? null);
  });
  draw();
}

function swatch(c: string): HTMLElement {
  const s = h('span', { className: 'swatch', 'aria-hidden': 'true' });
  s.style.background = c;
  return s;
}

function kpiEl(testid: string, label: string, value: string): HTMLElement {
  return h('div', { className: 'kpi', 'data-testid': testid }, h('dt', {}, label), h('dd', {}, h('span', { className: 'kpi-value' }, value)));
}
