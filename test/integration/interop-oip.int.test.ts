import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelServer, type ModelServer } from '../../ml-server/server.js';
import { ModelClient } from '../../src/ml/client.js';
import type { InferenceRequest, InferenceResponse } from '../../src/ml/oip.protocol.js';
import {
  columnInput,
  FRAMINGHAM_INPUTS,
  FRAMINGHAM_MODEL,
  NEWS2_INPUTS,
  NEWS2_MODEL,
  readRiskBatch,
} from '../../src/ml/risk-model.contract.js';
import { framinghamVectors, news2Vectors } from '../helpers/vectors.js';

/**
 * Open Inference Protocol v2 conformance of the reference model server: every endpoint's answer,
 * success and error alike, and every request the test sends, is judged by ajv against the JSON
 * Schema of the protocol's objects (ml-server/spec/oip-v2-rest.schema.json, our transcription of
 * the specification's text, which it cites; ml-server/spec/oip-v2-rest.schema.test.ts holds it to
 * the table of endpoints and members that text lists, and this test calls every endpoint of that
 * table). The published NEWS2 and Framingham vectors then run through the server, read by the
 * API's own client.
 */
const schema = JSON.parse(
  readFileSync(new URL('../../ml-server/spec/oip-v2-rest.schema.json', import.meta.url), 'utf8'),
);
// Union types ("string or number or boolean") are how the protocol words parameters and tensor data.
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
ajv.addSchema(schema);

type ObjectName =
  | 'live_server_response'
  | 'ready_server_response'
  | 'ready_model_response'
  | 'metadata_server_response'
  | 'metadata_server_error_response'
  | 'metadata_model_response'
  | 'metadata_model_error_response'
  | 'inference_request'
  | 'inference_response'
  | 'inference_error_response';

/** ajv's verdict on `body` as the protocol's object `name`: the errors, empty when it conforms. */
function violations(name: ObjectName, body: unknown): string[] {
  const validate = ajv.getSchema(`${schema.$id}#/definitions/${name}`);
  if (!validate) throw new Error(`no schema for ${name}`);
  return validate(body) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);
}

/** The specification's endpoints, as our table transcribes them (ml-server/spec/oip-v2-rest.spec-table.json). */
const spec = JSON.parse(
  readFileSync(new URL('../../ml-server/spec/oip-v2-rest.spec-table.json', import.meta.url), 'utf8'),
) as {
  endpoints: {
    api: string;
    method: 'GET' | 'POST';
    path: string;
    versioned: boolean;
    request?: ObjectName;
    response: ObjectName;
    error?: ObjectName;
  }[];
};

const news2 = news2Vectors();
const framingham = framinghamVectors();

/** The NEWS2 vector patients as one batched request, built as the API's engine builds it. */
function news2Request(id?: string): InferenceRequest {
  const keys = Object.keys(NEWS2_INPUTS) as (keyof typeof NEWS2_INPUTS)[];
  return {
    ...(id ? { id } : {}),
    inputs: keys.map((key) =>
      columnInput(
        NEWS2_INPUTS[key],
        news2.patients.map((p) => p.vitals[key]),
      ),
    ),
  };
}

function framinghamRequest(): InferenceRequest {
  const keys = Object.keys(FRAMINGHAM_INPUTS) as (keyof typeof FRAMINGHAM_INPUTS)[];
  return {
    inputs: keys.map((key) =>
      columnInput(
        FRAMINGHAM_INPUTS[key],
        framingham.cases.map((c) => c.inputs[key]),
      ),
    ),
  };
}

let server: ModelServer;
let base: URL;
let client: ModelClient;
beforeAll(async () => {
  server = createModelServer();
  base = await server.listen(0, '127.0.0.1');
  client = new ModelClient({ baseUrl: base.href, timeoutMs: 5_000 });
});
afterAll(async () => {
  await client?.close();
  await server?.close();
});

async function call(method: 'GET' | 'POST', path: string, body?: unknown, raw?: string) {
  const res = await fetch(new URL(path, base), {
    method,
    ...(body !== undefined || raw !== undefined
      ? { headers: { 'content-type': 'application/json' }, body: raw ?? JSON.stringify(body) }
      : {}),
  });
  return { status: res.status, body: (await res.json()) as unknown };
}

