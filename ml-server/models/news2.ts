/**
 * NEWS2, the National Early Warning Score 2.
 *
 * Source: Royal College of Physicians. National Early Warning Score (NEWS) 2: Standardising the
 * assessment of acute-illness severity in the NHS. Updated report of a working party. London: RCP,
 * December 2017. ISBN 978-1-86016-682-2. Bands from "Chart 1: The NEWS scoring system"; risk from
 * "Chart 2: NEWS thresholds and triggers" (https://www.rcp.ac.uk/improving-care/resources/
 * national-early-warning-score-news-2/).
 *
 * Scope: SpO2 **Scale 1 only**. Scale 2 is for patients with hypercapnic respiratory failure and
 * must be chosen by a clinician (the RCP asks for that decision to be recorded); our observations
 * do not carry it, so scoring such a patient on Scale 1 overstates their SpO2 points. Callers
 * must not present this score for patients on a prescribed 88–92 % target.
 */
import { type Consciousness, NEWS2_INPUTS, type RiskLevel } from '../../src/ml/risk-model.contract.js';

/** The seven vital signs NEWS2 scores. Keys match the API's observation fields. */
export interface News2Vitals {
  /** Breaths per minute. */
  respiratoryRate: number;
  /** Peripheral oxygen saturation, %. Scored on Scale 1. */
  spo2: number;
  /** Breathing supplemental oxygen (the chart's "Air or oxygen?"). */
  onSupplementalOxygen: boolean;
  /** Systolic blood pressure, mmHg. */
  systolicBp: number;
  /** Pulse, beats per minute. */
  heartRate: number;
  /** ACVPU; anything but `ALERT` means new confusion or worse. */
  consciousness: Consciousness;
  /** Temperature, °C. */
  temperatureC: number;
}

/** The parameters in the order of the RCP chart; this is the order of the factors output. */
export const NEWS2_PARAMETERS = [
  'respiratoryRate',
  'spo2',
  'onSupplementalOxygen',
  'systolicBp',
  'heartRate',
  'consciousness',
  'temperatureC',
] as const satisfies readonly (keyof News2Vitals)[];

/** One of {@link NEWS2_PARAMETERS}. */
export type News2Parameter = (typeof NEWS2_PARAMETERS)[number];

/** Points per parameter (0–3), the aggregate score (0–20) and the clinical risk. */
export interface News2Result {
  score: number;
  riskLevel: RiskLevel;
  points: Record<News2Parameter, number>;
}

/**
 * Values accepted, as `[min, max, unit]`. They reject unit mistakes and typos, not abnormal
 * values, and are the same physiologically possible ranges the API enforces on observations, so
 * anything the API stores can be scored.
 */
export const NEWS2_RANGES = {
  respiratoryRate: [0, 80, 'breaths/min'],
  spo2: [50, 100, '%'],
  systolicBp: [40, 300, 'mmHg'],
  heartRate: [20, 300, 'beats/min'],
  temperatureC: [25, 45, '°C'],
} as const satisfies Partial<Record<News2Parameter, readonly [number, number, string]>>;

/**
 * Rounds half up to `decimals` places: the resolution the chart is printed in (whole numbers, and
 * tenths of a degree for temperature).
 *
 * Why: the chart's bands leave gaps for measurements finer than they are printed (36.05 °C lies
 * between "35.1–36.0" and "36.1–38.0"). We score what a nurse would write on the chart: the value
 * rounded to the chart's resolution, halves upwards. So 36.05 → 36.1 → 0 points, 36.04 → 36.0 → 1
 * point, and 20.5 breaths/min → 21 → 2 points.
 *
 * Not `toFixed`: 36.05 is stored as 36.04999…, and rounding that exact binary value (as `toFixed`
 * does) gives 36.0. Multiplying by ten rounds the product to exactly 360.5 for every such
 * half-tenth in the accepted temperature range (the tests check each one), so `floor(x·10 + 0.5)`
 * rounds it up as a person reading the chart would.
 */
export function roundToChart(value: number, decimals: 0 | 1): number {
  const factor = 10 ** decimals;
  return Math.floor(value * factor + 0.5) / factor;
}

/** Chart 1, respiration rate (per minute): ≤8 → 3; 9–11 → 1; 12–20 → 0; 21–24 → 2; ≥25 → 3. */
export function respiratoryRatePoints(breathsPerMinute: number): number {
  const rate = roundToChart(breathsPerMinute, 0);
  if (rate <= 8) return 3;
  if (rate <= 11) return 1;
  if (rate <= 20) return 0;
  if (rate <= 24) return 2;
  return 3;
}

