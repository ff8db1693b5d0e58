/**
 * Expected values come from Royal College of Physicians, National Early Warning Score (NEWS) 2,
 * December 2017: "Chart 1: The NEWS scoring system" for points and "Chart 2: NEWS thresholds and
 * triggers" for the clinical risk. Each band is tested at both of its printed edges.
 */
import { describe, expect, it } from 'vitest';
import { CONSCIOUSNESS_LEVELS } from '../../src/ml/risk-model.contract.js';
import {
  consciousnessPoints,
  type News2Vitals,
  news2RiskLevel,
  pulsePoints,
  respiratoryRatePoints,
  roundToChart,
  scoreNews2,
  spo2Scale1Points,
  supplementalOxygenPoints,
  systolicBpPoints,
  temperaturePoints,
} from './news2.js';

/** Scores 0 on every parameter (Chart 1's 0 column). */
const normal: News2Vitals = {
  respiratoryRate: 16,
  spo2: 98,
  onSupplementalOxygen: false,
  systolicBp: 120,
  heartRate: 70,
  consciousness: 'ALERT',
  temperatureC: 37,
};

describe('NEWS2 Chart 1 bands, at every printed edge', () => {
  it.each([
    [0, 3],
    [8, 3],
    [9, 1],
    [11, 1],
    [12, 0],
    [20, 0],
    [21, 2],
    [24, 2],
    [25, 3],
    [60, 3],
  ])('respiration rate %d/min scores %d (≤8 → 3, 9–11 → 1, 12–20 → 0, 21–24 → 2, ≥25 → 3)', (rate, points) => {
    expect(respiratoryRatePoints(rate)).toBe(points);
  });

  it.each([
    [50, 3],
    [91, 3],
    [92, 2],
    [93, 2],
    [94, 1],
    [95, 1],
    [96, 0],
    [100, 0],
  ])('SpO2 Scale 1 %d%% scores %d (≤91 → 3, 92–93 → 2, 94–95 → 1, ≥96 → 0)', (spo2, points) => {
    expect(spo2Scale1Points(spo2)).toBe(points);
  });

  it('scores supplemental oxygen 2 and air 0', () => {
    expect(supplementalOxygenPoints(true)).toBe(2);
    expect(supplementalOxygenPoints(false)).toBe(0);
  });

  it.each([
    [40, 3],
    [90, 3],
    [91, 2],
    [100, 2],
    [101, 1],
    [110, 1],
    [111, 0],
    [219, 0],
    [220, 3],
    [300, 3],
  ])('systolic BP %d mmHg scores %d (≤90 → 3, 91–100 → 2, 101–110 → 1, 111–219 → 0, ≥220 → 3)', (sbp, points) => {
    expect(systolicBpPoints(sbp)).toBe(points);
  });

  it.each([
    [20, 3],
    [40, 3],
    [41, 1],
    [50, 1],
    [51, 0],
    [90, 0],
    [91, 1],
    [110, 1],
    [111, 2],
    [130, 2],
    [131, 3],
    [250, 3],
  ])('pulse %d/min scores %d (≤40 → 3, 41–50 → 1, 51–90 → 0, 91–110 → 1, 111–130 → 2, ≥131 → 3)', (pulse, points) => {
    expect(pulsePoints(pulse)).toBe(points);
  });

  it.each([
    ['ALERT', 0],
    ['CONFUSION', 3],
    ['VOICE', 3],
    ['PAIN', 3],
    ['UNRESPONSIVE', 3],
  ] as const)('consciousness %s scores %d (Alert → 0, new confusion or CVPU → 3)', (level, points) => {
    expect(consciousnessPoints(level)).toBe(points);
  });

  it.each([
    [30, 3],
    [35.0, 3],
    [35.1, 1],
    [36.0, 1],
    [36.1, 0],
    [38.0, 0],
    [38.1, 1],
    [39.0, 1],
    [39.1, 2],
    [42, 2],
  ])('temperature %d °C scores %d (≤35.0 → 3, 35.1–36.0 → 1, 36.1–38.0 → 0, 38.1–39.0 → 1, ≥39.1 → 2)', (t, points) => {
    expect(temperaturePoints(t)).toBe(points);
  });
});

describe('values between the printed bands are rounded half up to the chart resolution', () => {
  it.each([
    [36.05, 0], // 36.1, although the double nearest 36.05 is 36.04999…
    [36.04, 1], // 36.0
    [35.05, 1], // 35.1
    [35.04, 3], // 35.0
    [38.05, 1], // 38.1
    [39.05, 2], // 39.1
    [34.95, 3], // 35.0
  ])('temperature %d °C scores %d', (t, points) => {
    expect(temperaturePoints(t)).toBe(points);
  });

  it.each([
    [respiratoryRatePoints, 8.49, 3],
    [respiratoryRatePoints, 8.5, 1],
    [respiratoryRatePoints, 20.49, 0],
    [respiratoryRatePoints, 20.5, 2],
    [spo2Scale1Points, 91.49, 3],
    [spo2Scale1Points, 91.5, 2],
    [spo2Scale1Points, 95.5, 0],
    [systolicBpPoints, 90.5, 2],
    [systolicBpPoints, 219.49, 0],
    [systolicBpPoints, 219.5, 3],
    [pulsePoints, 130.5, 3],
    [pulsePoints, 50.4, 1],
  ] as const)('%o(%d) scores %d', (points, value, expected) => {
    expect(points(value)).toBe(expected);
  });

  it('rounds every half-tenth from 25.05 to 44.95 °C up, although many are stored just below it', () => {
    for (let tenths = 250; tenths < 450; tenths++) {
      const midpoint = Number(`${Math.floor(tenths / 10)}.${tenths % 10}5`);
      expect(roundToChart(midpoint, 1)).toBe((tenths + 1) / 10);
    }
  });

  it('rounds to the chart resolution, halves up', () => {
    expect(roundToChart(36.05, 1)).toBe(36.1);
    expect(roundToChart(36.049, 1)).toBe(36);
    expect(roundToChart(20.5, 0)).toBe(21);
    expect(roundToChart(20.499, 0)).toBe(20);
  });
});

