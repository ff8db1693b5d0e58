import DataLoader from 'dataloader';
import { AppError, BadUserInputError } from '../../errors.js';
import { todayUtc } from '../../lib/dates.js';
import { boundedCount } from '../../lib/pagination.js';
import type { AuditTrail } from '../audit/audit.service.js';
import type { Patient } from '../patient/patient.entity.js';
import type { PatientService, SnapshotAt } from '../patient/patient.service.js';
import type { Assessment, AssessmentEngine, ModelDescription } from './assessment.engine.js';
import {
  type InputRow,
  inputsFor,
  outsideDomain,
  type PatientFacts,
  RISK_MODELS,
  type RiskModelName,
} from './assessment.inputs.js';

/** An assessment as the API shows it: for one patient, with the inputs it was computed from. */
export interface PatientAssessment extends Assessment {
  patientId: string;
  row: InputRow;
}

interface LoadKey {
  patientId: string;
  model: RiskModelName;
  row: InputRow;
}

/** One point of a patient's score history: the score of the snapshot one recording made. */
export interface HistoryPoint extends Assessment {
  patientId: string;
  /** The recording whose snapshot was scored. */
  observationId: string;
  /** When that recording took effect. */
  observedAt: Date;
}

interface HistoryKey {
  patient: Patient;
  model: RiskModelName;
  last: number;
}

/** What {@link AssessmentService.guess} chose, and everything the choice depended on. */
interface Guess {
  model: RiskModelName;
  row: InputRow;
  facts: PatientFacts;
  today: string;
  /** The model descriptions consulted, in order. */
  used: ModelDescription[];
}

/**
 * Guesses by held snapshot and requested model ('' for the default choice; see
 * {@link AssessmentService.guessed}); gone with the snapshot.
 */
const GUESSES = new WeakMap<object, Map<string, { guess: Guess; key: string }>>();

export const AssessmentAudit = { read: 'patient.assessment.read', history: 'patient.assessment.history.read' } as const;

/** The most recordings one history reads (`last`); the default is {@link DEFAULT_HISTORY_LENGTH}. */
export const MAX_HISTORY_LENGTH = 100;
export const DEFAULT_HISTORY_LENGTH = 20;

/** Validates `last`: an integer from 0 to {@link MAX_HISTORY_LENGTH}. */
export function historyLength(last: number | null | undefined): number {
  return boundedCount('last', last, DEFAULT_HISTORY_LENGTH, MAX_HISTORY_LENGTH);
}

/**
 * The model's input row for each past snapshot it can score, by the live assessment's rules
 * ({@link inputsFor}, {@link outsideDomain}), the patient's age taken as of the recording's date
 * (the live assessment takes it as of today). A snapshot the model could not have scored then —
 * an input not yet recorded, or outside the model's domain — has no point: there was no score.
 */
export function historyRows(
  model: RiskModelName,
  snapshots: readonly SnapshotAt[],
  patient: Pick<PatientFacts, 'birthDate' | 'sex'>,
  domain: Parameters<typeof outsideDomain>[2],
): { snapshot: SnapshotAt; row: InputRow }[] {
  const rows: { snapshot: SnapshotAt; row: InputRow }[] = [];
  for (const snapshot of snapshots) {
    const facts = { snapshot: snapshot.values, birthDate: patient.birthDate, sex: patient.sex };
    const inputs = inputsFor(model, facts, snapshot.recordedAt.toISOString().slice(0, 10));
    if (inputs.ok && outsideDomain(model, inputs.row, domain).length === 0) rows.push({ snapshot, row: inputs.row });
  }
  return rows;
}

/**
 * Assessments for one operation. Every assessment the operation asks for goes through one
 * DataLoader, so a page of fifty patients costs one cache MGET and at most one model call per
 * model. Access to the patient has been checked by whoever produced the `Patient`.
 */
export class AssessmentService {
  private readonly loader = new DataLoader<LoadKey, Assessment | AppError, string>(
    async (keys) =>
      this.engine.assess(
        keys.map(({ model, row }) => ({ model, row })),
        this.readAlong,
      ),
    { cacheKeyFn: (k) => `${k.patientId}|${k.model}` },
  );
  /** Cache entries already read with an access check ({@link forPatientId}), by key. */
  private readonly readAlong = new Map<string, string | null>();