/** Chart 1, SpO2 Scale 1 (%): ≤91 → 3; 92–93 → 2; 94–95 → 1; ≥96 → 0. */
export function spo2Scale1Points(saturation: number): number {
  const spo2 = roundToChart(saturation, 0);
  if (spo2 <= 91) return 3;
  if (spo2 <= 93) return 2;
  if (spo2 <= 95) return 1;
  return 0;
}

/** Chart 1, air or oxygen: oxygen → 2; air → 0. */
export function supplementalOxygenPoints(onOxygen: boolean): number {
  return onOxygen ? 2 : 0;
}

/** Chart 1, systolic blood pressure (mmHg): ≤90 → 3; 91–100 → 2; 101–110 → 1; 111–219 → 0; ≥220 → 3. */
export function systolicBpPoints(mmHg: number): number {
  const sbp = roundToChart(mmHg, 0);
  if (sbp <= 90) return 3;
  if (sbp <= 100) return 2;
  if (sbp <= 110) return 1;
  if (sbp <= 219) return 0;
  return 3;
}

/** Chart 1, pulse (per minute): ≤40 → 3; 41–50 → 1; 51–90 → 0; 91–110 → 1; 111–130 → 2; ≥131 → 3. */
export function pulsePoints(beatsPerMinute: number): number {
  const pulse = roundToChart(beatsPerMinute, 0);
  if (pulse <= 40) return 3;
  if (pulse <= 50) return 1;
  if (pulse <= 90) return 0;
  if (pulse <= 110) return 1;
  if (pulse <= 130) return 2;
  return 3;
}

/** Chart 1, consciousness: Alert → 0; new Confusion, Voice, Pain or Unresponsive (CVPU) → 3. */
export function consciousnessPoints(level: Consciousness): number {
  return level === 'ALERT' ? 0 : 3;
}

/** Chart 1, temperature (°C): ≤35.0 → 3; 35.1–36.0 → 1; 36.1–38.0 → 0; 38.1–39.0 → 1; ≥39.1 → 2. */
export function temperaturePoints(celsius: number): number {
  const temperature = roundToChart(celsius, 1);
  if (temperature <= 35.0) return 3;
  if (temperature <= 36.0) return 1;
  if (temperature <= 38.0) return 0;
  if (temperature <= 39.0) return 1;
  return 2;
}

/**
 * Chart 2, clinical risk: aggregate 0–4 is low; a score of 3 in any single parameter (a "red
 * score") makes it low–medium; 5–6 is medium; 7 or more is high. A red score inside an aggregate
 * of 5 or more changes nothing: the aggregate band is already higher.
 */
export function news2RiskLevel(aggregate: number, points: readonly number[]): RiskLevel {
  if (aggregate >= 7) return 'HIGH';
  if (aggregate >= 5) return 'MEDIUM';
  if (points.some((p) => p === 3)) return 'LOW_MEDIUM';
  return 'LOW';
}

/**
 * Scores one set of vital signs. Throws `RangeError` naming the input as the protocol spells it
 * (never echoing the value, which is patient data) when a value is not finite or outside
 * {@link NEWS2_RANGES}.
 */
export function scoreNews2(vitals: News2Vitals): News2Result {
  for (const [parameter, [min, max, unit]] of Object.entries(NEWS2_RANGES)) {
    const key = parameter as keyof typeof NEWS2_RANGES;
    const value = vitals[key];
    if (!Number.isFinite(value) || value < min || value > max) {
      throw new RangeError(`${NEWS2_INPUTS[key].name} must be between ${min} and ${max} ${unit}`);
    }
  }
  const points: Record<News2Parameter, number> = {
    respiratoryRate: respiratoryRatePoints(vitals.respiratoryRate),
    spo2: spo2Scale1Points(vitals.spo2),
    onSupplementalOxygen: supplementalOxygenPoints(vitals.onSupplementalOxygen),
    systolicBp: systolicBpPoints(vitals.systolicBp),
    heartRate: pulsePoints(vitals.heartRate),
    consciousness: consciousnessPoints(vitals.consciousness),
    temperatureC: temperaturePoints(vitals.temperatureC),
  };
  const values = NEWS2_PARAMETERS.map((p) => points[p]);
  const score = values.reduce((sum, p) => sum + p, 0);
  return { score, riskLevel: news2RiskLevel(score, values), points };
}
