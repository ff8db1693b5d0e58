import { useClient, useQuery } from '@urql/preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { type MeQuery, PatientViewDocument } from '../../../client/index.js';
import { useConnection } from '../context.js';
import { describeError, hasCode } from '../errors.js';
import { Assessment } from './Assessment.js';
import { CareTeam } from './CareTeam.js';
import { Diagnoses } from './Diagnoses.js';
import { Observations } from './Observations.js';

/** How often a patient the clinician may not see is asked for again: they may be added to its care team. */
const NOT_FOUND_RETRY_MS = 2_000;

export function PatientView({ id, me }: { id: string; me: MeQuery['me'] | undefined }) {
  const [view, refetch] = useQuery({
    query: PatientViewDocument,
    variables: { id },
    requestPolicy: 'cache-and-network',
  });
  // Set when a live subscription on this patient ended with NOT_FOUND (removed from its care team):
  // nothing of the patient stays on screen, whatever the cache still holds.
  const [lost, setLost] = useState(false);
  const { reconnects } = useConnection();
  const client = useClient();
  const patient = lost ? null : view.data?.patient;
  const notFound = lost || (!view.fetching && hasCode(view.error, 'NOT_FOUND'));

  useEffect(() => {
    if (!notFound || lost) return;
    const timer = setInterval(() => refetch({ requestPolicy: 'network-only' }), NOT_FOUND_RETRY_MS);
    return () => clearInterval(timer);
  }, [notFound, lost, refetch]);
  // Stable, so the live subscriptions below it are not made again on every render.
  const onLost = useCallback(() => setLost(true), []);
  // Lost: only a fresh answer from the API may show the patient again (added back to its care
  // team), never what the cache still holds from before.
  useEffect(() => {
    if (!lost) return;
    let stopped = false;
    const check = async () => {
      const answer = await client.query(PatientViewDocument, { id }, { requestPolicy: 'network-only' }).toPromise();
      if (!stopped && answer.data?.patient) setLost(false);
    };
    void check();
    const timer = setInterval(() => void check(), NOT_FOUND_RETRY_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [lost, client, id]);
  useEffect(() => {
    if (reconnects > 0) refetch({ requestPolicy: 'network-only' });
  }, [reconnects, refetch]);

  if (notFound || (view.data && !view.data.patient)) {
    return (
      <>
        <p>
          <a href="#/patients">← All patients</a>
        </p>
        <h1>Patient not found</h1>
        <div class="notice" role="alert" data-code="NOT_FOUND">
          <p>
            <strong>NOT_FOUND:</strong> this patient does not exist, or you are not on its care team.
          </p>
          <p>
            A care-team member can add you; this page checks again every {NOT_FOUND_RETRY_MS / 1000} seconds and opens
            the patient as soon as you may see it.
          </p>
        </div>
      </>
    );
  }
  if (!patient) {
    return view.error ? <p role="alert">{describeError(view.error)}</p> : <p aria-busy="true">Loading the patient…</p>;
  }
  return (
    <>
      <p>
        <a href="#/patients">← All patients</a>
      </p>
      <h1>
        {patient.familyName}, {patient.givenName}
      </h1>
      <dl class="facts">
        <div>
          <dt>MRN</dt>
          <dd>{patient.mrn}</dd>
        </div>
        <div>
          <dt>Birth date</dt>
          <dd>{patient.birthDate}</dd>
        </div>
        <div>
          <dt>Sex</dt>
          <dd>{patient.sex}</dd>
        </div>
      </dl>
      <div class="columns">
        <div class="column">
          <Observations patient={patient} />
          <Assessment patientId={patient.id} observedAt={patient.latestObservations?.recordedAt} />
        </div>
        <div class="column">
          <Diagnoses patientId={patient.id} onLost={onLost} />
          <CareTeam patient={patient} me={me} />
        </div>
      </div>
    </>
  );
}
