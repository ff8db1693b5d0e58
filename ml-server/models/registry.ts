/**
 * The models the reference server serves: their wire names, versions and tensor declarations, and
 * a batched `infer` that turns input columns into output columns. The server validates the
 * envelope (names, datatypes, shapes) from these declarations; the models validate values.
 */
import type { Datatype, Parameters, TensorMetadata } from '../../src/ml/oip.protocol.js';
import {
  CONSCIOUSNESS_LEVELS,
  type Consciousness,
  FACTOR_PARAMETERS,
  type FactorKind,
  FRAMINGHAM_INPUTS,
  FRAMINGHAM_MODEL,
  FRAMINGHAM_SEXES,
  type FraminghamSex,
  type InputContract,
  NEWS2_INPUTS,
  NEWS2_MODEL,
  RISK_NUMBER_DATATYPE,
  RISK_OUTPUTS,
  type RiskLevel,
} from '../../src/ml/risk-model.contract.js';
import {
  FRAMINGHAM_AGE_RANGE,
  FRAMINGHAM_FACTORS,
  FRAMINGHAM_RANGES,
  type FraminghamInputs,
  framinghamRisk,
} from './framingham.js';
import { NEWS2_PARAMETERS, NEWS2_RANGES, type News2Vitals, scoreNews2 } from './news2.js';

/** What kind of JavaScript value an input's elements are. */
export type ColumnKind = 'number' | 'boolean' | 'string';

/** One input of a batch: its values, one per row. */
export type InputColumn =
  | { readonly kind: 'number'; readonly values: readonly number[] }
  | { readonly kind: 'boolean'; readonly values: readonly boolean[] }
  | { readonly kind: 'string'; readonly values: readonly string[] };

/** A model's declaration of one input. */
export interface InputSpec {
  readonly name: string;
  /** Declared in metadata. */
  readonly datatype: Datatype;
  /** Also accepted in requests: JSON carries numbers alike, so FP32 or INT64 data reads the same. */
  readonly accepts: readonly Datatype[];
  readonly kind: ColumnKind;
  /** Units, ranges and allowed values, published in the model metadata. */
  readonly parameters?: Parameters;
}

/** What a batched inference returns, one entry per row; `factors` is `N × K`, row-major. */
export interface OutputColumns {
  score: number[];
  riskLevel: RiskLevel[];
  factors: number[];
}

/** One served model. */
export interface RegisteredModel {
  readonly name: string;
  /**
   * The implementation's version, part of the API's cache key: bump it whenever any output for
   * the same inputs could change (coefficients, bands, rounding, factor definitions).
   */
  readonly version: string;
  readonly platform: string;
  readonly description: string;
  readonly inputs: readonly InputSpec[];
  /** Names of the `K` columns of the `factors` output, in order. */
  readonly factorNames: readonly string[];
  readonly factorKind: FactorKind;
  /**
   * Scores a batch of `batchSize` rows. `columns` holds every input, each with `batchSize` values
   * of its spec's kind (the server checks that). Throws {@link ModelInputError} for a bad row.
   */
  infer(columns: ReadonlyMap<string, InputColumn>, batchSize: number): OutputColumns;
}

/** A row the model refuses; the server answers 400 with its message. */
export class ModelInputError extends Error {
  constructor(
    readonly row: number,
    reason: string,
  ) {
    super(`row ${row}: ${reason}`);
    this.name = 'ModelInputError';
  }
}

/** Our formulas are not trained artefacts; the platform string says so. */
const PLATFORM = 'reference-formula';
const NUMERIC: readonly Datatype[] = ['FP64', 'FP32', 'INT32', 'INT64'];

const numberInput = (input: InputContract, [min, max, unit]: readonly [number, number, string]): InputSpec => ({
  name: input.name,
  datatype: input.datatype,
  accepts: NUMERIC,
  kind: 'number',
  parameters: { unit, min, max },
});
const booleanInput = (input: InputContract): InputSpec => ({
  name: input.name,
  datatype: input.datatype,
  accepts: ['BOOL'],
  kind: 'boolean',
});
const enumInput = (input: InputContract, allowed: readonly string[]): InputSpec => ({
  name: input.name,
  datatype: input.datatype,
  accepts: ['BYTES'],
  kind: 'string',
  parameters: { allowed: allowed.join(',') },
});