describe('NEWS2 Chart 2 clinical risk', () => {
  it.each([
    [0, [0, 0, 0, 0, 0, 0, 0], 'LOW'],
    [4, [1, 1, 0, 1, 1, 0, 0], 'LOW'],
    [3, [0, 0, 0, 0, 0, 3, 0], 'LOW_MEDIUM'], // a single red score within an aggregate of 0–4
    [4, [1, 0, 0, 3, 0, 0, 0], 'LOW_MEDIUM'],
    [5, [2, 1, 2, 0, 0, 0, 0], 'MEDIUM'],
    [6, [3, 0, 0, 0, 0, 3, 0], 'MEDIUM'], // red scores do not lower a medium aggregate
    [7, [2, 1, 2, 1, 1, 0, 0], 'HIGH'],
    [20, [3, 3, 2, 3, 3, 3, 3], 'HIGH'],
  ] as const)('aggregate %d with points %o is %s', (aggregate, points, level) => {
    expect(news2RiskLevel(aggregate, points)).toBe(level);
  });
});

describe('scoreNews2', () => {
  it('scores a patient with normal vital signs 0, low risk', () => {
    const result = scoreNews2(normal);
    expect(result.score).toBe(0);
    expect(result.riskLevel).toBe('LOW');
    expect(Object.values(result.points)).toEqual([0, 0, 0, 0, 0, 0, 0]);
  });

  it('adds the parameter points of a deteriorating patient (Chart 1 applied by hand)', () => {
    // RR 22 → 2, SpO2 95 → 1, oxygen → 2, SBP 105 → 1, pulse 115 → 2, Alert → 0, 38.5 °C → 1.
    const result = scoreNews2({
      respiratoryRate: 22,
      spo2: 95,
      onSupplementalOxygen: true,
      systolicBp: 105,
      heartRate: 115,
      consciousness: 'ALERT',
      temperatureC: 38.5,
    });
    expect(result.points).toEqual({
      respiratoryRate: 2,
      spo2: 1,
      onSupplementalOxygen: 2,
      systolicBp: 1,
      heartRate: 2,
      consciousness: 0,
      temperatureC: 1,
    });
    expect(result.score).toBe(9);
    expect(result.riskLevel).toBe('HIGH');
  });

  it('makes new confusion alone a low–medium (red score) risk of 3', () => {
    const result = scoreNews2({ ...normal, consciousness: 'CONFUSION' });
    expect(result.score).toBe(3);
    expect(result.riskLevel).toBe('LOW_MEDIUM');
  });

  it('reaches medium at an aggregate of 5', () => {
    // RR 21 → 2, SpO2 93 → 2, pulse 95 → 1.
    const result = scoreNews2({ ...normal, respiratoryRate: 21, spo2: 93, heartRate: 95 });
    expect(result.score).toBe(5);
    expect(result.riskLevel).toBe('MEDIUM');
  });

  it('reaches the maximum of 20', () => {
    const result = scoreNews2({
      respiratoryRate: 30,
      spo2: 85,
      onSupplementalOxygen: true,
      systolicBp: 80,
      heartRate: 140,
      consciousness: 'UNRESPONSIVE',
      temperatureC: 34,
    });
    expect(result.score).toBe(20);
    expect(result.riskLevel).toBe('HIGH');
  });

  it('gives every ACVPU level but Alert the same 3 points', () => {
    const scores = CONSCIOUSNESS_LEVELS.map((level) => scoreNews2({ ...normal, consciousness: level }).score);
    expect(scores).toEqual([0, 3, 3, 3, 3]);
  });

  it.each([
    ['respiratoryRate', 81, 'respiratory_rate must be between 0 and 80 breaths/min'],
    ['respiratoryRate', -1, 'respiratory_rate must be between 0 and 80 breaths/min'],
    ['spo2', 49, 'spo2 must be between 50 and 100 %'],
    ['spo2', 101, 'spo2 must be between 50 and 100 %'],
    ['systolicBp', 301, 'systolic_bp must be between 40 and 300 mmHg'],
    ['heartRate', 19, 'heart_rate must be between 20 and 300 beats/min'],
    ['temperatureC', 98.6, 'temperature_c must be between 25 and 45 °C'],
    ['temperatureC', Number.NaN, 'temperature_c must be between 25 and 45 °C'],
  ] as const)('rejects %s = %d with a RangeError that names the input, not the value', (field, value, message) => {
    const score = () => scoreNews2({ ...normal, [field]: value });
    expect(score).toThrow(RangeError);
    expect(score).toThrow(message);
  });
});
