// A tiny DOM builder: text is always set as text (never parsed as HTML),
// so names and titles from the API cannot inject markup.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2).toLowerCase(), v as EventListener);
    } else if (k === 'className') {
      el.className = String(v);
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

// table builds an accessible table: a caption, column headers with
// scope, and rows of cells (the first cell of a row may be a row header).
export function table(caption: string, headers: string[], rows: Child[][], opts: { rowHeader?: boolean; testid?: string; hideCaption?: boolean } = {}): HTMLTableElement {
  return h('table', { 'data-testid': opts.testid },
    h('caption', { className: opts.hideCaption ? 'visually-hidden' : '' }, caption),
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows.length === 0
      ? h('tr', {}, h('td', { colspan: headers.length, className: 'empty' }, 'No data in this range.'))
      : rows.map((r) => h('tr', {}, r.map((c, i) => (i === 0 && opts.rowHeader ? h('th', { scope: 'row' }, c) : h('td', {}, c)))))),
  );
}

// card is a titled panel of the page.
export function card(title: string, ...children: (Child | Child[])[]): HTMLElement {
  const id = 'c-' + title.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  return h('section', { className: 'card', 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

// dataTable is a chart's text alternative: the same numbers as a table,
// folded away under the chart.
export function dataTable(caption: string, headers: string[], rows: Child[][]): HTMLElement {
  return h('details', { className: 'data' }, h('summary', {}, 'Show the numbers as a table'), table(caption, headers, rows, { rowHeader: true }));
}