interface ColumnValue {
  number: number;
  boolean: boolean;
  string: string;
}

/** Reads a column the server has already checked; a mismatch here is a bug, not a bad request. */
function column<K extends ColumnKind>(
  columns: ReadonlyMap<string, InputColumn>,
  name: string,
  kind: K,
): readonly ColumnValue[K][] {
  const found = columns.get(name);
  if (!found || found.kind !== kind) throw new Error(`input column ${name} missing or not ${kind}`);
  return found.values as readonly ColumnValue[K][];
}

function oneOf<T extends string>(value: string, allowed: readonly T[], input: string): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new RangeError(`${input} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

/**
 * Runs `score` on every row, turning a `RangeError` (a value the model refuses) into a
 * {@link ModelInputError} for that row. Anything else is a bug and propagates.
 */
function byRow<T>(batchSize: number, score: (row: number) => T): T[] {
  return Array.from({ length: batchSize }, (_, row) => {
    try {
      return score(row);
    } catch (error) {
      if (error instanceof RangeError) throw new ModelInputError(row, error.message);
      throw error;
    }
  });
}

/** At(i) of a column of known length; the server guarantees every column has `batchSize` values. */
function at<T>(values: readonly T[], row: number): T {
  return values[row] as T;
}

const news2: RegisteredModel = {
  name: NEWS2_MODEL,
  version: '1.0.0',
  platform: PLATFORM,
  description:
    'NEWS2 (Royal College of Physicians, December 2017), SpO2 Scale 1 only. score: aggregate 0–20; factors: points.',
  inputs: [
    numberInput(NEWS2_INPUTS.respiratoryRate, NEWS2_RANGES.respiratoryRate),
    numberInput(NEWS2_INPUTS.spo2, NEWS2_RANGES.spo2),
    booleanInput(NEWS2_INPUTS.onSupplementalOxygen),
    numberInput(NEWS2_INPUTS.systolicBp, NEWS2_RANGES.systolicBp),
    numberInput(NEWS2_INPUTS.heartRate, NEWS2_RANGES.heartRate),
    enumInput(NEWS2_INPUTS.consciousness, CONSCIOUSNESS_LEVELS),
    numberInput(NEWS2_INPUTS.temperatureC, NEWS2_RANGES.temperatureC),
  ],
  factorNames: NEWS2_PARAMETERS.map((p) => NEWS2_INPUTS[p].name),
  factorKind: 'points',
  infer(columns, batchSize) {
    const n = (key: keyof typeof NEWS2_RANGES) => column(columns, NEWS2_INPUTS[key].name, 'number');
    const respiratoryRate = n('respiratoryRate');
    const spo2 = n('spo2');
    const systolicBp = n('systolicBp');
    const heartRate = n('heartRate');
    const temperatureC = n('temperatureC');
    const oxygen = column(columns, NEWS2_INPUTS.onSupplementalOxygen.name, 'boolean');
    const consciousness = column(columns, NEWS2_INPUTS.consciousness.name, 'string');
    const results = byRow(batchSize, (row) => {
      const vitals: News2Vitals = {
        respiratoryRate: at(respiratoryRate, row),
        spo2: at(spo2, row),
        onSupplementalOxygen: at(oxygen, row),
        systolicBp: at(systolicBp, row),
        heartRate: at(heartRate, row),
        consciousness: oneOf<Consciousness>(
          at(consciousness, row),
          CONSCIOUSNESS_LEVELS,
          NEWS2_INPUTS.consciousness.name,
        ),
        temperatureC: at(temperatureC, row),
      };
      return scoreNews2(vitals);
    });
    return {
      score: results.map((r) => r.score),
      riskLevel: results.map((r) => r.riskLevel),
      factors: results.flatMap((r) => NEWS2_PARAMETERS.map((p) => r.points[p])),
    };
  },
};

const framingham: RegisteredModel = {
  name: FRAMINGHAM_MODEL,
  version: '1.0.0',
  platform: PLATFORM,
  description:
    "Framingham general CVD 10-year risk (D'Agostino et al., Circulation 2008;117:743–753). score: risk 0–1; factors: β·x contributions.",
  inputs: [
    numberInput(FRAMINGHAM_INPUTS.age, [...FRAMINGHAM_AGE_RANGE, 'years']),
    enumInput(FRAMINGHAM_INPUTS.sex, FRAMINGHAM_SEXES),
    numberInput(FRAMINGHAM_INPUTS.totalCholesterol, FRAMINGHAM_RANGES.totalCholesterol),
    numberInput(FRAMINGHAM_INPUTS.hdlCholesterol, FRAMINGHAM_RANGES.hdlCholesterol),
    numberInput(FRAMINGHAM_INPUTS.systolicBp, FRAMINGHAM_RANGES.systolicBp),
    booleanInput(FRAMINGHAM_INPUTS.onBpTreatment),
    booleanInput(FRAMINGHAM_INPUTS.smoker),
    booleanInput(FRAMINGHAM_INPUTS.diabetic),
  ],
  factorNames: FRAMINGHAM_FACTORS.map((f) => FRAMINGHAM_INPUTS[f].name),
  factorKind: 'contribution',
  infer(columns, batchSize) {
    const n = (key: 'age' | keyof typeof FRAMINGHAM_RANGES) => column(columns, FRAMINGHAM_INPUTS[key].name, 'number');
    const b = (key: 'onBpTreatment' | 'smoker' | 'diabetic') => column(columns, FRAMINGHAM_INPUTS[key].name, 'boolean');
    const age = n('age');
    const totalCholesterol = n('totalCholesterol');
    const hdlCholesterol = n('hdlCholesterol');
    const systolicBp = n('systolicBp');
    const onBpTreatment = b('onBpTreatment');
    const smoker = b('smoker');
    const diabetic = b('diabetic');
    const sex = column(columns, FRAMINGHAM_INPUTS.sex.name, 'string');
    const results = byRow(batchSize, (row) => {
      const inputs: FraminghamInputs = {
        age: at(age, row),
        sex: oneOf<FraminghamSex>(at(sex, row), FRAMINGHAM_SEXES, FRAMINGHAM_INPUTS.sex.name),
        totalCholesterol: at(totalCholesterol, row),
        hdlCholesterol: at(hdlCholesterol, row),
        systolicBp: at(systolicBp, row),
        onBpTreatment: at(onBpTreatment, row),
        smoker: at(smoker, row),
        diabetic: at(diabetic, row),
      };
      return framinghamRisk(inputs);
    });
    return {
      score: results.map((r) => r.risk),
      riskLevel: results.map((r) => r.riskLevel),
      factors: results.flatMap((r) => FRAMINGHAM_FACTORS.map((f) => r.contributions[f])),
    };
  },
};

/** Every model the reference server serves, by default. */
export const MODELS: readonly RegisteredModel[] = Object.freeze([news2, framingham]);

/** The metadata `inputs` of a model (batch dimension variable: `[-1]`). */
export function inputMetadata(model: RegisteredModel): TensorMetadata[] {
  return model.inputs.map((input) => ({
    name: input.name,
    datatype: input.datatype,
    shape: [-1],
    ...(input.parameters ? { parameters: { ...input.parameters } } : {}),
  }));
}

/** The metadata `outputs` of a model; the factor names ride on the `factors` output. */
export function outputMetadata(model: RegisteredModel): TensorMetadata[] {
  const k = model.factorNames.length;
  return [
    { name: RISK_OUTPUTS.score, datatype: RISK_NUMBER_DATATYPE, shape: [-1] },
    { name: RISK_OUTPUTS.riskLevel, datatype: 'BYTES', shape: [-1] },
    {
      name: RISK_OUTPUTS.factors,
      datatype: RISK_NUMBER_DATATYPE,
      shape: [-1, k],
      parameters: {
        [FACTOR_PARAMETERS.names]: model.factorNames.join(','),
        [FACTOR_PARAMETERS.kind]: model.factorKind,
      },
    },
    { name: RISK_OUTPUTS.factorNames, datatype: 'BYTES', shape: [k] },
  ];
}
