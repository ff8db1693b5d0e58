import {
  type DiagnosisPrompt,
  type DiagnosisProvider,
  type Differential,
  type ProviderEvents,
  ProviderOutputError,
  type ProviderResult,
} from './provider.js';

/**
 * One row of the knowledge table: a condition, the findings that point to it, and the guideline
 * that lists those findings. A finding is a symptom keyword or a derived observation flag.
 */
interface Rule {
  condition: string;
  /** Every finding the rule looks for; the match strength is the share present. */
  findings: readonly Finding[];
  /** At least this many findings must be present for the rule to fire. */
  minimum: number;
  source: string;
}

type Finding =
  | 'chest pain'
  | 'shortness of breath'
  | 'sweating'
  | 'fever'
  | 'cough'
  | 'confusion'
  | 'headache'
  | 'neck stiffness'
  | 'rash'
  | 'weakness'
  | 'speech difficulty'
  | 'facial droop'
  | 'leg swelling'
  | 'haemoptysis'
  | 'wheeze'
  | 'abdominal pain'
  | 'vomiting'
  | 'thirst'
  | 'polyuria'
  | 'dysuria'
  | 'urinary frequency'
  | 'tachycardia'
  | 'tachypnoea'
  | 'hypotension'
  | 'hypoxaemia';

/**
 * A small, deliberately conservative table. Findings are those the cited guidance lists as
 * features of the condition; it is not exhaustive and does not weigh findings.
 */
const RULES: readonly Rule[] = [
  {
    condition: 'Sepsis',
    findings: ['fever', 'tachycardia', 'tachypnoea', 'hypotension', 'confusion'],
    minimum: 3,
    source: 'NICE NG51, Sepsis: recognition, diagnosis and early management (2016, updated 2024)',
  },
  {
    condition: 'Acute coronary syndrome',
    findings: ['chest pain', 'shortness of breath', 'sweating', 'vomiting'],
    minimum: 2,
    source: 'NICE CG95, Recent-onset chest pain of suspected cardiac origin (2010, updated 2016)',
  },
  {
    condition: 'Community-acquired pneumonia',
    findings: ['fever', 'cough', 'shortness of breath', 'tachypnoea', 'hypoxaemia'],
    minimum: 3,
    source: 'NICE NG138, Pneumonia (community-acquired): antimicrobial prescribing (2019); BTS CAP guideline (2009)',
  },
  {
    condition: 'Pulmonary embolism',
    findings: ['shortness of breath', 'chest pain', 'haemoptysis', 'leg swelling', 'tachycardia', 'hypoxaemia'],
    minimum: 3,
    source: 'NICE NG158, Venous thromboembolic diseases: diagnosis, management and thrombophilia testing (2020)',
  },
  {
    condition: 'Stroke or transient ischaemic attack',
    findings: ['weakness', 'speech difficulty', 'facial droop', 'confusion'],
    minimum: 2,
    source: 'NICE NG128, Stroke and transient ischaemic attack in over 16s (2019, updated 2022): FAST',
  },
  {
    condition: 'Bacterial meningitis',
    findings: ['fever', 'headache', 'neck stiffness', 'rash', 'confusion', 'vomiting'],
    minimum: 3,
    source: 'NICE NG240, Meningitis (bacterial) and meningococcal disease (2024)',
  },
  {
    condition: 'Asthma exacerbation',
    findings: ['wheeze', 'shortness of breath', 'cough', 'tachypnoea'],
    minimum: 2,
    source: 'BTS/SIGN 158, British guideline on the management of asthma (2019)',
  },
  {
    condition: 'Diabetic ketoacidosis or hyperglycaemia',
    findings: ['thirst', 'polyuria', 'vomiting', 'abdominal pain', 'tachypnoea', 'confusion'],
    minimum: 2,
    source: 'NICE NG17 / NG28, Type 1 and type 2 diabetes in adults (2015, updated 2022); JBDS-IP DKA guideline (2023)',
  },
  {
    condition: 'Lower urinary tract infection',
    findings: ['dysuria', 'urinary frequency', 'fever', 'abdominal pain'],
    minimum: 2,
    source: 'NICE NG109, Urinary tract infection (lower): antimicrobial prescribing (2018)',
  },
];

/** Words clinicians write for each symptom finding (matched case-insensitively as substrings). */
const SYNONYMS: Partial<Record<Finding, readonly string[]>> = {
  'chest pain': ['chest pain', 'chest tightness', 'chest pressure'],
  'shortness of breath': ['shortness of breath', 'breathless', 'dyspnoea', 'dyspnea', 'sob'],
  sweating: ['sweat', 'diaphoresis', 'clammy'],
  fever: ['fever', 'pyrexia', 'febrile', 'rigors', 'chills'],
  cough: ['cough'],
  confusion: ['confus', 'disorient', 'delirium', 'altered mental'],
  headache: ['headache'],
  'neck stiffness': ['neck stiff', 'stiff neck', 'nuchal rigidity'],
  rash: ['rash', 'petechia', 'purpura'],
  weakness: ['weakness', 'hemiparesis', 'arm drift'],
  'speech difficulty': ['slurred', 'speech', 'dysphasia', 'aphasia'],
  'facial droop': ['facial droop', 'face droop', 'facial weakness'],
  'leg swelling': ['leg swelling', 'calf swelling', 'swollen leg', 'calf pain'],
  haemoptysis: ['haemoptysis', 'hemoptysis', 'coughing blood'],
  wheeze: ['wheez'],
  'abdominal pain': ['abdominal pain', 'stomach pain', 'belly pain'],
  vomiting: ['vomit', 'nausea'],
  thirst: ['thirst', 'polydipsia'],
  polyuria: ['polyuria', 'passing urine often', 'frequent urination'],
  dysuria: ['dysuria', 'burning urination', 'painful urination'],
  'urinary frequency': ['frequency', 'urgency'],
};

