/**
 * Framingham general cardiovascular disease (CVD) 10-year risk.
 *
 * Source: D'Agostino RB Sr, Vasan RS, Pencina MJ, Wolf PA, Cobain M, Massaro JM, Kannel WB.
 * General cardiovascular risk profile for use in primary care: the Framingham Heart Study.
 * Circulation 2008;117:743–753. doi:10.1161/CIRCULATIONAHA.107.699579. The "primary model":
 * sex-specific Cox proportional-hazards regressions on ln age, ln total cholesterol, ln HDL
 * cholesterol, ln systolic blood pressure (with a separate coefficient when treated), smoking and
 * diabetes, for a first CVD event (coronary death, myocardial infarction, coronary insufficiency,
 * angina, ischaemic or haemorrhagic stroke, transient ischaemic attack, peripheral artery disease,
 * heart failure) within 10 years.
 *
 *   risk = 1 − S₀(10) ^ exp(Σ βᵢxᵢ − Σ βᵢx̄ᵢ)
 *
 * Coefficients, baseline survival S₀(10) and Σ βᵢx̄ᵢ as published by the Framingham Heart Study,
 * "Cardiovascular Disease (10-year risk)", table "Regression Coefficients and Hazard Ratios –
 * Primary Model" (http://www.framinghamheartstudy.org/risk-functions/cardiovascular-disease/
 * 10-year-risk.php), cross-checked against the coefficient tables of the CRAN packages CVrisk (`frs_coef`) and
 * admiral (`compute_framingham`) and the Medscape/MedCalc 3000 calculator.
 */
import { FRAMINGHAM_INPUTS, type FraminghamSex, type RiskLevel } from '../../src/ml/risk-model.contract.js';

/** One person's risk factors. Keys match the API's observation fields where they exist. */
export interface FraminghamInputs {
  /** Years; the model was derived in people aged 30–74, see {@link FRAMINGHAM_AGE_RANGE}. */
  age: number;
  sex: FraminghamSex;
  /** mg/dL. */
  totalCholesterol: number;
  /** mg/dL. */
  hdlCholesterol: number;
  /** mmHg. */
  systolicBp: number;
  /** Takes antihypertensive medication: selects the treated-SBP coefficient. */
  onBpTreatment: boolean;
  /** Current smoker. */
  smoker: boolean;
  diabetic: boolean;
}

/** The terms of the model, in the paper's order; this is the order of the factors output. */
export const FRAMINGHAM_FACTORS = [
  'age',
  'totalCholesterol',
  'hdlCholesterol',
  'systolicBp',
  'smoker',
  'diabetic',
] as const satisfies readonly (keyof FraminghamInputs)[];

/** One of {@link FRAMINGHAM_FACTORS}. */
export type FraminghamFactor = (typeof FRAMINGHAM_FACTORS)[number];

/** One sex's published model. */
export interface FraminghamCoefficients {
  lnAge: number;
  lnTotalCholesterol: number;
  lnHdlCholesterol: number;
  lnSystolicBpUntreated: number;
  lnSystolicBpTreated: number;
  smoker: number;
  diabetic: number;
  /** Σ βᵢx̄ᵢ over the derivation cohort's means. */
  meanLinearPredictor: number;
  /** S₀(10): 10-year survival free of CVD at the cohort's mean risk factors. */
  baselineSurvival: number;
}

/** The published primary-model coefficients (see the file header for the source). */
export const FRAMINGHAM_COEFFICIENTS: Readonly<Record<FraminghamSex, FraminghamCoefficients>> = Object.freeze({
  FEMALE: Object.freeze({
    lnAge: 2.32888,
    lnTotalCholesterol: 1.20904,
    lnHdlCholesterol: -0.70833,
    lnSystolicBpUntreated: 2.76157,
    lnSystolicBpTreated: 2.82263,
    smoker: 0.52873,
    diabetic: 0.69154,
    meanLinearPredictor: 26.1931,
    baselineSurvival: 0.95012,
  }),
  MALE: Object.freeze({
    lnAge: 3.06117,
    lnTotalCholesterol: 1.1237,
    lnHdlCholesterol: -0.93263,
    lnSystolicBpUntreated: 1.93303,
    lnSystolicBpTreated: 1.99881,
    smoker: 0.65451,
    diabetic: 0.57367,
    meanLinearPredictor: 23.9802,
    baselineSurvival: 0.88936,
  }),
});

/**
 * Ages the model accepts, in years. The cohort "attended a routine examination between 30 and 74
 * years of age" (abstract); outside that range the equation extrapolates, so we refuse rather than
 * guess. The API must not send younger or older patients.
 */
export const FRAMINGHAM_AGE_RANGE = [30, 74] as const;

/**
 * Other values accepted, as `[min, max, unit]`: the physiologically possible ranges the API
 * enforces on observations, so anything it stores can be scored. The paper publishes no validity
 * range for these; they catch unit mistakes (mmol/L for mg/dL), not unusual patients.
 */
export const FRAMINGHAM_RANGES = {
  totalCholesterol: [50, 1000, 'mg/dL'],
  hdlCholesterol: [5, 300, 'mg/dL'],
  systolicBp: [40, 300, 'mmHg'],
} as const;

