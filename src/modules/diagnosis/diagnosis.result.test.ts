import { describe, expect, it } from 'vitest';
import { InvalidResultError, partialTextTooLong, RESULT_LIMITS, validResult } from './diagnosis.result.js';

const valid = {
  summary: '  Possible pneumonia; SpO2 <92% needs oxygen.  ',
  differentials: [{ condition: 'Pneumonia', likelihood: 0.6, rationale: 'fever,\tcough\nand crackles' }],
  provider: 'openai',
  model: 'm',
};

describe('the result schema', () => {
  it('accepts a valid answer as plain text, trimmed', () => {
    expect(validResult(valid).summary).toBe('Possible pneumonia; SpO2 <92% needs oxygen.');
    expect(
      validResult({ ...valid, differentials: [{ condition: 'c', likelihood: null, rationale: null }] }),
    ).toBeTruthy();
  });

  it('refuses, naming the rule and never the text, every answer outside its bounds', () => {
    const d = valid.differentials[0] as (typeof valid.differentials)[number];
    const cases: [unknown, string][] = [
      ['a string', 'the answer is not an object'],
      [{ ...valid, differentials: [] }, 'the answer has no differential'],
      [{ ...valid, differentials: Array(11).fill(d) }, 'more than 10 differentials'],
      [{ ...valid, differentials: [{ ...d, likelihood: 1.2 }] }, 'a likelihood is above 1'],
      [{ ...valid, differentials: [{ ...d, likelihood: -0.1 }] }, 'a likelihood is below 0'],
      [{ ...valid, summary: 'x'.repeat(RESULT_LIMITS.summary + 1) }, 'the summary is longer than 4000 characters'],
      [{ ...valid, summary: '   ' }, 'the summary is empty'],
      [{ ...valid, summary: '<img src=x onerror=alert(1)>' }, 'the summary contains markup; results are plain text'],
      [{ ...valid, summary: 'bell\u0007' }, 'the summary contains control characters'],
      [
        { ...valid, differentials: [{ ...d, condition: 'c'.repeat(201) }] },
        'a condition is longer than 200 characters',
      ],
      [
        { ...valid, differentials: [{ ...d, rationale: 'r'.repeat(2_001) }] },
        'a rationale is longer than 2000 characters',
      ],
    ];
    for (const [answer, rule] of cases) {
      expect(() => validResult(answer)).toThrow(
        new InvalidResultError(`the model's answer is not a valid result: ${rule}`),
      );
    }
  });

  it('bounds the streamed text', () => {
    expect(partialTextTooLong(RESULT_LIMITS.partialText)).toBeNull();
    expect(partialTextTooLong(RESULT_LIMITS.partialText + 1)).toBeInstanceOf(InvalidResultError);
  });
});
