import type { ObservationValues } from '../../src/modules/patient/observation.entity.js';

/**
 * What a provider is told about a patient: clinical facts only. Names, MRN, birth date and ids are
 * never sent to a language model; age (whole years) and sex are enough for differentials.
 */
export interface DiagnosisPrompt {
  ageYears: number;
  sex: string;
  observations: ObservationValues | null;
  symptoms: string[];
  notes: string | null;
}

export interface Differential {
  condition: string;
  /** 0–1; null when the provider gave none. */
  likelihood: number | null;
  rationale: string | null;
}

/** A provider's finished answer. */
export interface ProviderResult {
  summary: string;
  differentials: Differential[];
  provider: string;
  model: string;
  /** The model as the provider reports serving it (e.g. a dated snapshot), when it says. */
  modelVersion?: string | undefined;
}

/** How a provider reports progress while it works. */
export interface ProviderEvents {
  /** More of the model's text (appended to `partialText`). */
  text(delta: string): void;
  /** A progress estimate 0–1 and a short stage label. */
  progress(fraction: number, stage: string): void;
}

/** A diagnosis provider: an LLM behind some API, or the offline rules engine. */
export interface DiagnosisProvider {
  readonly name: 'openai' | 'rules';
  /** This provider's own version (its adapter or table), named in each result's Provenance. */
  readonly version: string;
  readonly model: string;
  /** The version of the instructions a language model is given; null for the rules engine (no prompt). */
  readonly promptVersion: string | null;
  /** Resolves with the result; rejects on any failure (the job is retried); aborts on `signal`. */
  diagnose(prompt: DiagnosisPrompt, events: ProviderEvents, signal: AbortSignal): Promise<ProviderResult>;
}

/** The provider's answer could not be used (not JSON, wrong shape). Retried like any failure. */
export class ProviderOutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProviderOutputError';
  }
}
