import { useMutation } from '@urql/preact';
import { useState } from 'preact/hooks';
import {
  AddCareTeamMemberDocument,
  type MeQuery,
  type PatientViewQuery,
  RemoveCareTeamMemberDocument,
} from '../../../client/index.js';
import { describeError } from '../errors.js';

type Patient = NonNullable<PatientViewQuery['patient']>;

/** Who may see the patient: add a clinician by id (their token's `sub`), or remove one. */
export function CareTeam({ patient, me }: { patient: Patient; me: MeQuery['me'] | undefined }) {
  const [clinicianId, setClinicianId] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [added, add] = useMutation(AddCareTeamMemberDocument);
  const [removed, remove] = useMutation(RemoveCareTeamMemberDocument);
  const problem = error ?? describeError(added.error) ?? describeError(removed.error);

  const submit = async (event: Event) => {
    event.preventDefault();
    const id = clinicianId.trim();
    if (!id) {
      setError('Enter the clinician’s id.');
      return;
    }
    setError(undefined);
    const answer = await add({ patientId: patient.id, clinicianId: id });
    if (answer.data) setClinicianId('');
  };

  return (
    <section aria-labelledby="team-heading" class="card">
      <h2 id="team-heading">Care team</h2>
      <ul class="team">
        {patient.careTeam.map((member) => (
          <li key={member.id}>
            <span>
              <strong>{member.name}</strong> <span class="muted">{member.id}</span>
              {member.id === me?.id && <span class="muted"> (you)</span>}
            </span>
            <button
              type="button"
              class="secondary small"
              aria-label={`Remove ${member.name} (${member.id}) from the care team`}
              disabled={removed.fetching}
              onClick={() => void remove({ patientId: patient.id, clinicianId: member.id })}
            >
              Remove
            </button>
          </li>
        ))}
      </ul>
      <form onSubmit={submit} noValidate class="inline-form">
        <label for="team-add">Add a clinician (id)</label>
        <input
          id="team-add"
          value={clinicianId}
          autocomplete="off"
          aria-describedby="team-error"
          aria-invalid={error ? 'true' : undefined}
          onInput={(e) => setClinicianId(e.currentTarget.value)}
        />
        <button type="submit" disabled={added.fetching}>
          Add
        </button>
      </form>
      <p id="team-error" role="alert" class="field-error">
        {problem ?? ''}
      </p>
    </section>
  );
}
