/**
 * The published test vectors of our two reference models (ml-server/models/vectors/*.json), typed.
 * Each file names its sources; the model unit tests and the OIP conformance test both run them.
 */
import { readFileSync } from 'node:fs';
import type { FraminghamInputs } from '../../ml-server/models/framingham.js';
import type { News2Vitals } from '../../ml-server/models/news2.js';
import type { RiskLevel } from '../../src/ml/risk-model.contract.js';

type News2Parameter = keyof News2Vitals;

export interface News2Vectors {
  sources: { id: string; cite: string }[];
  bands: Record<News2Parameter, { source: string; rule: string; cases: [number | boolean | string, number][] }>;
  betweenBands: { source: string; cases: [News2Parameter, number, number][] };
  riskLevels: {
    source: string;
    parameterOrder: News2Parameter[];
    cases: { aggregate: number; points: number[]; riskLevel: RiskLevel; note?: string }[];
  };
  patients: {
    source: string;
    note: string;
    vitals: News2Vitals;
    points: Record<News2Parameter, number>;
    score: number;
    riskLevel: RiskLevel;
  }[];
}

export interface FraminghamVectors {
  sources: { id: string; cite: string }[];
  coefficients: Record<'MALE' | 'FEMALE', Record<string, number>> & { source: string };
  cases: {
    source: string;
    inputs: FraminghamInputs;
    riskPercent: number;
    digits: number;
    relativeLogHazard?: number;
    riskLevel: RiskLevel;
  }[];
  baseline: { source: string; MALE: number; FEMALE: number };
}

const read = <T>(file: string): T =>
  JSON.parse(readFileSync(new URL(`../../ml-server/models/vectors/${file}`, import.meta.url), 'utf8')) as T;

export const news2Vectors = (): News2Vectors => read('news2.vectors.json');
export const framinghamVectors = (): FraminghamVectors => read('framingham.vectors.json');