/** Findings read from observations, with the NEWS2 thresholds that score points (RCP 2017). */
function observedFindings(o: DiagnosisPrompt['observations']): Set<Finding> {
  const found = new Set<Finding>();
  if (!o) return found;
  if (o.temperatureC != null && o.temperatureC >= 38.1) found.add('fever');
  if (o.heartRate != null && o.heartRate >= 91) found.add('tachycardia');
  if (o.respiratoryRate != null && o.respiratoryRate >= 21) found.add('tachypnoea');
  if (o.systolicBp != null && o.systolicBp <= 100) found.add('hypotension');
  if (o.spo2 != null && o.spo2 <= 95) found.add('hypoxaemia');
  if (o.consciousness != null && o.consciousness !== 'ALERT') found.add('confusion');
  return found;
}

function symptomFindings(symptoms: readonly string[], notes: string | null): Set<Finding> {
  const text = [...symptoms, notes ?? ''].join(' \n ').toLowerCase();
  const found = new Set<Finding>();
  for (const [finding, words] of Object.entries(SYNONYMS) as [Finding, readonly string[]][]) {
    if (words.some((w) => text.includes(w))) found.add(finding);
  }
  return found;
}

export interface RulesProviderOptions {
  /** Pause between streamed chunks, so progress is visible like a model's; 0 in tests that need speed. */
  chunkDelayMs?: number;
}

export const RULES_MODEL = 'clinical-copilot-rules-1';

/**
 * The offline provider: a fixed, cited symptom → condition table. It is not a language model and
 * says so in every result. Deterministic: the same facts always give the same answer.
 */
export class RulesProvider implements DiagnosisProvider {
  readonly name = 'rules' as const;
  readonly model = RULES_MODEL;
  /** The provider's own version: its matching, not the table (the table's version is the model's name). */
  readonly version = 'rules-provider-1';
  readonly promptVersion = null;
  private readonly chunkDelayMs: number;

  constructor(options: RulesProviderOptions = {}) {
    this.chunkDelayMs = options.chunkDelayMs ?? 40;
  }

  async diagnose(prompt: DiagnosisPrompt, events: ProviderEvents, signal: AbortSignal): Promise<ProviderResult> {
    const findings = new Set([
      ...observedFindings(prompt.observations),
      ...symptomFindings(prompt.symptoms, prompt.notes),
    ]);
    const differentials: Differential[] = RULES.map((rule) => {
      const present = rule.findings.filter((f) => findings.has(f));
      return { rule, present };
    })
      .filter(({ rule, present }) => present.length >= rule.minimum)
      .map(({ rule, present }) => ({
        condition: rule.condition,
        // The share of the rule's findings present: a match strength, not a probability.
        likelihood: Math.round((present.length / rule.findings.length) * 100) / 100,
        rationale: `Findings present: ${present.join(', ')} (of ${rule.findings.join(', ')}). Source: ${rule.source}. Match strength, not a probability.`,
      }))
      .sort((a, b) => (b.likelihood ?? 0) - (a.likelihood ?? 0) || a.condition.localeCompare(b.condition))
      .slice(0, 5);

    if (differentials.length === 0) {
      // Not a result (the result schema needs a differential), but not silence either: the error
      // the clinician sees says what happened and what it does not mean.
      throw new ProviderOutputError(
        `the rules engine matched no condition of its ${RULES.length}-entry table; this does not exclude serious illness`,
      );
    }
    const summary =
      `Rules engine, not a language model: ${differentials.length} condition(s) of a fixed ${RULES.length}-entry guideline table ` +
      `match the findings (${[...findings].sort().join(', ') || 'none recognised'}). ` +
      `Consider: ${differentials.map((d) => d.condition).join('; ')}. ` +
      'Decision support only; clinical judgement decides.';

    // Stream the summary in chunks, as a model would, so clients see progress.
    const chunks = summary.match(/.{1,24}(\s|$)/g) ?? [summary];
    for (const [i, chunk] of chunks.entries()) {
      if (signal.aborted) throw signal.reason ?? new Error('aborted');
      events.text(chunk);
      events.progress((i + 1) / (chunks.length + 1), 'applying rules');
      if (this.chunkDelayMs > 0) await sleep(this.chunkDelayMs, signal);
    }
    return { summary, differentials, provider: this.name, model: this.model };
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason ?? new Error('aborted'));
    };
    // Remove the listener once the pause is over: one per chunk would pile up on the signal.
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
