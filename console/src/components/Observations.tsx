import { useMutation } from '@urql/preact';
import { useState } from 'preact/hooks';
import {
  type Consciousness,
  type MeasuredField,
  OBSERVATION_RANGES,
  type ObservationsInput,
  observationError,
  type PatientViewQuery,
  RecordObservationsDocument,
} from '../../../client/index.js';
import { describeError, fieldErrors } from '../errors.js';
import { formatTime } from '../format.js';

type Patient = NonNullable<PatientViewQuery['patient']>;

const MEASURED: { field: MeasuredField; label: string }[] = [
  { field: 'respiratoryRate', label: 'Respiratory rate' },
  { field: 'spo2', label: 'SpO₂' },
  { field: 'systolicBp', label: 'Systolic BP' },
  { field: 'diastolicBp', label: 'Diastolic BP' },
  { field: 'heartRate', label: 'Heart rate' },
  { field: 'temperatureC', label: 'Temperature' },
  { field: 'totalCholesterol', label: 'Total cholesterol' },
  { field: 'hdlCholesterol', label: 'HDL cholesterol' },
];
const FLAGS = [
  { field: 'onSupplementalOxygen', label: 'On supplemental oxygen' },
  { field: 'smoker', label: 'Smoker' },
  { field: 'diabetic', label: 'Diabetic' },
  { field: 'onBpTreatment', label: 'On BP treatment' },
] as const;
type Flag = (typeof FLAGS)[number]['field'];
const CONSCIOUSNESS: Consciousness[] = ['ALERT', 'CONFUSION', 'VOICE', 'PAIN', 'UNRESPONSIVE'];

const unit = (field: MeasuredField) => OBSERVATION_RANGES[field][2];
const show = (value: number | boolean | string | null | undefined) =>
  value === null || value === undefined ? '—' : typeof value === 'boolean' ? (value ? 'yes' : 'no') : String(value);

