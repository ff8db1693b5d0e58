import { useConnection } from '../context.js';

const LABELS = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  'signed-out': 'Signed out by the server',
} as const;

/** The live connection, announced politely to screen readers when it changes. */
export function ConnectionIndicator() {
  const { state } = useConnection();
  return (
    <div class={`connection connection-${state}`} role="status" aria-live="polite" data-state={state}>
      <span class="dot" aria-hidden="true" />
      {LABELS[state]}
    </div>
  );
}
