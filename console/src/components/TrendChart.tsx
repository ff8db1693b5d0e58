import type { AssessmentSource } from '../../../client/index.js';
import { formatTime } from '../format.js';

const WIDTH = 320;
const HEIGHT = 96;
const PAD = 10;

/** One score on the trend: after which recording (`at`), and where it came from. */
export interface TrendPoint {
  /** When the recording whose snapshot was scored took effect. */
  at: string;
  score: number;
  source: AssessmentSource;
  /** The live assessment, not (yet) a point of the API's history. */
  live: boolean;
}

/**
 * A small line chart of a patient's scores, one point per recording (inline SVG: no chart
 * library, nothing but the points), with the same numbers as a list for screen readers. The
 * caption says where the points come from: the API's history, and the live score when the
 * history does not hold it yet (drawn as a ring).
 */
export function TrendChart(props: {
  points: TrendPoint[];
  label: string;
  max: number;
  format: (score: number) => string;
  /** Whether the API's history is among the points, still on its way, or could not be read. */
  history: 'served' | 'loading' | 'unavailable';
}) {
  const { points, label, max, format, history } = props;
  if (points.length === 0) return null;
  const x = (i: number) => (points.length === 1 ? WIDTH / 2 : PAD + (i * (WIDTH - 2 * PAD)) / (points.length - 1));
  const y = (score: number) => HEIGHT - PAD - (Math.min(score, max) / max) * (HEIGHT - 2 * PAD);
  const line = points.map((p, i) => `${x(i).toFixed(1)},${y(p.score).toFixed(1)}`).join(' ');
  const withLive = points.some((p) => p.live);
  const recordings = `${points.length} ${points.length === 1 ? 'recording' : 'recordings'}`;
  const caption = {
    served: `${recordings}: past scores from the API's history${withLive ? ', and the live score' : ''}`,
    loading: 'the live score; past scores loading…',
    unavailable: 'the live score only (past scores could not be read)',
  }[history];
  return (
    <figure class="trend" data-history={history}>
      <figcaption>
        Trend: {label}, {caption}
      </figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} width={WIDTH} height={HEIGHT} aria-hidden="true" focusable="false">
        <line x1={PAD} y1={HEIGHT - PAD} x2={WIDTH - PAD} y2={HEIGHT - PAD} class="axis" />
        <polyline points={line} class="trend-line" />
        {points.map((p, i) => (
          <circle
            key={p.at}
            cx={x(i)}
            cy={y(p.score)}
            r={3.5}
            class={p.live ? 'trend-point trend-live' : 'trend-point'}
            data-source={p.source}
            data-live={String(p.live)}
          />
        ))}
      </svg>
      <ol class="visually-hidden">
        {points.map((p) => (
          <li key={p.at}>
            After the recording of {formatTime(p.at)}: {format(p.score)} ({p.live ? 'live score' : 'history'},{' '}
            {p.source})
          </li>
        ))}
      </ol>
      <p class="help">One point per recording of observations: the model's score of every field as of then.</p>
    </figure>
  );
}
