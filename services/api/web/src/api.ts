// The API client: the key from the sign-in page lives in sessionStorage
// (gone when the tab closes) and goes out as a bearer token.

const KEY = 'orbitflow.apiKey';

export function getKey(): string | null {
  return sessionStorage.getItem(KEY);
}
export function setKey(k: string): void {
  sessionStorage.setItem(KEY, k);
}
export function clearKey(): void {
  sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(public status: number, message: string, public field?: string) {
    super(message);
  }
}

export type Row = Record<string, any>;

async function call<T>(method: string, path: string, body?: unknown, key = getKey()): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (key) headers.Authorization = 'Bearer ' + key;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (resp.status === 204) return {} as T;
  let data: any = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const msg = data?.error ?? `${resp.status} ${resp.statusText}`;
    throw new ApiError(resp.status, msg, data?.field);
  }
  return data as T;
}

export const get = <T = Row>(path: string, key?: string) => call<T>('GET', path, undefined, key);
export const post = <T = Row>(path: string, body?: unknown) => call<T>('POST', path, body ?? {});
export const del = <T = Row>(path: string) => call<T>('DELETE', path);

export function qs(params: Record<string, string | number | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? '?' + s : '';
}

export const communityPath = (c: string, rest: string) => `/api/v1/communities/${encodeURIComponent(c)}${rest}`;