  /**
   * Every history the operation asks for goes through one batch: the snapshots of every patient,
   * then one engine call — one cache MGET for all their points, one batched model call per model
   * for the points not cached — however many patients a page shows.
   */
  private readonly histories = new DataLoader<HistoryKey, HistoryPoint[], string>((keys) => this.loadHistories(keys), {
    cacheKeyFn: (k) => `${k.patient.id}|${k.model}|${k.last}`,
  });

  constructor(
    private readonly engine: AssessmentEngine,
    private readonly audit: AuditTrail,
    private readonly patients: Pick<PatientService, 'snapshotHistory'>,
    private readonly today: () => string = todayUtc,
  ) {}

  /**
   * `Query.assessment`: the patient (access checked and audited by `patients`) and its assessment.
   * Where this pod holds the patient's snapshot, the cache entry that snapshot leads to is read in
   * the same Redis round trip as the access check, instead of in a second one after it. That read
   * is used only if the checked patient leads to the very same key — keys are content-addressed
   * (model, model version, digest of the inputs), so an entry is right for its key whoever read it
   * when — and a patient whose snapshot changed meanwhile is assessed from its new key as usual.
   */
  async forPatientId(
    patients: PatientService,
    id: string,
    options: { model?: RiskModelName | null; required: boolean },
  ): Promise<PatientAssessment | null> {
    const held = patients.peek(id);
    const guessed = held ? this.guessed(held, options.model ?? undefined) : null;
    if (!guessed) return this.forPatient(await patients.get(id), options);
    const { guess, key } = guessed;
    const patient = await patients.getReading(id, { keys: [key], values: this.readAlong });
    // The checked patient is the snapshot guessed from (the usual case: its version had not
    // changed) and nothing the choice depends on moved: the guess is what select() would answer.
    const same =
      patient.latestObservations === guess.facts.snapshot &&
      patient.birthDate === guess.facts.birthDate &&
      patient.sex === guess.facts.sex &&
      this.today() === guess.today &&
      guess.used.every((d) => this.engine.known(d.name as RiskModelName) === d);
    if (same) {
      // The usual cached read: the entry this pod holds answers, with no batch and no round trip.
      const fresh = this.engine.freshHeld(key);
      if (fresh) {
        this.audit.record({ action: 'R', patientId: patient.id, subtype: AssessmentAudit.read });
        return { ...fresh, patientId: patient.id, row: guess.row };
      }
    }
    return this.forPatient(patient, options, same ? { model: guess.model, row: guess.row } : undefined);
  }

  /**
   * {@link guess} and its cache key, remembered per held snapshot (the frozen object every
   * operation shares) while today, the patient's facts and the descriptions consulted are the
   * same: the row, its digest and the key are worked out once per snapshot, not per read.
   */
  private guessed(patient: Patient, requested: RiskModelName | undefined): { guess: Guess; key: string } | null {
    const snapshot = patient.latestObservations;
    if (!snapshot) return null; // Nothing recorded: no model has its inputs.
    const memo = requested ?? '';
    const known = GUESSES.get(snapshot)?.get(memo);
    if (
      known &&
      known.guess.facts.birthDate === patient.birthDate &&
      known.guess.facts.sex === patient.sex &&
      known.guess.today === this.today() &&
      known.guess.used.every((d) => this.engine.known(d.name as RiskModelName) === d)
    )
      return known;
    const guess = this.guess(patient, requested);
    const key = guess ? this.engine.knownKey(guess.model, guess.row) : null;
    if (!guess || !key) return null;
    let bySnapshot = GUESSES.get(snapshot);
    if (!bySnapshot) {
      bySnapshot = new Map();
      GUESSES.set(snapshot, bySnapshot);
    }
    bySnapshot.set(memo, { guess, key });
    return { guess, key };
  }

  /**
   * The patient's assessment by `model`, or by the first model whose inputs the patient has
   * (NEWS2, then Framingham). With `required`, a patient no model can score is `BAD_USER_INPUT`
   * naming what is missing; otherwise null.
   */
  async forPatient(
    patient: Patient,
    { model, required }: { model?: RiskModelName | null; required: boolean },
    chosen?: { model: RiskModelName; row: InputRow },
  ): Promise<PatientAssessment | null> {
    this.audit.record({ action: 'R', patientId: patient.id, subtype: AssessmentAudit.read });
    const selected = chosen ?? (await this.select(patient, model ?? undefined));
    if ('reason' in selected) {
      if (required) throw new BadUserInputError(selected.reason);
      return null;
    }
    const result = await this.loader.load({ patientId: patient.id, ...selected });
    if (result instanceof AppError) throw result;
    return { ...result, patientId: patient.id, row: selected.row };
  }

