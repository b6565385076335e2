// Numbers and dates as the dashboard shows them (en-US, UTC): the
// browser tests format the API's numbers the same way to compare.

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const one = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
const two = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

export const fmtInt = (n: number | null | undefined): string => (n === null || n === undefined ? '–' : int.format(n));
export const fmt1 = (n: number | null | undefined): string => (n === null || n === undefined ? '–' : one.format(n));
export const fmt2 = (n: number | null | undefined): string => (n === null || n === undefined ? '–' : two.format(n));
export const fmtPct = (n: number | null | undefined): string => (n === null || n === undefined ? '–' : one.format(n * 100) + '%');

export function fmtHours(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '–';
  const h = seconds / 3600;
  return h < 48 ? one.format(h) + ' h' : one.format(h / 24) + ' d';
}

export const fmtDate = (iso: string): string => iso.slice(0, 10);

export function fmtDateTime(iso: string): string {
  if (!iso || iso.startsWith('0001-')) return '–';
  return iso.slice(0, 16).replace('T', ' ') + ' UTC';
}

export function ago(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t) || iso.startsWith('0001-')) return '–';
  const d = Math.max(0, now - t) / 1000;
  if (d < 120) return 'just now';
  if (d < 7200) return `${Math.round(d / 60)} min ago`;
  if (d < 172800) return `${Math.round(d / 3600)} h ago`;
  return `${Math.round(d / 86400)} days ago`;
}

export const LEVELS: Record<number, string> = { 1: 'Leading', 2: 'Contributing', 3: 'Participating', 4: 'Exploring', 0: 'Out of orbit' };
export const levelName = (l: number): string => LEVELS[l] ?? `Level ${l}`;

export function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}
