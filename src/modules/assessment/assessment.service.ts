import DataLoader from 'dataloader';
import { AppError, BadUserInputError } from '../../errors.js';
import { todayUtc } from '../../lib/dates.js';
import type { AuditTrail } from '../audit/audit.service.js';
import type { Patient } from '../patient/patient.entity.js';
import type { Assessment, AssessmentEngine } from './assessment.engine.js';
import { type InputRow, inputsFor, outsideDomain, RISK_MODELS, type RiskModelName } from './assessment.inputs.js';

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

export const AssessmentAudit = { read: 'patient.assessment.read' } as const;

/**
 * Assessments for one operation. Every assessment the operation asks for goes through one
 * DataLoader, so a page of fifty patients costs one cache MGET and at most one model call per
 * model. Access to the patient has been checked by whoever produced the `Patient`.
 */
export class AssessmentService {
  private readonly loader = new DataLoader<LoadKey, Assessment | AppError, string>(
    async (keys) => this.engine.assess(keys.map(({ model, row }) => ({ model, row }))),
    { cacheKeyFn: (k) => `${k.patientId}|${k.model}` },
  );

  constructor(
    private readonly engine: AssessmentEngine,
    private readonly audit: AuditTrail,
    private readonly today: () => string = todayUtc,
  ) {}

  /**
   * The patient's assessment by `model`, or by the first model whose inputs the patient has
   * (NEWS2, then Framingham). With `required`, a patient no model can score is `BAD_USER_INPUT`
   * naming what is missing; otherwise null.
   */
  async forPatient(
    patient: Patient,
    { model, required }: { model?: RiskModelName | null; required: boolean },
  ): Promise<PatientAssessment | null> {
    this.audit.record({ action: 'R', patientId: patient.id, subtype: AssessmentAudit.read });
    const selected = await this.select(patient, model ?? undefined);
    if ('reason' in selected) {
      if (required) throw new BadUserInputError(selected.reason);
      return null;
    }
    const result = await this.loader.load({ patientId: patient.id, ...selected });
    if (result instanceof AppError) throw result;
    return { ...result, patientId: patient.id, row: selected.row };
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
