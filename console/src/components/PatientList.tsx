import { useMutation, useQuery } from '@urql/preact';
import { useState } from 'preact/hooks';
import { CreatePatientDocument, PatientListDocument, type Sex } from '../../../client/index.js';
import { describeError, fieldErrors } from '../errors.js';
import { href } from '../route.js';
import { Field } from './Field.js';

const PAGE_SIZE = 10;
const SEXES: Sex[] = ['FEMALE', 'MALE', 'OTHER', 'UNKNOWN'];

/** The patients the clinician may see, searchable by MRN or name prefix, a page at a time. */
export function PatientList() {
  const [draft, setDraft] = useState('');
  const [search, setSearch] = useState('');
  // Cursors of the pages before this one: the API pages forward, so "previous" goes back down this stack.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const after = cursors.at(-1) ?? null;
  const [list, refetch] = useQuery({
    query: PatientListDocument,
    variables: { first: PAGE_SIZE, after, search: search || null },
    requestPolicy: 'cache-and-network',
  });
  const page = list.data?.patients;

  return (
    <>
      <h1>Patients</h1>
      <section aria-labelledby="search-heading" class="card">
        <h2 id="search-heading" class="visually-hidden">
          Search
        </h2>
        <search>
          <form
            class="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              setSearch(draft.trim());
              setCursors([null]);
            }}
          >
            <label for="patient-search">Search by MRN or name</label>
            <input
              id="patient-search"
              type="search"
              value={draft}
              onInput={(e) => setDraft(e.currentTarget.value)}
              placeholder="e.g. A-1, Grace, Hopper"
              autocomplete="off"
            />
            <button type="submit">Search</button>
            {search && (
              <button
                type="button"
                class="secondary"
                onClick={() => {
                  setDraft('');
                  setSearch('');
                  setCursors([null]);
                }}
              >
                Clear
              </button>
            )}
          </form>
        </search>
      </section>

      <section aria-labelledby="list-heading" class="card">
        <h2 id="list-heading">{search ? `Patients matching “${search}”` : 'Your patients'}</h2>
        {list.error && <p role="alert">{describeError(list.error)}</p>}
        {page && page.edges.length === 0 && (
          <p>{search ? 'No patient you can see matches.' : 'No patients yet: create one below.'}</p>
        )}
        {page && page.edges.length > 0 && (
          <table class="patients">
            <caption class="visually-hidden">Patients, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">MRN</th>
                <th scope="col">Birth date</th>
                <th scope="col">Sex</th>
              </tr>
            </thead>
            <tbody>
              {page.edges.map(({ node }) => (
                <tr key={node.id}>
                  <td>
                    <a href={href({ name: 'patient', id: node.id })}>
                      {node.familyName}, {node.givenName}
                    </a>
                  </td>
                  <td>{node.mrn}</td>
                  <td>{node.birthDate}</td>
                  <td>{node.sex}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <nav class="pager" aria-label="Pages of patients">
          <button
            type="button"
            class="secondary"
            disabled={cursors.length < 2}
            onClick={() => setCursors(cursors.slice(0, -1))}
          >
            Previous page
          </button>
          <span>Page {cursors.length}</span>
          <button
            type="button"
            class="secondary"
            disabled={!page?.pageInfo.hasNextPage}
            onClick={() => page?.pageInfo.endCursor && setCursors([...cursors, page.pageInfo.endCursor])}
          >
            Next page
          </button>
          <button type="button" class="secondary" onClick={() => refetch({ requestPolicy: 'network-only' })}>
            Refresh
          </button>
        </nav>
      </section>
      <NewPatient />
    </>
  );
}

function NewPatient() {
  const [form, setForm] = useState({ mrn: '', givenName: '', familyName: '', birthDate: '', sex: '' });
  const [localErrors, setLocalErrors] = useState<Record<string, string>>({});
  const [result, create] = useMutation(CreatePatientDocument);
  const serverErrors = fieldErrors(result.error);
  const errors = { ...serverErrors, ...localErrors };
  const set = (field: keyof typeof form) => (value: string) => {
    setForm({ ...form, [field]: value });
    setLocalErrors({ ...localErrors, [field]: '' });
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    const missing: Record<string, string> = {};
    if (!form.mrn.trim()) missing.mrn = 'Enter the medical record number.';
    if (!form.givenName.trim()) missing.givenName = 'Enter the given name.';
    if (!form.familyName.trim()) missing.familyName = 'Enter the family name.';
    if (!/^\d{4}-\d{2}-\d{2}$/.test(form.birthDate)) missing.birthDate = 'Enter the birth date (YYYY-MM-DD).';
    if (!form.sex) missing.sex = 'Choose one.';
    setLocalErrors(missing);
    if (Object.keys(missing).length > 0) return;
    const answer = await create({
      input: {
        mrn: form.mrn.trim(),
        givenName: form.givenName.trim(),
        familyName: form.familyName.trim(),
        birthDate: form.birthDate,
        sex: form.sex as Sex,
      },
    });
    const created = answer.data?.createPatient;
    if (created) window.location.hash = href({ name: 'patient', id: created.id });
  };

  const general = result.error && Object.keys(serverErrors).length === 0 ? describeError(result.error) : undefined;
  return (
    <section aria-labelledby="new-heading" class="card">
      <h2 id="new-heading">New patient</h2>
      <p class="help">You join the new patient’s care team.</p>
      <form onSubmit={submit} noValidate class="grid-form">
        <Field id="new-mrn" label="MRN" error={errors.mrn} value={form.mrn} onValue={set('mrn')} autocomplete="off" />
        <Field
          id="new-given"
          label="Given name"
          error={errors.givenName}
          value={form.givenName}
          onValue={set('givenName')}
          autocomplete="off"
        />
        <Field
          id="new-family"
          label="Family name"
          error={errors.familyName}
          value={form.familyName}
          onValue={set('familyName')}
          autocomplete="off"
        />
        <Field
          id="new-birth"
          label="Birth date"
          type="date"
          error={errors.birthDate}
          value={form.birthDate}
          onValue={set('birthDate')}
        />
        <div class="field">
          <label for="new-sex">Sex</label>
          <select
            id="new-sex"
            value={form.sex}
            aria-invalid={errors.sex ? 'true' : undefined}
            aria-describedby="new-sex-error"
            onChange={(e) => set('sex')(e.currentTarget.value)}
          >
            <option value="">Choose…</option>
            {SEXES.map((s) => (
              <option key={s} value={s}>
                {s.charAt(0) + s.slice(1).toLowerCase()}
              </option>
            ))}
          </select>
          <p id="new-sex-error" class="field-error">
            {errors.sex ?? ''}
          </p>
        </div>
        <div class="actions">
          <button type="submit" disabled={result.fetching}>
            Create patient
          </button>
          {general && <p role="alert">{general}</p>}
        </div>
      </form>
    </section>
  );
}
