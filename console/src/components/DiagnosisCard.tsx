import { useMutation } from '@urql/preact';
import { useState } from 'preact/hooks';
import {
  type DiagnosisDetailFragment,
  isTerminal,
  type ReviewDecision,
  ReviewDiagnosisDocument,
} from '../../../client/index.js';
import { describeError, fieldErrors } from '../errors.js';
import { formatTime, percent } from '../format.js';

type Diagnosis = DiagnosisDetailFragment;

const REPORT = {
  PRELIMINARY: {
    title: 'DRAFT — AI-generated, not reviewed',
    text: 'Decision support only. No clinician has reviewed this yet: do not act on it as a diagnosis.',
  },
  FINAL: { title: 'FINAL — accepted by a clinician', text: '' },
  AMENDED: { title: 'AMENDED — a clinician’s conclusion replaces the draft', text: '' },
  REJECTED: { title: 'REJECTED — entered in error', text: 'A clinician rejected this draft. It is not a finding.' },
} as const;

/**
 * One diagnosis. Everything the model wrote (partial text, summary, differentials, rationales) is
 * rendered as text nodes, never as HTML, so nothing it says can become markup or script.
 */
export function DiagnosisCard({ diagnosis: d, onUpdate }: { diagnosis: Diagnosis; onUpdate: (d: Diagnosis) => void }) {
  const report = d.reportStatus ? REPORT[d.reportStatus] : undefined;
  const headingId = `dx-${d.id}-heading`;
  return (
    <article
      class={`diagnosis dx-${d.status} report-${d.reportStatus ?? 'NONE'}`}
      aria-labelledby={headingId}
      data-diagnosis-id={d.id}
      data-status={d.status}
      data-version={d.version}
      data-report-status={d.reportStatus ?? ''}
    >
      <header>
        <h3 id={headingId}>
          Diagnosis requested {formatTime(d.createdAt)}
          <span class="muted"> by {d.requestedBy.name}</span>
        </h3>
        <p class="status-line">
          <span class={`status status-${d.status}`} data-testid="status">
            {d.status}
          </span>
          {!isTerminal(d.status) && (
            <>
              <progress max={1} value={d.progress} aria-label="Progress" />
              <span>{percent(d.progress)}</span>
            </>
          )}
          {d.stage && !isTerminal(d.status) && <span class="muted">{d.stage}</span>}
          {d.attempts > 1 && <span class="muted">attempt {d.attempts}</span>}
          <span class="muted">version {d.version}</span>
        </p>
      </header>

      {!isTerminal(d.status) && d.partialText && (
        <div class="stream">
          <h4>The model so far</h4>
          <pre aria-live="off">{d.partialText}</pre>
        </div>
      )}
      {d.status === 'FAILED' && <p role="alert">Failed: {d.error ?? 'no result'}</p>}
      {d.status === 'CANCELLED' && <p>Cancelled.</p>}

      {d.status === 'COMPLETED' && d.result && report && (
        <>
          <div class={`report-banner report-banner-${d.reportStatus}`} data-testid="report-status">
            <strong>{report.title}</strong>
            {report.text && <span> {report.text}</span>}
            {d.review && (
              <span class="reviewer">
                {' '}
                {d.review.decision.toLowerCase()} by {d.review.reviewer.name} ({d.review.reviewer.id}),{' '}
                {formatTime(d.review.reviewedAt)}
              </span>
            )}
          </div>
          {d.review?.amendedSummary && (
            <div class="conclusion">
              <h4>Clinician’s conclusion</h4>
              <p class="text">{d.review.amendedSummary}</p>
            </div>
          )}
          {d.review?.note && (
            <p>
              <strong>Review note:</strong> <span class="text">{d.review.note}</span>
            </p>
          )}
          <div class="model-answer">
            <h4>{d.reportStatus === 'AMENDED' ? 'The model’s draft (superseded)' : 'Summary'}</h4>
            <p class="text">{d.result.summary}</p>
            <table class="differentials">
              <caption>Differentials</caption>
              <thead>
                <tr>
                  <th scope="col">Condition</th>
                  <th scope="col">Likelihood</th>
                  <th scope="col">Rationale</th>
                </tr>
              </thead>
              <tbody>
                {d.result.differentials.map((x) => (
                  <tr key={x.condition}>
                    <td>{x.condition}</td>
                    <td>{percent(x.likelihood)}</td>
                    <td class="text">{x.rationale ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <p class="help">
              {d.result.generator === 'RULES_ENGINE'
                ? 'From the offline rules engine (a fixed, cited table — not a language model).'
                : `From ${d.result.provider} ${d.result.model}.`}{' '}
              Completed {formatTime(d.completedAt)}.
            </p>
          </div>
          {d.reportStatus === 'PRELIMINARY' && <ReviewForm diagnosis={d} onUpdate={onUpdate} />}
        </>
      )}
    </article>
  );
}

function ReviewForm({ diagnosis, onUpdate }: { diagnosis: Diagnosis; onUpdate: (d: Diagnosis) => void }) {
  const [decision, setDecision] = useState<ReviewDecision | ''>('');
  const [note, setNote] = useState('');
  const [amended, setAmended] = useState('');
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [result, review] = useMutation(ReviewDiagnosisDocument);
  const server = fieldErrors(result.error);
  const errors = { ...server, ...problems };
  const base = `review-${diagnosis.id}`;

  const submit = async (event: Event) => {
    event.preventDefault();
    const found: Record<string, string> = {};
    if (!decision) found.decision = 'Choose accept, amend or reject.';
    if (decision === 'AMENDED' && !amended.trim()) found.amendedSummary = 'Write your conclusion to amend the draft.';
    setProblems(found);
    if (Object.keys(found).length > 0 || !decision) return;
    const answer = await review({
      id: diagnosis.id,
      input: {
        decision,
        ...(note.trim() ? { note } : {}),
        ...(decision === 'AMENDED' ? { amendedSummary: amended } : {}),
      },
    });
    if (answer.data) onUpdate(answer.data.reviewDiagnosis);
  };

  return (
    <form class="review" onSubmit={submit} noValidate aria-labelledby={`${base}-heading`}>
      <h4 id={`${base}-heading`}>Sign off</h4>
      <fieldset aria-describedby={`${base}-decision-error`}>
        <legend>Decision</legend>
        {(
          [
            ['ACCEPTED', 'Accept as the report'],
            ['AMENDED', 'Amend with my conclusion'],
            ['REJECTED', 'Reject (entered in error)'],
          ] as const
        ).map(([value, label]) => (
          <label key={value} class="radio">
            <input
              type="radio"
              name={`${base}-decision`}
              value={value}
              checked={decision === value}
              onChange={() => setDecision(value)}
            />{' '}
            {label}
          </label>
        ))}
        <p id={`${base}-decision-error`} class="field-error">
          {errors.decision ?? ''}
        </p>
      </fieldset>
      {decision === 'AMENDED' && (
        <div class="field">
          <label for={`${base}-amended`}>Your conclusion</label>
          <textarea
            id={`${base}-amended`}
            rows={3}
            value={amended}
            aria-invalid={errors.amendedSummary ? 'true' : undefined}
            aria-describedby={`${base}-amended-error`}
            onInput={(e) => setAmended(e.currentTarget.value)}
          />
          <p id={`${base}-amended-error`} class="field-error">
            {errors.amendedSummary ?? ''}
          </p>
        </div>
      )}
      <div class="field">
        <label for={`${base}-note`}>Note (optional)</label>
        <textarea id={`${base}-note`} rows={2} value={note} onInput={(e) => setNote(e.currentTarget.value)} />
      </div>
      <div class="actions">
        <button type="submit" disabled={result.fetching}>
          Sign off
        </button>
        <p role="alert" class="field-error">
          {result.error && Object.keys(server).length === 0 ? describeError(result.error) : ''}
        </p>
      </div>
    </form>
  );
}