export function Observations({ patient }: { patient: Patient }) {
  const latest = patient.latestObservations;
  const history = patient.observations.edges.map((e) => e.node);
  return (
    <section aria-labelledby="obs-heading" class="card">
      <h2 id="obs-heading">Observations</h2>
      {latest ? (
        <>
          <p class="help">Latest value of each, newest recorded {formatTime(latest.recordedAt)}.</p>
          <dl class="readings">
            {MEASURED.map(({ field, label }) => (
              <div key={field}>
                <dt>{label}</dt>
                <dd>
                  {show(latest[field])} {latest[field] !== null && <span class="unit">{unit(field)}</span>}
                </dd>
              </div>
            ))}
            <div>
              <dt>Consciousness</dt>
              <dd>{show(latest.consciousness)}</dd>
            </div>
            {FLAGS.map(({ field, label }) => (
              <div key={field}>
                <dt>{label}</dt>
                <dd>{show(latest[field])}</dd>
              </div>
            ))}
          </dl>
        </>
      ) : (
        <p>No observations recorded yet.</p>
      )}
      <ObservationForm patientId={patient.id} />
      <details class="history">
        <summary>History ({history.length === 10 ? 'latest 10' : history.length} recordings)</summary>
        {history.length > 0 && (
          <div class="table-scroll">
            <table>
              <caption class="visually-hidden">Recorded observations, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Recorded</th>
                  <th scope="col">RR</th>
                  <th scope="col">SpO₂</th>
                  <th scope="col">BP</th>
                  <th scope="col">HR</th>
                  <th scope="col">Temp</th>
                  <th scope="col">ACVPU</th>
                </tr>
              </thead>
              <tbody>
                {history.map((o) => (
                  <tr key={o.id}>
                    <td>{formatTime(o.recordedAt)}</td>
                    <td>{show(o.respiratoryRate)}</td>
                    <td>{show(o.spo2)}</td>
                    <td>
                      {show(o.systolicBp)}/{show(o.diastolicBp)}
                    </td>
                    <td>{show(o.heartRate)}</td>
                    <td>{show(o.temperatureC)}</td>
                    <td>{show(o.consciousness)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </details>
    </section>
  );
}

function ObservationForm({ patientId }: { patientId: string }) {
  const [values, setValues] = useState<Partial<Record<MeasuredField, string>>>({});
  const [flags, setFlags] = useState<Partial<Record<Flag, '' | 'yes' | 'no'>>>({});
  const [consciousness, setConsciousness] = useState<'' | Consciousness>('');
  const [localErrors, setLocalErrors] = useState<Record<string, string>>({});
  const [saved, setSaved] = useState(false);
  const [result, record] = useMutation(RecordObservationsDocument);
  const serverErrors = fieldErrors(result.error);
  const errors = { ...serverErrors, ...localErrors };

  const submit = async (event: Event) => {
    event.preventDefault();
    setSaved(false);
    const input: ObservationsInput = {};
    const problems: Record<string, string> = {};
    for (const { field } of MEASURED) {
      const text = values[field]?.trim();
      if (!text) continue;
      const value = Number(text);
      const problem = observationError(field, value);
      if (problem) problems[field] = problem;
      else input[field] = value;
    }
    for (const { field } of FLAGS) {
      const flag = flags[field];
      if (flag) input[field] = flag === 'yes';
    }
    if (consciousness) input.consciousness = consciousness;
    if (Object.keys(problems).length === 0 && Object.keys(input).length === 0) {
      problems.form = 'Enter at least one value.';
    }
    setLocalErrors(problems);
    if (Object.keys(problems).length > 0) return;
    const answer = await record({ patientId, input });
    if (answer.data) {
      setValues({});
      setFlags({});
      setConsciousness('');
      setSaved(true);
    }
  };

  const general =
    result.error && Object.keys(serverErrors).length === 0 ? describeError(result.error) : (errors.form ?? undefined);
  return (
    <form onSubmit={submit} noValidate class="obs-form" aria-labelledby="obs-form-heading">
      <h3 id="obs-form-heading">Record observations</h3>
      <div class="grid-form">
        {MEASURED.map(({ field, label }) => {
          const [min, max, u] = OBSERVATION_RANGES[field];
          const id = `obs-${field}`;
          return (
            <div class="field" key={field}>
              <label for={id}>
                {label} <span class="unit">({u})</span>
              </label>
              <input
                id={id}
                type="number"
                inputMode="decimal"
                step="any"
                min={min}
                max={max}
                value={values[field] ?? ''}
                aria-invalid={errors[field] ? 'true' : undefined}
                aria-describedby={`${id}-range ${id}-error`}
                onInput={(e) => {
                  setValues({ ...values, [field]: e.currentTarget.value });
                  setLocalErrors({ ...localErrors, [field]: '' });
                }}
              />
              <p id={`${id}-range`} class="help">
                {min}–{max}
              </p>
              <p id={`${id}-error`} class="field-error">
                {errors[field] ?? ''}
              </p>
            </div>
          );
        })}
        <div class="field">
          <label for="obs-consciousness">Consciousness (ACVPU)</label>
          <select
            id="obs-consciousness"
            value={consciousness}
            onChange={(e) => setConsciousness(e.currentTarget.value as Consciousness)}
          >
            <option value="">Not assessed</option>
            {CONSCIOUSNESS.map((c) => (
              <option key={c} value={c}>
                {c.charAt(0) + c.slice(1).toLowerCase()}
              </option>
            ))}
          </select>
        </div>
        {FLAGS.map(({ field, label }) => (
          <div class="field" key={field}>
            <label for={`obs-${field}`}>{label}</label>
            <select
              id={`obs-${field}`}
              value={flags[field] ?? ''}
              onChange={(e) => setFlags({ ...flags, [field]: e.currentTarget.value as '' | 'yes' | 'no' })}
            >
              <option value="">Not recorded</option>
              <option value="yes">Yes</option>
              <option value="no">No</option>
            </select>
          </div>
        ))}
      </div>
      <div class="actions">
        <button type="submit" disabled={result.fetching}>
          Record
        </button>
        <p role="status" class="saved">
          {saved ? 'Recorded.' : ''}
        </p>
        <p role="alert" class="field-error">
          {general ?? ''}
        </p>
      </div>
    </form>
  );
}
