import { type CombinedError, useClient, useQuery } from '@urql/preact';
import { useEffect, useState } from 'preact/hooks';
import {
  type AssessmentDetailFragment,
  PatientAssessmentDocument,
  PatientAssessmentHistoryDocument,
  type PatientAssessmentHistoryQuery,
  type RiskModel,
} from '../../../client/index.js';
import { describeError } from '../errors.js';
import { formatTime, percent } from '../format.js';
import { TrendChart, type TrendPoint } from './TrendChart.js';

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

/** The `RiskModel` argument for a model as the model server names it. */
const MODEL_ARGUMENT: Record<string, RiskModel> = { news2: 'NEWS2', 'framingham-cvd-10y': 'FRAMINGHAM_CVD_10Y' };

/** How many recordings the trend shows (the API allows up to 100). */
const TREND_LENGTH = 20;

/**
 * The trend's points: the API's history (the model's score of the snapshot after each recent
 * recording), plus the live assessment when the history does not reach it yet — it is the
 * snapshot of the newest recording, `observedAt`. Nothing about a patient is kept in the browser.
 */
function trendPoints(
  history: readonly Pick<TrendPoint, 'at' | 'score' | 'source'>[] | null | undefined,
  live: AssessmentDetailFragment | undefined,
  observedAt: string,
): TrendPoint[] {
  const points: TrendPoint[] = (history ?? []).map((p) => ({ ...p, live: false }));
  const newest = points.at(-1);
  if (!live || (newest && Date.parse(newest.at) === Date.parse(observedAt))) return points;
  return [...points, { at: observedAt, score: live.score, source: live.source, live: true }];
}

/** The history's last answer, and the model it was asked for. */
interface HistoryAnswer {
  model: RiskModel;
  data: PatientAssessmentHistoryQuery | undefined;
  error: CombinedError | undefined;
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
  const historyModel = assessment ? MODEL_ARGUMENT[assessment.model] : undefined;
  // The history follows each live answer, never races it: asked at the same time as the
  // assessment, it would score the new snapshot first, and the live answer would then be CACHE.
  // Asked by hand, not as a watched query: the client's document cache re-runs a watched query
  // whose result holds a Patient the moment a recordObservations answer arrives — before the
  // live assessment is asked again.
  const client = useClient();
  const [history, setHistory] = useState<HistoryAnswer | null>(null);
  useEffect(() => {
    if (!historyModel || !result.data || result.fetching) return;
    let current = true;
    // urql's toPromise resolves with the error in the answer; it does not reject.
    void client
      .query(
        PatientAssessmentHistoryDocument,
        { patientId, model: historyModel, last: TREND_LENGTH },
        { requestPolicy: 'network-only' },
      )
      .toPromise()
      .then((answer) => {
        if (current) setHistory({ model: historyModel, data: answer.data, error: answer.error });
      });
    return () => {
      current = false;
    };
  }, [client, patientId, result.data, result.fetching, historyModel]);
  const served = history?.data?.patient?.assessmentHistory?.map((p) => ({
    at: p.observedAt,
    score: p.score,
    source: p.source,
  }));
  // Only a history of the model shown, for the snapshot shown: never another model's points.
  const current = history?.model === historyModel ? served : undefined;
  // While the live answer is being asked again it is not yet the newest recording's.
  const trend =
    assessment && observedAt ? trendPoints(current, result.fetching ? undefined : assessment, observedAt) : [];
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
            history={current ? 'served' : history?.error ? 'unavailable' : 'loading'}
          />
          {history?.error && (
            <p role="status" class="help" data-testid="trend-error">
              Past scores unavailable: {describeError(history.error)} The trend shows the live score only.
            </p>
          )}
        </div>
      )}
    </section>
  );
}
