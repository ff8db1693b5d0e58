/**
 * The published test vectors of our two reference models (ml-server/models/vectors/*.json), typed.
 * Each file names its sources; the model unit tests and the OIP conformance test both run them.
 */
import { readFileSync } from 'node:fs';
import type { FraminghamFactor, FraminghamInputs } from '../../ml-server/models/framingham.js';
import type { News2Vitals } from '../../ml-server/models/news2.js';
import type { RiskLevel } from '../../src/ml/risk-model.contract.js';

type News2Parameter = keyof News2Vitals;

/** A source the vectors cite: the RCP report, or an open implementation at a commit. */
export interface VectorSource {
  id: string;
  cite: string;
  repository?: string;
  commit?: string;
}

/**
 * One case an open implementation tests, in our format: the vital signs it sets on top of Chart
 * 1's 0 column, and only what the source asserts — points of some parameters, the aggregate,
 * whether any parameter scores 3, the clinical risk — or that our engine refuses the value.
 */
export interface News2PublishedCase {
  ref: string;
  set: Partial<News2Vitals>;
  points?: Partial<Record<News2Parameter, number>>;
  score?: number;
  redScore?: boolean;
  riskLevel?: RiskLevel;
  refused?: true;
  note?: string;
}

export interface News2Vectors {
  scope: string;
  sources: VectorSource[];
  bands: Record<News2Parameter, { source: string; rule: string; cases: [number | boolean | string, number][] }>;
  betweenBands: { source: string; note: string; cases: [News2Parameter, number, number][] };
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
  published: { source: string; file: string; test?: string; note: string; cases: News2PublishedCase[] }[];
  notRun: { source: string; file: string; refs: string[]; reason: string }[];
  disagreements: { source: string; file: string; refs: string[]; finding: string; chart: string; verdict: string }[];
}

export interface FraminghamVectors {
  sources: VectorSource[];
  coefficients: Record<'MALE' | 'FEMALE', Record<string, number>> & { source: string };
  cases: {
    source: string;
    ref: string;
    inputs: FraminghamInputs;
    riskPercent: number;
    digits: number;
    relativeLogHazard?: number;
    riskLevel: RiskLevel;
  }[];
  /** The paper's worked examples of its points score sheet, which the equation only approximates. */
  pointsSheet: {
    source: string;
    note: string;
    cases: {
      ref: string;
      inputs: FraminghamInputs;
      points: Record<FraminghamFactor, number>;
      totalPoints: number;
      sheetRiskPercent: number;
      rowsEitherSide: [number, number];
      heartAge: number;
    }[];
  };
  baseline: { source: string; MALE: number; FEMALE: number };
  notUsed: { source: string; file: string; commit: string; reason: string }[];
}

const read = <T>(file: string): T =>
  JSON.parse(readFileSync(new URL(`../../ml-server/models/vectors/${file}`, import.meta.url), 'utf8')) as T;

export const news2Vectors = (): News2Vectors => read('news2.vectors.json');
export const framinghamVectors = (): FraminghamVectors => read('framingham.vectors.json');
