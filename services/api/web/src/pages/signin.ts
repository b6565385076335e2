import { ApiError, get, setKey } from '../api';
import { h } from '../dom';

export function signinPage(main: HTMLElement, _params: URLSearchParams, done: () => Promise<void>, reason: string | null): void {
  const input = h('input', { id: 'apikey', name: 'apikey', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-describedby': 'apikey-help' });
  const status = h('p', { className: 'form-error', role: 'alert', id: 'signin-error' }, reason ?? '');
  const form = h('form', { className: 'signin card', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, h('span', { className: 'logo', 'aria-hidden': 'true' }), 'Orbitflow'),
    h('p', {}, 'Sign in with an API key to see your community\u2019s health, members, network and alerts.'),
    h('label', { for: 'apikey' }, 'API key'),
    input,
    h('p', { id: 'apikey-help', className: 'help' },
      'orbitflow run writes one to ', h('code', {}, 'data/api-key'), ' (or use a token of ', h('code', {}, 'api.tokens'),
      '). A key with only the read scope sees alert actions disabled. The key stays in this browser tab only (sessionStorage).'),
    status,
    h('button', { type: 'submit' }, 'Sign in'),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const key = input.value.trim();
    if (!key) {
      status.textContent = 'Enter the API key.';
      input.focus();
      return;
    }
    status.textContent = '';
    try {
      await get('/api/v1/whoami', key);
    } catch (err) {
      status.textContent = err instanceof ApiError && err.status === 401
        ? 'The API did not accept this key: check data/api-key or api.tokens in the config.'
        : err instanceof ApiError && err.status === 403
          ? 'This key lacks the read scope the dashboard needs (api.tokens[].scopes).'
          : `The API could not be reached: ${(err as Error).message}`;
      input.focus();
      return;
    }
    setKey(key);
    await done();
  });
  main.appendChild(form);
  input.focus();
}
