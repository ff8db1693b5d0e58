import { formatTime } from '../format.js';

const WIDTH = 320;
const HEIGHT = 96;
const PAD = 10;

/**
 * A small line chart of past scores (inline SVG: no chart library, nothing but the points), with
 * the same numbers as a list for screen readers.
 */
export function TrendChart(props: {
  points: { at: string; score: number }[];
  label: string;
  max: number;
  format: (score: number) => string;
}) {
  const { points, label, max, format } = props;
  if (points.length === 0) return null;
  const x = (i: number) => (points.length === 1 ? WIDTH / 2 : PAD + (i * (WIDTH - 2 * PAD)) / (points.length - 1));
  const y = (score: number) => HEIGHT - PAD - (Math.min(score, max) / max) * (HEIGHT - 2 * PAD);
  const line = points.map((p, i) => `${x(i).toFixed(1)},${y(p.score).toFixed(1)}`).join(' ');
  return (
    <figure class="trend">
      <figcaption>
        Trend: {label}, {points.length} {points.length === 1 ? 'score' : 'scores'} this session
      </figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} width={WIDTH} height={HEIGHT} aria-hidden="true" focusable="false">
        <line x1={PAD} y1={HEIGHT - PAD} x2={WIDTH - PAD} y2={HEIGHT - PAD} class="axis" />
        <polyline points={line} class="trend-line" />
        {points.map((p, i) => (
          <circle key={p.at} cx={x(i)} cy={y(p.score)} r={3.5} class="trend-point" />
        ))}
      </svg>
      <ol class="visually-hidden">
        {points.map((p) => (
          <li key={p.at}>
            {formatTime(p.at)}: {format(p.score)}
          </li>
        ))}
      </ol>
    </figure>
  );
}