  /**
   * The patient's `model` scores after each of its `last` most recent recordings, oldest first
   * (recordings the model could not score have none, see {@link historyRows}). Each point is
   * scored like a live assessment — through the engine, so from the shared cache when these
   * inputs were scored before, else in one batched model call — with the model version serving
   * now. A point that can be neither computed nor found in the cache fails the whole history
   * (`ML_UNAVAILABLE`): a trend with silent holes would pass for the whole story.
   */
  async history(patient: Patient, args: { model: RiskModelName; last?: number | null }): Promise<HistoryPoint[]> {
    // A refused `last` reads nothing, so it leaves no row of its own (the patient's read has one).
    const last = historyLength(args.last);
    this.audit.record({ action: 'R', patientId: patient.id, subtype: AssessmentAudit.history });
    return this.histories.load({ patient, model: args.model, last });
  }

  private async loadHistories(keys: readonly HistoryKey[]): Promise<(HistoryPoint[] | AppError)[]> {
    const snapshots = await Promise.all(keys.map((k) => this.patients.snapshotHistory(k.patient, k.last)));
    const models = [...new Set(keys.filter((_, i) => snapshots[i]?.length).map((k) => k.model))];
    const described = new Map(
      await Promise.all(
        models.map(async (m) => [m, await this.engine.describe(m).catch((error: AppError) => error)] as const),
      ),
    );
    const rows = keys.map((k, i) => {
      const taken = snapshots[i] ?? [];
      const description = described.get(k.model);
      if (taken.length === 0 || !description) return [];
      if (description instanceof Error) return description;
      return historyRows(k.model, taken, k.patient, description.description.inputs);
    });
    const requests = rows.flatMap((r, i) =>
      r instanceof Error ? [] : r.map(({ row }) => ({ model: (keys[i] as HistoryKey).model, row })),
    );
    const results = requests.length > 0 ? await this.engine.assess(requests) : [];
    let next = 0;
    return keys.map((k, i) => {
      const mine = rows[i] as Exclude<(typeof rows)[number], undefined>;
      if (mine instanceof Error) return mine;
      const scored = results.slice(next, next + mine.length);
      next += mine.length;
      const failed = scored.find((r) => r instanceof AppError);
      if (failed) return failed as AppError;
      return scored.map((assessment, j) => {
        const { snapshot } = mine[j] as { snapshot: SnapshotAt };
        return {
          ...(assessment as Assessment),
          patientId: k.patient.id,
          observationId: snapshot.observationId,
          observedAt: snapshot.recordedAt,
        };
      });
    });
  }

  /**
   * What {@link select} would choose with the model descriptions this pod already holds, without
   * waiting for any: null where it cannot tell.
   */
  private guess(patient: Patient, requested: RiskModelName | undefined): Guess | null {
    const facts = { snapshot: patient.latestObservations, birthDate: patient.birthDate, sex: patient.sex };
    const today = this.today();
    const used: ModelDescription[] = [];
    for (const model of requested ? [requested] : RISK_MODELS) {
      const inputs = inputsFor(model, facts, today);
      if (!inputs.ok) continue;
      const description = this.engine.known(model);
      if (!description) return null;
      used.push(description);
      if (outsideDomain(model, inputs.row, description.inputs).length > 0) continue;
      return { model, row: inputs.row, facts, today, used };
    }
    return null;
  }

  private async select(
    patient: Patient,
    requested: RiskModelName | undefined,
  ): Promise<{ model: RiskModelName; row: InputRow } | { reason: string }> {
    const facts = { snapshot: patient.latestObservations, birthDate: patient.birthDate, sex: patient.sex };
    const reasons: string[] = [];
    for (const model of requested ? [requested] : RISK_MODELS) {
      const inputs = inputsFor(model, facts, this.today());
      if (!inputs.ok) {
        reasons.push(`${model} needs ${inputs.missing.join(', ')}`);
        continue;
      }
      const { description } = await this.engine.describe(model);
      const outside = outsideDomain(model, inputs.row, description.inputs);
      if (outside.length > 0) {
        reasons.push(`${model} does not apply to this patient's ${outside.join(', ')}`);
        continue;
      }
      return { model, row: inputs.row };
    }
    return { reason: `No risk model can assess this patient: ${reasons.join('; ')}` };
  }
}
