/**
 * The JSON Schema the OIP conformance test judges by (oip-v2-rest.schema.json) is our
 * transcription of the specification's text, not the upstream file. This test holds it to the
 * table of what that text lists (oip-v2-rest.spec-table.json, section by section): every
 * endpoint's objects are defined, every object requires exactly the members the text marks
 * required (after the readings the table records), knows every member it lists, and the datatypes
 * are the text's table. A member dropped from the schema, or one the table adds, fails here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

interface SchemaObject {
  type?: string;
  required?: string[];
  properties?: Record<string, unknown>;
  enum?: string[];
}

interface SpecTable {
  specification: { repository: string; file: string; commit: string; version: string; sections: string[] };
  endpoints: {
    api: string;
    method: 'GET' | 'POST';
    path: string;
    versioned: boolean;
    request?: string;
    response: string;
    error?: string;
  }[];
  objects: Record<string, { section: string; required: string[]; optional: string[] }>;
  types: Record<string, string>;
  datatypes: string[];
  readings: {
    object: string;
    ours: { required?: string[]; optional?: string[]; error?: string };
  }[];
}

const read = <T>(file: string): T => JSON.parse(readFileSync(new URL(file, import.meta.url), 'utf8')) as T;
const schema = read<{ description: string; definitions: Record<string, SchemaObject> }>('./oip-v2-rest.schema.json');
const table = read<SpecTable>('./oip-v2-rest.spec-table.json');

/** An object's required members and all its members, once the table's readings are applied. */
function afterReadings(name: string): { required: string[]; members: string[] } {
  const object = table.objects[name];
  if (!object) throw new Error(`no object ${name} in the table`);
  let required = [...object.required];
  let optional = [...object.optional];
  for (const { ours } of table.readings.filter((r) => r.object === name)) {
    if (ours.required) required = [...ours.required];
    if (ours.optional) {
      required = required.filter((m) => !ours.optional?.includes(m));
      optional = [...optional, ...ours.optional];
    }
  }
  return { required: required.sort(), members: [...new Set([...required, ...optional])].sort() };
}

describe('the OIP v2 REST schema covers what the specification text lists (oip-v2-rest.spec-table.json)', () => {
  it('names the text it transcribes, at a commit', () => {
    expect(table.specification.repository).toBe('kserve/open-inference-protocol');
    expect(table.specification.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(schema.description).toContain(table.specification.file);
    expect(schema.description).toContain(table.specification.commit);
  });

  it('lists the six endpoints of the text, each with its objects defined in the schema', () => {
    expect(table.endpoints.map((e) => e.api).sort()).toEqual([
      'Inference',
      'Model Metadata',
      'Model Ready',
      'Server Live',
      'Server Metadata',
      'Server Ready',
    ]);
    for (const endpoint of table.endpoints) {
      for (const name of [endpoint.request, endpoint.response, endpoint.error].filter((n) => n !== undefined)) {
        expect(table.objects, `${endpoint.api}: ${name}`).toHaveProperty(name);
        expect(schema.definitions, `${endpoint.api}: ${name}`).toHaveProperty(name);
      }
    }
  });

  it.each(Object.entries(table.objects))(
    '%s requires what the text marks required and knows every member',
    (name, object) => {
      const definition = schema.definitions[name];
      expect(definition, name).toBeDefined();
      expect(definition?.type).toBe('object');
      const expected = afterReadings(name);
      expect([...(definition?.required ?? [])].sort()).toEqual(expected.required);
      expect(Object.keys(definition?.properties ?? {}).sort()).toEqual(expected.members);
      expect(object.section).not.toBe('');
    },
  );

  it('defines every object and type of the table, and nothing else', () => {
    expect(Object.keys(schema.definitions).sort()).toEqual(
      [...Object.keys(table.objects), ...Object.keys(table.types)].sort(),
    );
  });

  it('allows exactly the datatypes of the text’s Tensor Data Types table', () => {
    expect(schema.definitions.datatype?.enum).toEqual(table.datatypes);
  });

  it('records each reading against an object of the table', () => {
    for (const reading of table.readings) expect(table.objects).toHaveProperty(reading.object);
  });
});
