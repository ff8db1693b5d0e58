import { describe, expect, it } from 'vitest';
import { ProviderOutputError } from './provider.js';
import { RulesProvider } from './rules.provider.js';

const events = () => {
  const text: string[] = [];
  const progress: number[] = [];
  return { text, progress, sink: { text: (d: string) => text.push(d), progress: (p: number) => progress.push(p) } };
};

describe('RulesProvider', () => {
  const provider = new RulesProvider({ chunkDelayMs: 0 });

  it('matches the cited table from symptoms and observations, and says it is not an LLM', async () => {
    const e = events();
    const result = await provider.diagnose(
      {
        ageYears: 66,
        sex: 'MALE',
        // NEWS2 thresholds: 38.5 °C fever, HR 112 tachycardia, RR 24 tachypnoea.
        observations: { temperatureC: 38.5, heartRate: 112, respiratoryRate: 24, spo2: 93 },
        symptoms: ['Productive cough', 'breathless on exertion'],
        notes: null,
      },
      e.sink,
      new AbortController().signal,
    );
    expect(result.provider).toBe('rules');
    expect(result.summary).toContain('Rules engine, not a language model');
    const conditions = result.differentials.map((d) => d.condition);
    expect(conditions).toContain('Community-acquired pneumonia');
    expect(conditions).toContain('Sepsis');
    const pneumonia = result.differentials.find((d) => d.condition === 'Community-acquired pneumonia');
    // All five findings of the rule present: fever, cough, shortness of breath, tachypnoea, hypoxaemia.
    expect(pneumonia?.likelihood).toBe(1);
    expect(pneumonia?.rationale).toContain('NICE NG138');
    expect(e.text.join('')).toBe(result.summary);
    expect(e.progress.at(-1)).toBeLessThan(1);
  });

  it('is deterministic', async () => {
    const input = {
      ageYears: 30,
      sex: 'FEMALE',
      observations: null,
      symptoms: ['fever', 'cough', 'wheeze'],
      notes: null,
    };
    const one = await provider.diagnose(input, events().sink, new AbortController().signal);
    const two = await provider.diagnose(input, events().sink, new AbortController().signal);
    expect(one).toEqual(two);
  });

  it('fails, saying what that does not mean, when nothing matches: a result needs a differential', async () => {
    const input = { ageYears: 30, sex: 'FEMALE', observations: null, symptoms: ['itchy elbow'], notes: null };
    const attempt = provider.diagnose(input, events().sink, new AbortController().signal);
    await expect(attempt).rejects.toBeInstanceOf(ProviderOutputError);
    await expect(attempt).rejects.toThrow(
      'matched no condition of its 9-entry table; this does not exclude serious illness',
    );
  });
});
