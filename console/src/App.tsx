import { Provider, useQuery } from '@urql/preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { MeDocument } from '../../client/index.js';
import { type Api, createApi } from './api.js';
import { ConnectionIndicator } from './components/ConnectionIndicator.js';
import { PatientList } from './components/PatientList.js';
import { PatientView } from './components/PatientView.js';
import { SignIn } from './components/SignIn.js';
import { ApiContext, useConnection } from './context.js';
import { describeError, hasCode } from './errors.js';
import { useRoute } from './route.js';
import { savedToken, saveToken } from './session.js';

export function App() {
  const [token, setToken] = useState(savedToken);
  const signIn = (next: string | undefined) => {
    saveToken(next);
    setToken(next);
  };
  if (!token) return <SignIn onSignIn={signIn} />;
  return <SignedIn key={token} token={token} onToken={signIn} />;
}

/** Sets the token (a new sign-in), or clears it (sign out). */
type OnToken = (token: string | undefined) => void;

function SignedIn({ token, onToken }: { token: string; onToken: OnToken }) {
  const api = useMemo<Api>(() => createApi(token), [token]);
  useEffect(() => () => api.dispose(), [api]);
  return (
    <ApiContext.Provider value={api}>
      <Provider value={api.client}>
        <Shell onToken={onToken} />
      </Provider>
    </ApiContext.Provider>
  );
}

function Shell({ onToken }: { onToken: OnToken }) {
  const [me] = useQuery({ query: MeDocument });
  const route = useRoute();
  // A new screen: its title, and the keyboard's focus at its start (not on a link that is gone),
  // as a page load would put it. Not on the first screen, where the skip link comes first.
  const shown = useRef(false);
  useEffect(() => {
    document.title =
      route.name === 'patient' ? 'Patient · Clinical Copilot console' : 'Patients · Clinical Copilot console';
    if (shown.current) document.getElementById('main')?.focus();
    shown.current = true;
  }, [route]);

  const { state } = useConnection();
  if (hasCode(me.error, 'UNAUTHENTICATED') || hasCode(me.error, 'FORBIDDEN')) {
    return <SignIn onSignIn={onToken} problem={describeError(me.error)} />;
  }
  // The socket was closed for the token (4401/4403: expired, or no role): nothing live works any
  // more, and a screen that looks live would mislead.
  if (state === 'signed-out') {
    return (
      <SignIn
        onSignIn={onToken}
        problem="The server ended your session (the token expired or was refused): sign in again."
      />
    );
  }
  return (
    <>
      {/* biome-ignore lint/a11y/useValidAnchor: a skip link is a link to #main (WCAG G1); the click handler only keeps the route's hash */}
      <a
        class="skip-link"
        href="#main"
        onClick={(event) => {
          // Focus the content without changing the URL's hash, which holds the screen.
          event.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="#/patients">
          Clinical Copilot <span class="brand-sub">console</span>
        </a>
        <ConnectionIndicator />
        <div class="whoami">
          {me.data ? (
            <span>
              Signed in as <strong>{me.data.me.name}</strong> <span class="muted">({me.data.me.id})</span>
            </span>
          ) : me.error ? (
            <span role="alert">{describeError(me.error)}</span>
          ) : (
            <span class="muted">Signing in…</span>
          )}
          <button type="button" class="secondary" onClick={() => onToken(undefined)}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {route.name === 'patient' ? <PatientView key={route.id} id={route.id} me={me.data?.me} /> : <PatientList />}
      </main>
    </>
  );
}