/** The 10-year risk, its band and how each term contributed. */
export interface FraminghamResult {
  /** Probability of a first CVD event within 10 years, 0–1. */
  risk: number;
  riskLevel: RiskLevel;
  /**
   * Each term's βᵢxᵢ (xᵢ is ln of the value for continuous factors, 0 or 1 for smoker and
   * diabetic; the SBP term uses the treated or untreated β). They are log-hazard terms, not
   * percentages: their sum minus {@link FraminghamCoefficients.meanLinearPredictor} is
   * {@link FraminghamResult.relativeLogHazard}. Binary terms read directly as "what smoking
   * adds"; continuous terms are large because they are not centred on the cohort mean, whose
   * per-variable values the paper does not tabulate alongside the coefficients.
   */
  contributions: Record<FraminghamFactor, number>;
  /** Σ βᵢxᵢ − Σ βᵢx̄ᵢ: the log hazard relative to an average member of the cohort. */
  relativeLogHazard: number;
}

/**
 * Risk bands, as fractions: low below 10 %, intermediate 10 % to under 20 %, high 20 % or more.
 * Source: Anderson TJ et al. 2016 Canadian Cardiovascular Society Guidelines for the Management of
 * Dyslipidemia for the Prevention of Cardiovascular Disease in the Adult. Can J Cardiol
 * 2016;32:1263–1282, which stratifies by this very score (the total-CVD Framingham Risk Score):
 * low < 10 %, intermediate 10–19.9 %, high ≥ 20 %. The guideline defines no band between low and
 * intermediate, so LOW_MEDIUM is never produced; intermediate maps to MEDIUM. The guideline also
 * doubles the risk for a family history of premature CVD ("modified FRS"); we have no such input
 * and do not apply it.
 */
export const FRAMINGHAM_RISK_BANDS = { intermediate: 0.1, high: 0.2 } as const;

/** Maps a 10-year risk (0–1) to LOW (< 10 %), MEDIUM (10 % to < 20 %) or HIGH (≥ 20 %). */
export function framinghamRiskLevel(risk: number): RiskLevel {
  if (risk >= FRAMINGHAM_RISK_BANDS.high) return 'HIGH';
  if (risk >= FRAMINGHAM_RISK_BANDS.intermediate) return 'MEDIUM';
  return 'LOW';
}

/**
 * Computes the 10-year general CVD risk. Throws `RangeError` naming the input as the protocol
 * spells it (never echoing the value, which is patient data) when the age is outside
 * {@link FRAMINGHAM_AGE_RANGE}, another value is outside {@link FRAMINGHAM_RANGES}, or HDL is not
 * below total cholesterol (HDL is part of total cholesterol, so that is a data error).
 */
export function framinghamRisk(inputs: FraminghamInputs): FraminghamResult {
  validate(inputs);
  const b = FRAMINGHAM_COEFFICIENTS[inputs.sex];
  const contributions: Record<FraminghamFactor, number> = {
    age: b.lnAge * Math.log(inputs.age),
    totalCholesterol: b.lnTotalCholesterol * Math.log(inputs.totalCholesterol),
    hdlCholesterol: b.lnHdlCholesterol * Math.log(inputs.hdlCholesterol),
    systolicBp: (inputs.onBpTreatment ? b.lnSystolicBpTreated : b.lnSystolicBpUntreated) * Math.log(inputs.systolicBp),
    smoker: inputs.smoker ? b.smoker : 0,
    diabetic: inputs.diabetic ? b.diabetic : 0,
  };
  const linearPredictor = FRAMINGHAM_FACTORS.reduce((sum, factor) => sum + contributions[factor], 0);
  const relativeLogHazard = linearPredictor - b.meanLinearPredictor;
  const risk = 1 - b.baselineSurvival ** Math.exp(relativeLogHazard);
  return { risk, riskLevel: framinghamRiskLevel(risk), contributions, relativeLogHazard };
}

function validate(inputs: FraminghamInputs): void {
  const [minAge, maxAge] = FRAMINGHAM_AGE_RANGE;
  if (!Number.isFinite(inputs.age) || inputs.age < minAge || inputs.age > maxAge) {
    throw new RangeError(
      `${FRAMINGHAM_INPUTS.age.name} must be between ${minAge} and ${maxAge} years, the ages the model was derived in`,
    );
  }
  for (const [field, [min, max, unit]] of Object.entries(FRAMINGHAM_RANGES)) {
    const key = field as keyof typeof FRAMINGHAM_RANGES;
    const value = inputs[key];
    if (!Number.isFinite(value) || value < min || value > max) {
      throw new RangeError(`${FRAMINGHAM_INPUTS[key].name} must be between ${min} and ${max} ${unit}`);
    }
  }
  if (inputs.hdlCholesterol >= inputs.totalCholesterol) {
    throw new RangeError(
      `${FRAMINGHAM_INPUTS.hdlCholesterol.name} must be lower than ${FRAMINGHAM_INPUTS.totalCholesterol.name}`,
    );
  }
}
