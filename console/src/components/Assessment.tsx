import { useQuery } from '@urql/preact';
import { useEffect, useState } from 'preact/hooks';
import { type AssessmentDetailFragment, PatientAssessmentDocument, type RiskModel } from '../../../client/index.js';
import { describeError } from '../errors.js';
import { formatTime, percent } from '../format.js';
import { TrendChart } from './TrendChart.js';

const BANDS = {
  LOW: 'Low',
  LOW_MEDIUM: 'Low–medium (a single parameter scores 3)',
  MEDIUM: 'Medium',
  HIGH: 'High',
} as const;
const SOURCES = {
  LIVE: 'Live: computed by the model server now',
  CACHE: 'Cache: the model’s answer for these same observations',
  STALE_CACHE: 'Stale cache: the model server is failing; this is an older answer for these observations',
} as const;

/**
 * Scores this console has seen, per patient and model, oldest first. The API keeps no history of
 * assessments (each is computed from the latest observations), so the trend is what this tab
 * was shown: every new recording adds a point. Memory only: nothing about a patient is written
 * to the browser's storage.
 */
const seen = new Map<string, { at: string; score: number }[]>();

function remember(assessment: AssessmentDetailFragment) {
  const key = `${assessment.patientId}/${assessment.model}`;
  const points = seen.get(key) ?? [];
  if (!points.some((p) => p.at === assessment.computedAt)) {
    points.push({ at: assessment.computedAt, score: assessment.score });
    points.sort((a, b) => a.at.localeCompare(b.at));
  }
  seen.set(key, points);
  return points;
}

export function Assessment({ patientId, observedAt }: { patientId: string; observedAt: string | undefined }) {
  const [model, setModel] = useState<'' | RiskModel>('');
  const [result, refetch] = useQuery({
    query: PatientAssessmentDocument,
    variables: { patientId, model: model || null },
    pause: !observedAt,
    // Always the API's answer: whether it is LIVE, CACHE or STALE_CACHE is the point.
    requestPolicy: 'network-only',
  });
  // New observations: ask again (the answer is LIVE, computed on them).
  useEffect(() => {
    if (observedAt) refetch({ requestPolicy: 'network-only' });
  }, [observedAt, refetch]);
  const assessment = result.data?.assessment;
  const trend = assessment ? remember(assessment) : [];
  const isNews2 = assessment?.model === 'news2';

  return (
    <section aria-labelledby="risk-heading" class="card">
      <h2 id="risk-heading">Risk assessment</h2>
      <div class="inline-form">
        <label for="risk-model">Model</label>
        <select id="risk-model" value={model} onChange={(e) => setModel(e.currentTarget.value as '' | RiskModel)}>
          <option value="">Automatic (NEWS2, else Framingham)</option>
          <option value="NEWS2">NEWS2</option>
          <option value="FRAMINGHAM_CVD_10Y">Framingham 10-year CVD</option>
        </select>
        <button
          type="button"
          class="secondary"
          disabled={!observedAt}
          onClick={() => refetch({ requestPolicy: 'network-only' })}
        >
          Assess again
        </button>
      </div>
      {!observedAt && <p>Record observations to assess the patient.</p>}
      {result.error && <p role="alert">{describeError(result.error)}</p>}
      {assessment && (
        <div class="assessment" data-source={assessment.source} aria-live="polite">
          <p class="score-line">
            <span class="model-name">{isNews2 ? 'NEWS2' : 'Framingham 10-year CVD risk'}</span>{' '}
            <span class="score" data-testid="score">
              {isNews2 ? assessment.score : percent(assessment.score)}
            </span>
            <span class={`band band-${assessment.riskLevel}`} data-testid="band">
              {BANDS[assessment.riskLevel]} risk
            </span>
          </p>
          <p>
            <span class={`source source-${assessment.source}`} data-testid="source">
              {assessment.source}
            </span>{' '}
            <span class="help">{SOURCES[assessment.source]}</span>
          </p>
          <p class="help">
            Computed {formatTime(assessment.computedAt)} by {assessment.model} {assessment.modelVersion}.
          </p>
          <table class="factors">
            <caption>Factors</caption>
            <thead>
              <tr>
                <th scope="col">Factor</th>
                <th scope="col">Value</th>
                <th scope="col">{isNews2 ? 'Points' : 'Contribution'}</th>
              </tr>
            </thead>
            <tbody>
              {assessment.factors.map((f) => (
                <tr key={f.name}>
                  <td>{f.name}</td>
                  <td>{f.value ?? '—'}</td>
                  <td>{f.points ?? (f.contribution === null ? '—' : f.contribution.toFixed(3))}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <TrendChart
            points={trend}
            label={isNews2 ? 'NEWS2 score' : '10-year risk'}
            max={isNews2 ? 20 : 1}
            format={isNews2 ? String : percent}
          />
        </div>
      )}
    </section>
  );
}
