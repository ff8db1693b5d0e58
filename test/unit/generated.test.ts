import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { generate } from '@graphql-codegen/cli';
import { describe, expect, it } from 'vitest';
import config from '../../codegen.js';
import { printedSchema, printedSubgraphSchema } from '../../src/graphql/print.js';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('generated files are up to date (run `npm run generate`)', () => {
  it('schema/schema.graphql is the printed code-first schema', () => {
    expect(read('schema/schema.graphql')).toBe(printedSchema());
  });

  it('schema/subgraph.graphql is the printed federation subgraph, with its entity keys', () => {
    const sdl = read('schema/subgraph.graphql');
    expect(sdl).toBe(printedSubgraphSchema());
    expect(sdl).toMatch(
      /@link\(url: "https:\/\/specs\.apollo\.dev\/federation\/v2\.\d+", import: \["@key", "@shareable"\]\)/,
    );
    for (const entity of ['Clinician', 'Diagnosis', 'Patient']) {
      expect(sdl).toMatch(new RegExp(`type ${entity}\\s+@key\\(fields: "id"\\)`));
    }
  });

  it('client/generated/ and test/gql/ are what graphql-codegen generates from it', async () => {
    const root = new URL('../..', import.meta.url).pathname;
    const outputs: { filename: string; content: string }[] = await generate(
      { ...config, cwd: root, silent: true },
      false,
    );
    const files = outputs.map(({ filename }) => relative(root, resolve(root, filename)));
    for (const folder of ['client/generated/', 'test/gql/']) {
      expect(files.filter((f) => f.startsWith(folder)).length, folder).toBeGreaterThan(0);
    }
    for (const [i, { content }] of outputs.entries()) {
      expect(read(files[i] as string), files[i]).toBe(content);
    }
  }, 60_000);
});

describe('the contract', () => {
  it('names every operation, type and field of the contract in the printed schema', () => {
    const sdl = printedSchema();
    for (const line of [
      'me: Clinician!',
      'patient(id: ID!): Patient',
      'createPatient(input: CreatePatientInput!): Patient!',
      'recordObservations(patientId: ID!, input: ObservationsInput!): Patient!',
      'addCareTeamMember(patientId: ID!, clinicianId: ID!): Patient!',
      'removeCareTeamMember(patientId: ID!, clinicianId: ID!): Patient!',
      'latestObservations: ObservationSnapshot',
      'careTeam: [Clinician!]!',
      'reviewDiagnosis(id: ID!, input: DiagnosisReviewInput!): Diagnosis!',
      'reportStatus: ReportStatus',
      'review: DiagnosisReview',
      'fhir: JSON!',
      'reviewer: Clinician!',
      'reviewedAt: DateTime!',
      'decision: ReviewDecision!',
    ]) {
      expect(sdl).toContain(line);
    }
    expect(sdl).toMatch(
      /patients\(\s*"""[\s\S]*?first: Int[\s\S]*?after: String[\s\S]*?search: String[\s\S]*?\): PatientConnection!/,
    );
  });
});