describe('OIP v2 conformance, judged by ajv against the protocol’s JSON objects', () => {
  it('the schema is strict enough to refuse what the protocol forbids (the check can fail)', () => {
    expect(
      violations('inference_response', {
        model_name: 'x',
        outputs: [{ name: 's', shape: [1], datatype: 'FLOAT32', data: [1] }],
      }),
    ).not.toEqual([]);
    expect(violations('inference_response', { outputs: [] })).not.toEqual([]);
    expect(
      violations('metadata_model_response', {
        name: 'x',
        platform: 'p',
        inputs: [],
        outputs: [{ name: 'o', datatype: 'FP64', shape: [-2] }],
      }),
    ).not.toEqual([]);
    expect(violations('inference_error_response', { message: 'no' })).not.toEqual([]);
  });

  it.each(spec.endpoints)(
    'every endpoint of the specification’s table answers: $api ($method $path)',
    async ({ method, path, versioned, request, response, error }) => {
      const { versions } = (await call('GET', `/v2/models/${NEWS2_MODEL}`)).body as { versions: string[] };
      const forms = versioned
        ? [path.replace('{model}', NEWS2_MODEL), path.replace('{model}', `${NEWS2_MODEL}/versions/${versions[0]}`)]
        : [path];
      const body = method === 'POST' ? news2Request('spec-table') : undefined;
      if (request) expect(violations(request, body)).toEqual([]);
      for (const form of forms) {
        const res = await call(method, form, body);
        expect(res.status, form).toBe(200);
        expect(violations(response, res.body), form).toEqual([]);
      }
      // The error object, where the text names one and a request can provoke it: an unknown model.
      if (error && path.includes('{model}')) {
        const missing = await call(method, path.replace('{model}', 'no-such-model'), body);
        expect(missing.status).toBe(404);
        expect(violations(error, missing.body)).toEqual([]);
      }
    },
  );

  it.each([
    ['/v2/health/live', 'live_server_response'],
    ['/v2/health/ready', 'ready_server_response'],
    ['/v2', 'metadata_server_response'],
  ] as const)('GET %s answers 200 with a %s', async (path, object) => {
    const res = await call('GET', path);
    expect(res.status).toBe(200);
    expect(violations(object, res.body)).toEqual([]);
  });

  it.each([NEWS2_MODEL, FRAMINGHAM_MODEL])(
    'model metadata of %s, with and without its version, declares FP64 outputs',
    async (model) => {
      const unversioned = await call('GET', `/v2/models/${model}`);
      expect(unversioned.status).toBe(200);
      expect(violations('metadata_model_response', unversioned.body)).toEqual([]);
      const metadata = unversioned.body as { versions: string[]; outputs: { name: string; datatype: string }[] };
      const [version] = metadata.versions;
      const versioned = await call('GET', `/v2/models/${model}/versions/${version}`);
      expect(versioned.status).toBe(200);
      expect(violations('metadata_model_response', versioned.body)).toEqual([]);
      expect(versioned.body).toEqual(unversioned.body);
      // The numeric outputs carry JavaScript doubles: FP64, as the data is.
      expect(Object.fromEntries(metadata.outputs.map((o) => [o.name, o.datatype]))).toEqual({
        score: 'FP64',
        risk_level: 'BYTES',
        factors: 'FP64',
        factor_names: 'BYTES',
      });
    },
  );

  it.each([NEWS2_MODEL, FRAMINGHAM_MODEL])('model ready of %s, with and without its version', async (model) => {
    const { versions } = (await call('GET', `/v2/models/${model}`)).body as { versions: string[] };
    for (const path of [`/v2/models/${model}/ready`, `/v2/models/${model}/versions/${versions[0]}/ready`]) {
      const res = await call('GET', path);
      expect(res.status).toBe(200);
      expect(violations('ready_model_response', res.body)).toEqual([]);
      expect(res.body).toEqual({ name: model, ready: true });
    }
  });

  it('infers with and without a version, echoing the id only when given', async () => {
    const withId = news2Request('ward-7/bed-3');
    const withoutId = news2Request();
    expect(violations('inference_request', withId)).toEqual([]);
    expect(violations('inference_request', withoutId)).toEqual([]);
    const { versions } = (await call('GET', `/v2/models/${NEWS2_MODEL}`)).body as { versions: string[] };
    for (const path of [`/v2/models/${NEWS2_MODEL}/infer`, `/v2/models/${NEWS2_MODEL}/versions/${versions[0]}/infer`]) {
      const echoed = await call('POST', path, withId);
      expect(echoed.status).toBe(200);
      expect(violations('inference_response', echoed.body)).toEqual([]);
      expect((echoed.body as InferenceResponse).id).toBe('ward-7/bed-3');
      expect((echoed.body as InferenceResponse).model_version).toBe(versions[0]);
      const plain = await call('POST', path, withoutId);
      expect(violations('inference_response', plain.body)).toEqual([]);
      expect(plain.body).not.toHaveProperty('id');
      const outputs = (plain.body as InferenceResponse).outputs;
      expect(outputs.filter((o) => o.name === 'score' || o.name === 'factors').map((o) => o.datatype)).toEqual([
        'FP64',
        'FP64',
      ]);
    }
  });

  it('returns only the outputs a request names, in any order', async () => {
    const request = { ...news2Request(), outputs: [{ name: 'risk_level' }, { name: 'score' }] };
    expect(violations('inference_request', request)).toEqual([]);
    const res = await call('POST', `/v2/models/${NEWS2_MODEL}/infer`, request);
    expect(res.status).toBe(200);
    expect(violations('inference_response', res.body)).toEqual([]);
    expect((res.body as InferenceResponse).outputs.map((o) => o.name).sort()).toEqual(['risk_level', 'score']);
  });

  it.each([
    ['POST', `/v2/models/${NEWS2_MODEL}/infer`, 400, 'inference_error_response', undefined, '{"inputs": ['],
    ['POST', `/v2/models/${NEWS2_MODEL}/infer`, 400, 'inference_error_response', { inputs: [] }, undefined],
    [
      'POST',
      `/v2/models/${NEWS2_MODEL}/infer`,
      400,
      'inference_error_response',
      { inputs: [{ name: 'pulse', shape: [1], datatype: 'FP64', data: [70] }] },
      undefined,
    ],
    [
      'POST',
      `/v2/models/${NEWS2_MODEL}/infer`,
      400,
      'inference_error_response',
      { ...news2Request(), outputs: [{ name: 'nope' }] },
      undefined,
    ],
    ['POST', '/v2/models/no-such-model/infer', 404, 'inference_error_response', { inputs: [] }, undefined],
    [
      'POST',
      `/v2/models/${NEWS2_MODEL}/versions/9.9.9/infer`,
      404,
      'inference_error_response',
      news2Request(),
      undefined,
    ],
    ['GET', '/v2/models/no-such-model', 404, 'metadata_model_error_response', undefined, undefined],
    ['GET', `/v2/models/${NEWS2_MODEL}/versions/9.9.9`, 404, 'metadata_model_error_response', undefined, undefined],
    ['GET', '/v2/models/no-such-model/ready', 404, 'metadata_model_error_response', undefined, undefined],
    ['GET', `/v2/models/${NEWS2_MODEL}/infer`, 405, 'inference_error_response', undefined, undefined],
  ] as const)('%s %s answers %d with an %s', async (method, path, status, object, body, raw) => {
    const res = await call(method, path, body, raw);
    expect(res.status).toBe(status);
    expect(violations(object, res.body)).toEqual([]);
  });

  it('answers an over-large body 413 with an inference_error_response', async () => {
    const huge = { inputs: [{ name: 'spo2', shape: [300_000], datatype: 'FP64', data: Array(300_000).fill(97.5) }] };
    const res = await call('POST', `/v2/models/${NEWS2_MODEL}/infer`, huge);
    expect(res.status).toBe(413);
    expect(violations('inference_error_response', res.body)).toEqual([]);
  });
});

