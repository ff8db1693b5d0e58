import { useClient, useMutation } from '@urql/preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import {
  type DiagnosisDetailFragment,
  DiagnosisUpdatedDocument,
  isTerminal,
  newerDiagnosis,
  PatientDiagnosesDocument,
  PatientDiagnosisHistoryDocument,
  RequestDiagnosisDocument,
} from '../../../client/index.js';
import { useConnection } from '../context.js';
import { describeError, hasCode } from '../errors.js';
import { DiagnosisCard } from './DiagnosisCard.js';

type Diagnosis = DiagnosisDetailFragment;

/**
 * The patient's diagnoses, live. Three sources feed one map, merged by `version` so the screen
 * never goes back: the list (asked again after every reconnect, for what changed meanwhile),
 * `patientDiagnoses` (every change of every diagnosis, new ones and reviews included), and one
 * `diagnosisUpdated` per diagnosis still running (its first event is the current state, so a
 * subscription made again on another pod after a drop picks up where the screen was).
 */
export function Diagnoses({ patientId, onLost }: { patientId: string; onLost: () => void }) {
  const client = useClient();
  const { reconnects } = useConnection();
  const [byId, setById] = useState<ReadonlyMap<string, Diagnosis>>(new Map());
  const merge = useCallback((incoming: Diagnosis) => {
    setById((current) => {
      const kept = newerDiagnosis(current.get(incoming.id), incoming);
      if (kept === current.get(incoming.id)) return current;
      return new Map(current).set(incoming.id, kept);
    });
  }, []);

  // The list, now and after every reconnect.
  useEffect(() => {
    const { unsubscribe } = client
      .query(PatientDiagnosisHistoryDocument, { patientId }, { requestPolicy: 'network-only' })
      .subscribe((result) => {
        if (hasCode(result.error, 'NOT_FOUND')) onLost();
        for (const edge of result.data?.patient?.diagnoses.edges ?? []) merge(edge.node);
      });
    return unsubscribe;
  }, [client, patientId, reconnects, merge, onLost]);

  // Every change of every diagnosis of this patient; ends with NOT_FOUND if we leave its care team.
  useEffect(() => {
    const { unsubscribe } = client.subscription(PatientDiagnosesDocument, { patientId }).subscribe((result) => {
      if (hasCode(result.error, 'NOT_FOUND')) onLost();
      if (result.data) merge(result.data.patientDiagnoses);
    });
    return unsubscribe;
  }, [client, patientId, merge, onLost]);

  const diagnoses = [...byId.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const running = diagnoses.filter((d) => !isTerminal(d.status));
  return (
    <section aria-labelledby="dx-heading" class="card">
      <h2 id="dx-heading">Diagnoses</h2>
      <RequestForm patientId={patientId} onRequested={merge} />
      {running.map((d) => (
        <Follow key={d.id} id={d.id} onUpdate={merge} onLost={onLost} />
      ))}
      {diagnoses.length === 0 ? (
        <p>No diagnosis requested yet.</p>
      ) : (
        <ol class="diagnoses" aria-label="Diagnoses, newest first">
          {diagnoses.map((d) => (
            <li key={d.id}>
              <DiagnosisCard diagnosis={d} onUpdate={merge} />
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

/** One running diagnosis's `diagnosisUpdated`: renders nothing, feeds the map until a terminal state. */
function Follow({ id, onUpdate, onLost }: { id: string; onUpdate: (d: Diagnosis) => void; onLost: () => void }) {
  const client = useClient();
  useEffect(() => {
    const { unsubscribe } = client.subscription(DiagnosisUpdatedDocument, { id }).subscribe((result) => {
      if (hasCode(result.error, 'NOT_FOUND')) onLost();
      if (result.data) onUpdate(result.data.diagnosisUpdated);
    });
    return unsubscribe;
  }, [client, id, onUpdate, onLost]);
  return null;
}

const MAX_SYMPTOMS = 50;
const MAX_NOTES = 10_000;

function RequestForm({ patientId, onRequested }: { patientId: string; onRequested: (d: Diagnosis) => void }) {
  const [symptoms, setSymptoms] = useState('');
  const [notes, setNotes] = useState('');
  const [problems, setProblems] = useState<{ symptoms?: string; notes?: string }>({});
  const [result, request] = useMutation(RequestDiagnosisDocument);

  const submit = async (event: Event) => {
    event.preventDefault();
    const list = symptoms
      .split(/[\n,;]/)
      .map((s) => s.trim())
      .filter(Boolean);
    const found: typeof problems = {};
    if (list.length === 0) found.symptoms = 'Enter at least one symptom.';
    else if (list.length > MAX_SYMPTOMS) found.symptoms = `At most ${MAX_SYMPTOMS} symptoms.`;
    if (notes.length > MAX_NOTES) found.notes = `Notes are at most ${MAX_NOTES} characters.`;
    setProblems(found);
    if (found.symptoms || found.notes) return;
    const answer = await request({ patientId, input: { symptoms: list, ...(notes.trim() ? { notes } : {}) } });
    if (answer.data) {
      onRequested(answer.data.requestDiagnosis);
      setSymptoms('');
      setNotes('');
    }
  };

  return (
    <form onSubmit={submit} noValidate class="dx-form" aria-labelledby="dx-form-heading">
      <h3 id="dx-form-heading">Request a diagnosis</h3>
      <div class="field">
        <label for="dx-symptoms">Symptoms (one per line, or separated by commas)</label>
        <textarea
          id="dx-symptoms"
          rows={3}
          value={symptoms}
          aria-invalid={problems.symptoms ? 'true' : undefined}
          aria-describedby="dx-symptoms-error"
          onInput={(e) => setSymptoms(e.currentTarget.value)}
        />
        <p id="dx-symptoms-error" class="field-error">
          {problems.symptoms ?? ''}
        </p>
      </div>
      <div class="field">
        <label for="dx-notes">Notes (optional)</label>
        <textarea
          id="dx-notes"
          rows={2}
          value={notes}
          aria-invalid={problems.notes ? 'true' : undefined}
          aria-describedby="dx-notes-error"
          onInput={(e) => setNotes(e.currentTarget.value)}
        />
        <p id="dx-notes-error" class="field-error">
          {problems.notes ?? ''}
        </p>
      </div>
      <div class="actions">
        <button type="submit" disabled={result.fetching}>
          Request diagnosis
        </button>
        <p role="alert" class="field-error">
          {describeError(result.error) ?? ''}
        </p>
      </div>
    </form>
  );
}
