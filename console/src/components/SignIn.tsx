import { useState } from 'preact/hooks';
import { demoToken, looksLikeJwt } from '../session.js';

/**
 * Sign-in by token: the clinician pastes the bearer token their identity provider issued (or
 * `npm run token` printed). `npm start` puts its demo clinician's token in the page: it is
 * pre-filled, and signing in is one press of the button.
 */
export function SignIn({ onSignIn, problem }: { onSignIn: (token: string) => void; problem?: string | undefined }) {
  const demo = demoToken();
  const [token, setToken] = useState(demo ?? '');
  const [error, setError] = useState<string | undefined>();
  const submit = (event: Event) => {
    event.preventDefault();
    const value = token.trim().replace(/^Bearer\s+/i, '');
    if (!looksLikeJwt(value)) {
      setError('Paste a token: three parts separated by dots (eyJ…).');
      return;
    }
    onSignIn(value);
  };
  return (
    <main id="main" class="signin">
      <h1>Clinical Copilot console</h1>
      <p>Decision support for clinicians: patients, observations, risk scores and AI-drafted diagnoses to review.</p>
      <form onSubmit={submit} noValidate>
        <label for="token">Access token</label>
        <textarea
          id="token"
          name="token"
          rows={4}
          spellcheck={false}
          autocomplete="off"
          aria-describedby="token-help token-error"
          aria-invalid={error ? 'true' : undefined}
          value={token}
          onInput={(e) => {
            setToken(e.currentTarget.value);
            setError(undefined);
          }}
        />
        <p id="token-help" class="help">
          {demo
            ? 'The demo clinician’s token from npm start is filled in.'
            : 'The bearer token (JWT) from your identity provider, or from npm run token.'}
        </p>
        <p id="token-error" class="field-error" role="alert">
          {error ?? problem ?? ''}
        </p>
        <button type="submit">Sign in</button>
      </form>
    </main>
  );
}