describe('the published vectors through the model server and the API’s client', () => {
  it('scores every NEWS2 vector patient as published', async () => {
    const batch = readRiskBatch(await client.infer(NEWS2_MODEL, news2Request()));
    expect(batch.factorKind).toBe('points');
    batch.rows.forEach((row, i) => {
      const patient = news2.patients[i];
      expect(row.score, patient?.note).toBe(patient?.score);
      expect(row.riskLevel, patient?.note).toBe(patient?.riskLevel);
      const points = Object.fromEntries(row.factors.map((f) => [f.name, f.value]));
      const keys = Object.keys(NEWS2_INPUTS) as (keyof typeof NEWS2_INPUTS)[];
      expect(points).toEqual(Object.fromEntries(keys.map((k) => [NEWS2_INPUTS[k].name, patient?.points[k]])));
    });
    expect(batch.rows).toHaveLength(news2.patients.length);
  });

  it('scores every Framingham vector to its published precision', async () => {
    const batch = readRiskBatch(await client.infer(FRAMINGHAM_MODEL, framinghamRequest()));
    expect(batch.factorKind).toBe('contribution');
    expect(batch.rows).toHaveLength(framingham.cases.length);
    batch.rows.forEach((row, i) => {
      const vector = framingham.cases[i];
      expect(row.score * 100).toBeCloseTo(vector?.riskPercent as number, vector?.digits);
      expect(row.riskLevel).toBe(vector?.riskLevel);
    });
  });

  it('reads an answer declared FP32 (another OIP server’s) exactly as one declared FP64', async () => {
    const response = await client.infer(FRAMINGHAM_MODEL, framinghamRequest());
    const asFp32: InferenceResponse = {
      ...response,
      outputs: response.outputs.map((o) => (o.datatype === 'FP64' ? { ...o, datatype: 'FP32' } : o)),
    };
    expect(asFp32.outputs.filter((o) => o.datatype === 'FP32')).toHaveLength(2);
    expect(violations('inference_response', asFp32)).toEqual([]);
    expect(readRiskBatch(asFp32)).toEqual(readRiskBatch(response));
  });
});
