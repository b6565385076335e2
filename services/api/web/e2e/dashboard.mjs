// Browser test of the dashboard: Debian's chromium, driven headless by
// playwright-core (no browser download), against a running `orbitflow
// run --demo`. It signs in, visits every page, checks that the numbers
// shown equal what the API answers for the same query, that the keyboard
// reaches and operates the controls, that no console error or failed
// request happened, and saves a full-page screenshot of each page.
//
//   node e2e/dashboard.mjs --url http://127.0.0.1:8080 --key ADMIN_KEY \
//     [--read-key READ_ONLY_KEY] [--out DIR] [--community demo]
//
// Exit status 0 when every check passed; otherwise 1, with what failed.
// services/orbitflow's TestDashboardInTheBrowser runs it.
import { mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    key: { type: 'string' },
    'read-key': { type: 'string' },
    out: { type: 'string', default: 'artifacts/screenshots' },
    community: { type: 'string', default: 'demo' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
if (!args.url || !args.key) {
  console.error('usage: node e2e/dashboard.mjs --url http://127.0.0.1:8080 --key ADMIN_KEY [--read-key KEY] [--out DIR]');
  process.exit(2);
}
if (!existsSync(args.chromium)) {
  console.error(`no browser at ${args.chromium}: install Debian's chromium (apt-get install chromium)`);
  process.exit(2);
}
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (err) {
  console.error(`playwright-core is missing: run npm ci in services/api/web (make web) (${err.message})`);
  process.exit(2);
}

const base = args.url.replace(/\/$/, '');
const C = args.community;
mkdirSync(args.out, { recursive: true });

// The dashboard's number formats (src/format.ts), to compare text.
const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const two = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
const parseNum = (s) => Number(String(s).replace(/[^0-9.\-]/g, ''));

let failures = 0;
let checks = 0;
function check(ok, what, detail = '') {
  checks++;
  if (ok) {
    console.log(`ok   ${what}`);
  } else {
    failures++;
    console.log(`FAIL ${what}${detail ? ': ' + detail : ''}`);
  }
}
function equal(got, want, what) {
  const ok = JSON.stringify(got) === JSON.stringify(want);
  check(ok, what, ok ? '' : `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}
// Scores decay with time: what the page read and what the test reads a
// moment later may differ in the last digits.
function near(got, want, what, rel = 1e-3) {
  const ok = Number.isFinite(got) && Math.abs(got - want) <= rel * Math.max(1, Math.abs(want)) + 0.051;
  check(ok, what, ok ? '' : `got ${got}, want ${want}`);
}

async function api(path, key = args.key, init = {}) {
  const resp = await fetch(base + path, { ...init, headers: { Authorization: `Bearer ${key}`, ...(init.headers ?? {}) } });
  const body = await resp.json().catch(() => null);
  if (!resp.ok) throw new Error(`API ${path}: ${resp.status} ${JSON.stringify(body)}`);
  return body;
}
const cpath = (rest) => `/api/v1/communities/${encodeURIComponent(C)}${rest}`;

const browser = await chromium.launch({
  executablePath: args.chromium,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});

// watch records console errors, page errors and failed requests of a page
// (expected: the one wrong key tried on the sign-in page).
function watch(page, label) {
  const problems = [];
  let expect401 = false;
  page.on('console', (m) => { if (m.type() === 'error' && !(expect401 && /401/.test(m.text()))) problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400 && !(expect401 && r.status() === 401)) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  // Anything from another origin is a failure: the dashboard works offline.
  page.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('data:')) problems.push(`external request: ${r.url()}`); });
  return { problems, allow401: (v) => { expect401 = v; }, label };
}

async function ready(page) {
  await page.waitForSelector('main[data-ready="true"]', { timeout: 30_000 });
  // Charts are built in a microtask or the next frame after the page.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}
async function shot(page, name) {
  const file = join(args.out, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`     screenshot ${file}`);
}
const text = (page, sel) => page.locator(sel).first().innerText();
const kpi = async (page, id) => (await page.locator(`[data-testid="${id}"] .kpi-value`).innerText()).trim();

async function focusIsVisible(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return { ok: false, what: 'nothing focused' };
    const s = getComputedStyle(el);
    return { ok: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2, what: `${el.tagName} ${el.textContent?.trim().slice(0, 40)} outline ${s.outlineStyle} ${s.outlineWidth}` };
  });
}

try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1, locale: 'en-US', timezoneId: 'UTC' });
  const page = await context.newPage();
  const w = watch(page, 'admin');

  // Sign-in: the app sends a visitor without a key to /signin.
  await page.goto(base + '/');
  await page.waitForURL('**/signin**');
  await page.waitForSelector('#apikey');
  equal(await page.evaluate(() => document.activeElement?.id), 'apikey', 'sign-in: the key field has the focus');
  w.allow401(true);
  await page.fill('#apikey', 'not-a-key-0123456789');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#signin-error:not(:empty)');
  check((await text(page, '#signin-error')).includes('did not accept'), 'sign-in: a wrong key is refused with an explanation');
  w.allow401(false);
  await shot(page, '0-signin');
  await page.fill('#apikey', args.key);
  await page.keyboard.press('Enter');
  await ready(page);
  check(await page.evaluate(() => sessionStorage.getItem('orbitflow.apiKey') !== null), 'sign-in: the key is kept in sessionStorage');

  // Overview.
  equal(await page.locator('main').getAttribute('data-community'), C, 'overview: the community');
  const from = await page.locator('main').getAttribute('data-from');
  const to = await page.locator('main').getAttribute('data-to');
  const week = (await api(cpath(`/health?from=${from}&to=${to}&period=week`))).rows;
  // The headline week is the latest one that ended by the range's last day.
  const full = week.filter((r) => {
    const end = new Date(`${r.period_start}T00:00:00Z`);
    end.setUTCDate(end.getUTCDate() + 6);
    return end.toISOString().slice(0, 10) <= to;
  });
  const last = full.length ? full[full.length - 1] : week[week.length - 1];
  equal(await kpi(page, 'kpi-active-members'), int.format(last.active_members), 'overview: active members equal the API\'s');
  equal(await kpi(page, 'kpi-activities'), int.format(last.activities), 'overview: activities equal the API\'s');
  equal(await kpi(page, 'kpi-new-members'), int.format(last.new_members), 'overview: new members equal the API\'s');
  const grav = (await api(cpath(`/metrics/gravity?from=${from}&to=${to}&period=week`))).rows;
  equal(await kpi(page, 'kpi-gravity'), grav.length ? two.format(grav[grav.length - 1].gravity) : '–', 'overview: gravity equals the API\'s');
  const levels = (await api(cpath('/metrics/levels'))).rows;
  const names = { 1: 'Leading', 2: 'Contributing', 3: 'Participating', 4: 'Exploring', 0: 'Out of orbit' };
  const shownLevels = await page.locator('[data-testid="levels-table"] tbody tr').evaluateAll((trs) => trs.map((tr) => [tr.cells[0].innerText, tr.cells[1].innerText]));
  equal(shownLevels.filter(([, n]) => n !== '0').sort(), levels.filter((r) => r.members > 0).map((r) => [names[r.orbit_level], int.format(r.members)]).sort(),
    'overview: members per orbit level equal the API\'s');
  // The evaluator may open an alert between the page's read and ours: then read both again.
  const openAlerts = async () => (await api(`/api/v1/alerts?community=${C}&limit=1000`)).alerts.filter((a) => a.state === 'firing' || a.state === 'pending').length;
  let alertsNow = await openAlerts();
  if (await kpi(page, 'kpi-open-alerts') !== int.format(alertsNow)) {
    await page.reload();
    await ready(page);
    alertsNow = await openAlerts();
  }
  equal(await kpi(page, 'kpi-open-alerts'), int.format(alertsNow), 'overview: open alerts equal the API\'s');
  equal(await page.locator('.chart canvas').count(), 5, 'overview: five charts drawn');
  check((await page.locator('[data-testid="chart-activity"] canvas').evaluate((c) => c.width)) > 300, 'overview: the activity chart has a size');
  check(await page.locator('[data-testid="bottleneck-table"] tbody tr').count() >= 4, 'overview: the bottleneck table has the levels');
  // Keyboard: the skip link comes first, then the navigation, each with a visible focus ring.
  await page.locator('.brand a').focus();
  await page.keyboard.press('Shift+Tab');
  equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content', 'keyboard: the skip link comes first');
  check((await focusIsVisible(page)).ok, 'keyboard: the skip link shows when focused');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  const f = await focusIsVisible(page);
  check(f.ok && (await page.evaluate(() => document.activeElement?.closest('nav') !== null)), 'keyboard: Tab reaches the navigation with a visible focus ring', f.what);
  await shot(page, '1-overview');

  // Members: sort and filter with the keyboard, against the API.
  await page.getByRole('link', { name: 'Members', exact: true }).focus();
  await page.keyboard.press('Enter');
  await ready(page);
  const shownMembers = async () => page.locator('[data-testid="members-table"] tbody tr[data-member]').evaluateAll((trs) =>
    trs.map((tr) => ({ id: tr.dataset.member, level: tr.querySelector('[data-level]')?.textContent, love: tr.querySelector('[data-col="love"]')?.textContent,
      reach: tr.querySelector('[data-col="reach"]')?.textContent })));
  let apiMembers = (await api(cpath('/members?sort=love&limit=50'))).members;
  let shown = await shownMembers();
  equal(shown.map((m) => m.id), apiMembers.map((m) => m.member_id), 'members: the 50 most loved, in the API\'s order');
  near(parseNum(shown[0].love), apiMembers[0].love, 'members: the top love equals the API\'s');
  equal(await page.locator('th[aria-sort="descending"] button').getAttribute('data-sort'), 'love', 'members: aria-sort marks the love column');
  await page.locator('button.sort[data-sort="reach"]').focus();
  await page.keyboard.press('Enter');
  await ready(page);
  await page.waitForSelector('th[aria-sort="descending"] button[data-sort="reach"]');
  apiMembers = (await api(cpath('/members?sort=reach&limit=50'))).members;
  shown = await shownMembers();
  equal(shown.map((m) => m.id), apiMembers.map((m) => m.member_id), 'members: sorted by reach as the API sorts');
  near(parseNum(shown[0].reach), apiMembers[0].reach, 'members: the top reach equals the API\'s');
  await page.selectOption('#f-level', '2');
  await page.locator('#f-role').fill('');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.waitForURL('**level=2**');
  await ready(page);
  apiMembers = (await api(cpath('/members?sort=reach&level=2&limit=50'))).members;
  shown = await shownMembers();
  check(apiMembers.length > 0, 'members: the API has Contributing members');
  equal(shown.map((m) => m.id), apiMembers.map((m) => m.member_id), 'members: filtered to level 2 as the API filters');
  check(shown.every((m) => m.level === 'Contributing'), 'members: every row shown is Contributing');
  await shot(page, '2-members');

  // A member page.
  const first = apiMembers[0];
  await page.locator(`tr[data-member="${first.member_id}"] th a`).click();
  await ready(page);
  const detail = await api(cpath(`/members/${encodeURIComponent(first.member_id)}`));
  const mFrom = await page.locator('main').getAttribute('data-from');
  const mTo = await page.locator('main').getAttribute('data-to');
  const activity = await api(cpath(`/members/${encodeURIComponent(first.member_id)}/activity?from=${mFrom}&to=${mTo}&period=week&limit=15`));
  equal(await text(page, 'main h1'), detail.member.display_name || detail.member.member_id, 'member: the name');
  equal(await kpi(page, 'member-level'), names[detail.member.orbit_level], 'member: the level equals the API\'s');
  near(parseNum(await kpi(page, 'member-love')), detail.member.love, 'member: love equals the API\'s');
  equal(await kpi(page, 'member-activities'), int.format(activity.series.reduce((s, r) => s + r.activities, 0)), 'member: activities in the range equal the API\'s');
  equal(await page.locator('[data-testid="identities"] tbody tr').count(), Math.max(1, detail.identities.length), 'member: every identity listed');
  equal(await page.locator('[data-testid="connections"] tbody tr th a').allInnerTexts(), detail.connections.map((c) => c.member_id), 'member: the strongest connections equal the API\'s');
  equal(await page.locator('[data-testid="member-recent"] tbody tr').count(), Math.max(1, activity.recent.length), 'member: the latest activities listed');
  check(await page.locator('[data-testid="chart-member-activity"] canvas').count() === 1, 'member: the timeline chart is drawn');
  await shot(page, '3-member');

  // Network.
  await page.getByRole('link', { name: 'Network', exact: true }).click();
  await ready(page);
  const g = await api(cpath('/graph?limit=400&min_strength=1'));
  equal(await kpi(page, 'graph-nodes'), int.format(g.nodes.length), 'network: members shown equal the API\'s');
  equal(await kpi(page, 'graph-edges'), int.format(g.edges.length), 'network: connections shown equal the API\'s');
  equal(await kpi(page, 'graph-pockets'), int.format(new Set(g.nodes.filter((n) => n.pocket !== null).map((n) => n.pocket)).size), 'network: pockets equal the API\'s');
  const listed = await page.locator('[data-testid="node-list"] tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.node).sort());
  equal(listed, g.nodes.map((n) => n.member_id).sort(), 'network: the node list holds the API\'s members');
  const firstNode = page.locator('[data-testid="node-list"] tbody tr button').first();
  const nodeName = await firstNode.innerText();
  await firstNode.focus();
  await page.keyboard.press('Enter');
  check((await text(page, '.graph-info')).includes(nodeName), 'network: a node chosen with the keyboard is described', await text(page, '.graph-info'));
  const drawn = await page.locator('.graph-box canvas').evaluate((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) n++;
    return n;
  });
  check(drawn > 2000, 'network: the graph is drawn', `${drawn} pixels`);
  const pocket = String(g.nodes.find((n) => n.pocket !== null)?.pocket ?? '');
  await page.selectOption('#pocket', pocket);
  check(new URL(page.url()).searchParams.get('pocket') === pocket, 'network: the highlighted pocket is in the URL');
  await page.selectOption('#pocket', '');
  await page.locator('.graph-box canvas').focus();
  await page.keyboard.press('ArrowRight');
  check((await text(page, '.graph-info')).length > 0, 'network: arrow keys on the graph step through the members');
  await page.keyboard.press('Escape');
  await shot(page, '4-network');

  // Weekly report: the story and the figures equal the API's report.
  await page.getByRole('link', { name: 'Report', exact: true }).click();
  await ready(page);
  const rep = (await api(cpath('/report'))).report;
  const story = await page.locator('[data-testid="report-story"] li').allInnerTexts();
  equal(story, rep.story, 'report: the story equals the API\'s');
  const active = rep.health.find((f) => f.name === 'active_members');
  const healthRow = await page.locator('[data-testid="report-health"] tbody tr').first().locator('th, td').allInnerTexts();
  equal(healthRow.slice(0, 3), ['Active members', int.format(active.value), int.format(active.previous)], 'report: active members equal the API\'s');
  equal(await page.locator('[data-testid="report-top"] tbody tr').count(), rep.top_contributors.length, 'report: as many top contributors as the API lists');
  check((await text(page, '[data-testid="report-structure"]')).includes(rep.structure.measures.reason), 'report: the structure\'s class is explained');
  check(await page.locator('[data-testid="report-pain-points"] tbody tr').count() >= Math.max(1, rep.pain_points.topics.length), 'report: the pain points are listed');
  const overall = rep.accounts?.week.find((w) => w.dimension === '');
  check(!!overall, 'report: the demo\'s customer accounts are in the report');
  if (overall) {
    const accRow = await page.locator('[data-testid="report-accounts"] tbody tr').first().locator('th, td').allInnerTexts();
    equal(accRow.slice(0, 2), ['All accounts', `${int.format(overall.active_accounts)} of ${int.format(overall.accounts)}`], 'report: accounts with an active member equal the API\'s');
  }
  equal(await page.locator('[data-testid="report-signals"] li').count(), rep.signals.length, 'report: as many signals as the API lists');
  await shot(page, '7-report');
  await page.getByRole('link', { name: '← Previous week' }).click();
  await ready(page);
  const prevRep = (await api(cpath('/report?week=' + new URL(page.url()).searchParams.get('week')))).report;
  equal(await page.locator('[data-testid="report-story"] li').allInnerTexts(), prevRep.story, 'report: the previous week\'s story equals the API\'s');

  // Alerts: acknowledge one and silence another with the admin key.
  await page.getByRole('link', { name: 'Alerts', exact: true }).click();
  await ready(page);
  // At most 50 shown (the most severe, then the newest); the caption counts them all.
  const shownAlerts = () => page.locator('[data-testid="alerts-table"] tbody tr[data-alert]').evaluateAll((trs) => trs.map((t) => t.dataset.alert));
  const shownCount = async () => Number(await page.locator('[data-testid="alerts-count"]').getAttribute('data-count'));
  let open = (await api(`/api/v1/alerts?community=${C}&limit=1000`)).alerts;
  if (await shownCount() !== open.length) {
    await page.reload();
    await ready(page);
    open = (await api(`/api/v1/alerts?community=${C}&limit=1000`)).alerts;
  }
  equal(await shownCount(), open.length, 'alerts: the number of open alerts equals the API\'s');
  const ids = new Set(open.map((a) => a.id));
  const shownIds = await shownAlerts();
  check(shownIds.length === Math.min(50, open.length) && shownIds.every((id) => ids.has(id)), 'alerts: the alerts shown are the API\'s', `${shownIds.length} shown`);
  const sevRank = { critical: 0, warning: 1, info: 2 };
  const sevs = open.filter((a) => shownIds.includes(a.id)).map((a) => sevRank[a.severity] ?? 3);
  check(Math.max(...sevs) <= Math.min(...open.filter((a) => !shownIds.includes(a.id)).map((a) => sevRank[a.severity] ?? 3), 9), 'alerts: the most severe are shown first');
  open = open.filter((a) => shownIds.includes(a.id));
  const ackable = open.find((a) => a.acknowledged_at.startsWith('0001-'));
  check(!!ackable, 'alerts: there is an alert to acknowledge');
  if (ackable) {
    await page.locator(`tr[data-alert="${ackable.id}"] button`, { hasText: 'Acknowledge' }).click();
    await page.waitForSelector(`tr[data-alert="${ackable.id}"] [data-col="ack"]`, { timeout: 15_000 });
    check((await text(page, `tr[data-alert="${ackable.id}"] [data-col="ack"]`)).includes('acknowledged by dashboard'), 'alerts: the acknowledgement is shown');
    const after = (await api(`/api/v1/alerts?community=${C}&limit=1000`)).alerts.find((a) => a.id === ackable.id);
    equal(after?.acknowledged_by, 'dashboard', 'alerts: the API has the acknowledgement');
  }
  const silenceable = open.find((a) => a.id !== ackable?.id) ?? ackable;
  if (silenceable) {
    const before = (await api('/api/v1/alerts/silences')).silences.length;
    await page.locator(`tr[data-alert="${silenceable.id}"] button`, { hasText: 'Silence' }).click();
    await page.waitForSelector('[data-testid="action-status"]:has-text("done")', { timeout: 15_000 });
    await ready(page);
    const sil = (await api('/api/v1/alerts/silences')).silences;
    equal(sil.length, before + 1, 'alerts: the API has the new silence');
    check(sil.some((s) => s.rule === silenceable.rule && s.by === 'dashboard'), 'alerts: the silence names the rule and who');
    equal(await page.locator('[data-testid="silences-table"] tbody tr[data-silence]').count(), sil.filter((s) => !s.community || s.community === C).length,
      'alerts: the silences shown equal the API\'s');
  }
  await shot(page, '5-alerts');
  for (const p of w.problems) check(false, 'admin session: no console error or failed request', p);
  if (w.problems.length === 0) check(true, 'admin session: no console error, failed or external request');
  await context.close();

  // A read-only key sees the alert actions disabled, and why.
  if (args['read-key']) {
    const ctx2 = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US', timezoneId: 'UTC' });
    const p2 = await ctx2.newPage();
    const w2 = watch(p2, 'read-only');
    await p2.goto(base + '/alerts');
    await p2.waitForSelector('#apikey');
    await p2.fill('#apikey', args['read-key']);
    await p2.keyboard.press('Enter');
    await ready(p2);
    equal(new URL(p2.url()).pathname, '/alerts', 'read-only: sign-in returns to the page asked for');
    check(await p2.locator('[data-testid="readonly-why"]').isVisible(), 'read-only: the page says why actions are disabled');
    const buttons = p2.locator('[data-testid="alerts-table"] button');
    const n = await buttons.count();
    check(n > 0 && (await buttons.evaluateAll((bs) => bs.every((b) => b.disabled && b.getAttribute('aria-describedby') === 'readonly-why'))),
      'read-only: every alert action is disabled and described', `${n} buttons`);
    check(await p2.locator('.badge', { hasText: 'read-only key' }).isVisible(), 'read-only: the header says the key is read-only');
    await shot(p2, '6-alerts-read-only');
    for (const p of w2.problems) check(false, 'read-only session: no console error or failed request', p);
    await ctx2.close();
  }
} catch (err) {
  failures++;
  console.log(`FAIL ${err.stack || err}`);
} finally {
  await browser.close();
}
console.log(`${checks} checks, ${failures} failed`);
process.exit(failures ? 1 : 0);
