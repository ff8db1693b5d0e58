/**
 * The reference model server over real HTTP: metadata, health, batched inference that matches the
 * model functions row for row, every error path, and versioned paths.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FraminghamInputs, framinghamRisk } from '../../ml-server/models/framingham.js';
import { type News2Vitals, scoreNews2 } from '../../ml-server/models/news2.js';
import { createModelServer, type InferEvent, MAX_BODY_BYTES, type ModelServer } from '../../ml-server/server.js';
import { createLogger } from '../../src/lib/logger.js';
import {
  type ErrorResponse,
  type InferenceRequest,
  type InferenceResponse,
  inferPath,
  type ModelMetadata,
  modelPath,
  modelReadyPath,
  type RequestInput,
  type ServerMetadata,
} from '../../src/ml/oip.protocol.js';
import {
  columnInput,
  FRAMINGHAM_INPUTS,
  FRAMINGHAM_MODEL,
  NEWS2_INPUTS,
  NEWS2_MODEL,
  readRiskBatch,
} from '../../src/ml/risk-model.contract.js';

class LogLines extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString('utf8');
    done();
  }
}

const patients: News2Vitals[] = [
  {
    respiratoryRate: 16,
    spo2: 98,
    onSupplementalOxygen: false,
    systolicBp: 123.456,
    heartRate: 72,
    consciousness: 'ALERT',
    temperatureC: 36.8,
  },
  {
    respiratoryRate: 22,
    spo2: 95,
    onSupplementalOxygen: true,
    systolicBp: 105,
    heartRate: 115,
    consciousness: 'ALERT',
    temperatureC: 38.5,
  },
  {
    respiratoryRate: 18,
    spo2: 97,
    onSupplementalOxygen: false,
    systolicBp: 130,
    heartRate: 80,
    consciousness: 'CONFUSION',
    temperatureC: 36.05,
  },
  {
    respiratoryRate: 30,
    spo2: 85,
    onSupplementalOxygen: true,
    systolicBp: 80,
    heartRate: 140,
    consciousness: 'UNRESPONSIVE',
    temperatureC: 34,
  },
];

const people: FraminghamInputs[] = [
  {
    age: 53,
    sex: 'MALE',
    totalCholesterol: 216.16,
    hdlCholesterol: 54.91,
    systolicBp: 133,
    onBpTreatment: false,
    smoker: false,
    diabetic: false,
  },
  {
    age: 52,
    sex: 'FEMALE',
    totalCholesterol: 186.39,
    hdlCholesterol: 64.19,
    systolicBp: 161,
    onBpTreatment: true,
    smoker: true,
    diabetic: false,
  },
  {
    age: 68,
    sex: 'MALE',
    totalCholesterol: 240,
    hdlCholesterol: 38,
    systolicBp: 165,
    onBpTreatment: true,
    smoker: true,
    diabetic: true,
  },
];

/** One input tensor per NEWS2 field, shape [N], in the order of `NEWS2_INPUTS`. */
function news2Inputs(rows: readonly News2Vitals[]): RequestInput[] {
  return (Object.keys(NEWS2_INPUTS) as (keyof typeof NEWS2_INPUTS)[]).map((key) =>
    columnInput(
      NEWS2_INPUTS[key],
      rows.map((row) => row[key]),
    ),
  );
}

function framinghamInputs(rows: readonly FraminghamInputs[]): RequestInput[] {
  return (Object.keys(FRAMINGHAM_INPUTS) as (keyof typeof FRAMINGHAM_INPUTS)[]).map((key) =>
    columnInput(
      FRAMINGHAM_INPUTS[key],
      rows.map((row) => row[key]),
    ),
  );
}

/** The NEWS2 request with input `name` replaced by `change(input)` (or removed when it returns undefined). */
function news2With(name: string, change: (input: RequestInput) => RequestInput | undefined): InferenceRequest {
  const inputs = news2Inputs(patients.slice(0, 2)).flatMap((input) => {
    if (input.name !== name) return [input];
    const changed = change(input);
    return changed ? [changed] : [];
  });
  return { inputs };
}

describe('reference model server (Open Inference Protocol v2)', () => {
  let ml: ModelServer;
  let base: URL;
  const events: InferEvent[] = [];
  const logs = new LogLines();

  beforeAll(async () => {
    ml = createModelServer({
      logger: createLogger({ level: 'debug', destination: logs }),
      onInfer: (event) => events.push(event),
    });
    base = await ml.listen(0, '127.0.0.1');
  });
  afterAll(() => ml?.close());
  beforeEach(() => {
    events.length = 0;
  });

  const get = (path: string) => fetch(new URL(path, base));
  const post = (path: string, body: unknown) =>
    fetch(new URL(path, base), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const expectError = async (res: Response, status: number, message: string | RegExp) => {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as ErrorResponse;
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error).toMatch(message);
    return body.error;
  };

  describe('health and metadata', () => {
    it('answers server metadata at GET /v2', async () => {
      const res = await get('/v2');
      expect(res.status).toBe(200);
      expect((await res.json()) as ServerMetadata).toEqual({
        name: 'clinical-copilot-reference-models',
        version: '1.0.0',
        extensions: [],
      });
    });

    it('is live and ready', async () => {
      const live = await get('/v2/health/live');
      expect(live.status).toBe(200);
      expect(await live.json()).toEqual({ live: true });
      const ready = await get('/v2/health/ready');
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ ready: true });
    });

    it('describes NEWS2 with its inputs, outputs and factor names', async () => {
      const res = await get(modelPath(NEWS2_MODEL));
      expect(res.status).toBe(200);
      const metadata = (await res.json()) as ModelMetadata;
      expect(metadata.name).toBe('news2');
      expect(metadata.versions).toEqual(['1.0.0']);
      expect(metadata.platform).toBe('reference-formula');
      expect(metadata.inputs.map((i) => [i.name, i.datatype, i.shape])).toEqual([
        ['respiratory_rate', 'FP64', [-1]],
        ['spo2', 'FP64', [-1]],
        ['on_supplemental_oxygen', 'BOOL', [-1]],
        ['systolic_bp', 'FP64', [-1]],
        ['heart_rate', 'FP64', [-1]],
        ['consciousness', 'BYTES', [-1]],
        ['temperature_c', 'FP64', [-1]],
      ]);
      expect(metadata.inputs[0]?.parameters).toEqual({ unit: 'breaths/min', min: 0, max: 80 });
      expect(metadata.inputs[5]?.parameters).toEqual({ allowed: 'ALERT,CONFUSION,VOICE,PAIN,UNRESPONSIVE' });
      expect(metadata.outputs).toEqual([
        { name: 'score', datatype: 'FP64', shape: [-1] },
        { name: 'risk_level', datatype: 'BYTES', shape: [-1] },
        {
          name: 'factors',
          datatype: 'FP64',
          shape: [-1, 7],
          parameters: {
            factor_names:
              'respiratory_rate,spo2,on_supplemental_oxygen,systolic_bp,heart_rate,consciousness,temperature_c',
            factor_kind: 'points',
          },
        },
        { name: 'factor_names', datatype: 'BYTES', shape: [7] },
      ]);
    });

    it('describes Framingham, at its versioned path too', async () => {
      const plain = (await (await get(modelPath(FRAMINGHAM_MODEL))).json()) as ModelMetadata;
      const versioned = await get(modelPath(FRAMINGHAM_MODEL, '1.0.0'));
      expect(versioned.status).toBe(200);
      expect(await versioned.json()).toEqual(plain);
      expect(plain.inputs.map((i) => i.name)).toEqual([
        'age',
        'sex',
        'total_cholesterol',
        'hdl_cholesterol',
        'systolic_bp',
        'on_bp_treatment',
        'smoker',
        'diabetic',
      ]);
      expect(plain.inputs[0]?.parameters).toEqual({ unit: 'years', min: 30, max: 74 });
      expect(plain.outputs[2]?.parameters).toEqual({
        factor_names: 'age,total_cholesterol,hdl_cholesterol,systolic_bp,smoker,diabetic',
        factor_kind: 'contribution',
      });
    });

    it('reports model readiness, with and without a version', async () => {
      for (const path of [modelReadyPath(NEWS2_MODEL), modelReadyPath(FRAMINGHAM_MODEL, '1.0.0')]) {
        const res = await get(path);
        expect(res.status).toBe(200);
        expect(((await res.json()) as { ready: boolean }).ready).toBe(true);
      }
    });
  });

  describe('batched inference', () => {
    it('scores several NEWS2 patients in one call, exactly as scoreNews2 does', async () => {
      const res = await post(inferPath(NEWS2_MODEL), { id: 'ward-7', inputs: news2Inputs(patients) });
      expect(res.status).toBe(200);
      const response = (await res.json()) as InferenceResponse;
      expect(response.model_name).toBe('news2');
      expect(response.model_version).toBe('1.0.0');
      expect(response.id).toBe('ward-7');
      expect(response.outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual([
        ['score', 'FP64', [4]],
        ['risk_level', 'BYTES', [4]],
        ['factors', 'FP64', [4, 7]],
        ['factor_names', 'BYTES', [7]],
      ]);
      const batch = readRiskBatch(response);
      expect(batch.factorKind).toBe('points');
      expect(batch.rows.map((r) => [r.score, r.riskLevel])).toEqual([
        [0, 'LOW'],
        [9, 'HIGH'],
        [3, 'LOW_MEDIUM'],
        [20, 'HIGH'],
      ]);
      patients.forEach((patient, row) => {
        const expected = scoreNews2(patient);
        expect(batch.rows[row]?.score).toBe(expected.score);
        expect(batch.rows[row]?.riskLevel).toBe(expected.riskLevel);
        expect(batch.rows[row]?.factors).toEqual([
          { name: 'respiratory_rate', value: expected.points.respiratoryRate },
          { name: 'spo2', value: expected.points.spo2 },
          { name: 'on_supplemental_oxygen', value: expected.points.onSupplementalOxygen },
          { name: 'systolic_bp', value: expected.points.systolicBp },
          { name: 'heart_rate', value: expected.points.heartRate },
          { name: 'consciousness', value: expected.points.consciousness },
          { name: 'temperature_c', value: expected.points.temperatureC },
        ]);
      });
      expect(events).toEqual([{ model: 'news2', version: '1.0.0', batchSize: 4 }]);
    });

    it('scores several Framingham patients in one call, exactly as framinghamRisk does', async () => {
      const res = await post(inferPath(FRAMINGHAM_MODEL), { inputs: framinghamInputs(people) });
      expect(res.status).toBe(200);
      const response = (await res.json()) as InferenceResponse;
      expect(response.id).toBeUndefined();
      const batch = readRiskBatch(response);
      expect(batch.factorKind).toBe('contribution');
      expect(batch.rows[0]?.score).toBeCloseTo(0.1037514, 7); // admiral's published example
      expect(batch.rows[1]?.score).toBeCloseTo(0.1640353, 7);
      people.forEach((person, row) => {
        const expected = framinghamRisk(person);
        expect(batch.rows[row]?.score).toBe(expected.risk);
        expect(batch.rows[row]?.riskLevel).toBe(expected.riskLevel);
        expect(batch.rows[row]?.factors.map((f) => f.name)).toEqual([
          'age',
          'total_cholesterol',
          'hdl_cholesterol',
          'systolic_bp',
          'smoker',
          'diabetic',
        ]);
        expect(batch.rows[row]?.factors.map((f) => f.value)).toEqual([
          expected.contributions.age,
          expected.contributions.totalCholesterol,
          expected.contributions.hdlCholesterol,
          expected.contributions.systolicBp,
          expected.contributions.smoker,
          expected.contributions.diabetic,
        ]);
      });
      expect(batch.rows.map((r) => r.riskLevel)).toEqual(['MEDIUM', 'MEDIUM', 'HIGH']);
      expect(events).toEqual([{ model: FRAMINGHAM_MODEL, version: '1.0.0', batchSize: 3 }]);
    });

    it('accepts [N, 1] shapes with nested data, and FP32 or INT32 for numeric inputs', async () => {
      const inputs = news2Inputs(patients.slice(0, 2)).map((input): RequestInput => {
        if (input.name === 'spo2') return { ...input, datatype: 'FP32', shape: [2, 1], data: [[98], [95]] };
        if (input.name === 'heart_rate') return { ...input, datatype: 'INT32', shape: [2, 1], data: [72, 115] };
        return input;
      });
      const res = await post(inferPath(NEWS2_MODEL), { inputs });
      expect(res.status).toBe(200);
      const batch = readRiskBatch((await res.json()) as InferenceResponse);
      expect(batch.rows.map((r) => r.score)).toEqual([0, 9]);
    });

    it('infers at the versioned path', async () => {
      const res = await post(inferPath(NEWS2_MODEL, '1.0.0'), { inputs: news2Inputs(patients.slice(1, 2)) });
      expect(res.status).toBe(200);
      expect(readRiskBatch((await res.json()) as InferenceResponse).rows[0]?.score).toBe(9);
    });

    it('returns only the requested outputs', async () => {
      const res = await post(inferPath(NEWS2_MODEL), {
        inputs: news2Inputs(patients.slice(0, 2)),
        outputs: [{ name: 'risk_level' }],
      });
      expect(res.status).toBe(200);
      const response = (await res.json()) as InferenceResponse;
      expect(response.outputs).toEqual([{ name: 'risk_level', datatype: 'BYTES', shape: [2], data: ['LOW', 'HIGH'] }]);
    });

    it('never writes patient values to its logs', async () => {
      await post(inferPath(NEWS2_MODEL), { inputs: news2Inputs(patients) });
      await post(
        inferPath(NEWS2_MODEL),
        news2With('systolic_bp', (i) => ({ ...i, data: [123.456, 999.125] })),
      );
      expect(logs.text).toContain('"batchSize":4');
      expect(logs.text).not.toContain('123.456');
      expect(logs.text).not.toContain('999.125');
    });
  });

  describe('bad requests answer 400 with {"error"}', () => {
    const infer = (body: unknown) => post(inferPath(NEWS2_MODEL), body);

    it('malformed JSON', async () => {
      await expectError(await infer('{"inputs": ['), 400, 'request body is not valid JSON');
      await expectError(await infer(''), 400, 'request body is not valid JSON');
    });

    it('a body that is not an inference request', async () => {
      await expectError(await infer([1, 2]), 400, /^invalid inference request: /);
      await expectError(await infer({}), 400, /^invalid inference request: inputs: /);
      await expectError(await infer({ inputs: [] }), 400, 'at least one input is required');
      await expectError(
        await infer({ inputs: [{ name: 'spo2', shape: [1], datatype: 'FLOAT', data: [98] }] }),
        400,
        /inputs\.0\.datatype: datatype must be one of BOOL, /,
      );
      await expectError(
        await infer({ inputs: [{ name: 'spo2', shape: [1.5], datatype: 'FP64', data: [98] }] }),
        400,
        /inputs\.0\.shape\.0/,
      );
    });

    it('an unknown input name', async () => {
      const body = news2With('spo2', (i) => ({ ...i, name: 'oxygen_saturation' }));
      await expectError(await infer(body), 400, 'unknown input(s) for model "news2": "oxygen_saturation"');
    });

    it('a missing required input', async () => {
      const body = news2With('temperature_c', () => undefined);
      await expectError(await infer(body), 400, 'missing required input(s): temperature_c');
    });

    it('an input given twice', async () => {
      const body = news2Inputs(patients.slice(0, 2));
      await expectError(await infer({ inputs: [...body, body[0]] }), 400, 'input "respiratory_rate" is given twice');
    });

    it('a wrong datatype', async () => {
      await expectError(
        await infer(news2With('consciousness', (i) => ({ ...i, datatype: 'FP32' }))),
        400,
        'input "consciousness" must have datatype BYTES, not FP32',
      );
      await expectError(
        await infer(news2With('spo2', (i) => ({ ...i, datatype: 'BYTES' }))),
        400,
        'input "spo2" must have datatype FP64 or FP32 or INT32 or INT64, not BYTES',
      );
    });

    it('data that does not match the datatype', async () => {
      await expectError(
        await infer(news2With('on_supplemental_oxygen', (i) => ({ ...i, data: [true, 1] }))),
        400,
        'input "on_supplemental_oxygen" element 1 is not a valid BOOL value',
      );
      await expectError(
        await infer(news2With('heart_rate', (i) => ({ ...i, datatype: 'INT32', data: [72, 115.5] }))),
        400,
        'input "heart_rate" element 1 is not a valid INT32 value',
      );
      await expectError(
        await infer(news2With('spo2', (i) => ({ ...i, data: ['98', 95] }))),
        400,
        'input "spo2" element 0 is not a valid FP64 value',
      );
    });

    it('a shape that does not match the data', async () => {
      await expectError(
        await infer(news2With('spo2', (i) => ({ ...i, shape: [3] }))),
        400,
        'input "spo2" has 2 elements but shape [3] holds 3',
      );
      await expectError(
        await infer(news2With('spo2', (i) => ({ ...i, shape: [1, 2] }))),
        400,
        'input "spo2" must have shape [N] or [N, 1], not [1, 2]',
      );
      await expectError(
        await infer(news2With('spo2', (i) => ({ ...i, data: [[[98]], [[95]]], shape: [2, 1] }))),
        400,
        'input "spo2": tensor data is nested deeper than its shape',
      );
    });

    it('inputs that disagree on the batch size', async () => {
      const body = news2With('spo2', (i) => ({ ...i, shape: [3], data: [98, 95, 97] }));
      await expectError(await infer(body), 400, 'inputs disagree on the batch size: "spo2" has 3 rows, others 2');
    });

    it('an empty batch', async () => {
      await expectError(await infer({ inputs: news2Inputs([]) }), 400, 'the batch must have at least one row');
    });

    it('an out-of-range value, naming the row and input but not the value', async () => {
      const error = await expectError(
        await infer(news2With('temperature_c', (i) => ({ ...i, data: [36.8, 98.6] }))),
        400,
        'row 1: temperature_c must be between 25 and 45 °C',
      );
      expect(error).not.toContain('98.6');
      expect(events).toEqual([]);
    });

    it('a value outside an enumeration', async () => {
      await expectError(
        await infer(news2With('consciousness', (i) => ({ ...i, data: ['ALERT', 'drowsy'] }))),
        400,
        'row 1: consciousness must be one of ALERT, CONFUSION, VOICE, PAIN, UNRESPONSIVE',
      );
      const body = {
        inputs: framinghamInputs(people).map((i) => (i.name === 'sex' ? { ...i, data: ['MALE', 'OTHER', 'MALE'] } : i)),
      };
      await expectError(await post(inferPath(FRAMINGHAM_MODEL), body), 400, 'row 1: sex must be one of FEMALE, MALE');
    });

    it('a Framingham age outside 30–74', async () => {
      const body = { inputs: framinghamInputs([{ ...(people[0] as FraminghamInputs), age: 75 }]) };
      await expectError(
        await post(inferPath(FRAMINGHAM_MODEL), body),
        400,
        'row 0: age must be between 30 and 74 years, the ages the model was derived in',
      );
    });

    it('an unknown requested output', async () => {
      const body = { inputs: news2Inputs(patients.slice(0, 1)), outputs: [{ name: 'probability' }] };
      await expectError(await infer(body), 400, 'unknown output "probability"');
    });
  });

  describe('other errors', () => {
    it('answers 413 to a body over 1 MB', async () => {
      const padding = 'x'.repeat(MAX_BODY_BYTES);
      const res = await post(inferPath(NEWS2_MODEL), { inputs: news2Inputs(patients), padding });
      await expectError(res, 413, `request body exceeds ${MAX_BODY_BYTES} bytes`);
      expect(events).toEqual([]);
    });

    it('still serves the connection after a 413', async () => {
      const res = await post(inferPath(NEWS2_MODEL), { inputs: news2Inputs(patients.slice(0, 1)) });
      expect(res.status).toBe(200);
    });

    it('answers 404 to an unknown model, for every model route', async () => {
      await expectError(await get(modelPath('sofa')), 404, 'unknown model "sofa"');
      await expectError(await get(modelReadyPath('sofa')), 404, 'unknown model "sofa"');
      await expectError(await post(inferPath('sofa'), { inputs: [] }), 404, 'unknown model "sofa"');
    });

    it('answers 404 to an unknown version, for every model route', async () => {
      const message = 'model "news2" has no version "2.0.0"';
      await expectError(await get(modelPath(NEWS2_MODEL, '2.0.0')), 404, message);
      await expectError(await get(modelReadyPath(NEWS2_MODEL, '2.0.0')), 404, message);
      const body = { inputs: news2Inputs(patients.slice(0, 1)) };
      await expectError(await post(inferPath(NEWS2_MODEL, '2.0.0'), body), 404, message);
      expect(events).toEqual([]);
    });

    it('answers 404 to paths outside the protocol', async () => {
      await expectError(await get('/'), 404, 'not found');
      await expectError(await get('/v2/models'), 404, 'not found');
      await expectError(await get('/v2/models/news2/explain'), 404, 'not found');
      await expectError(await get('/v2/health/startup'), 404, 'not found');
    });

    it('answers 405 to the wrong method', async () => {
      const res = await get(inferPath(NEWS2_MODEL));
      expect(res.headers.get('allow')).toBe('POST');
      await expectError(res, 405, 'use POST');
      await expectError(await post('/v2/health/ready', {}), 405, 'use GET');
    });
  });
});

describe('closing the model server', () => {
  it('stops listening, and a second close is harmless', async () => {
    const ml = createModelServer();
    const base = await ml.listen(0);
    expect((await fetch(new URL('/v2/health/ready', base))).status).toBe(200);
    await ml.close();
    expect(ml.server.listening).toBe(false);
    await expect(fetch(new URL('/v2/health/live', base))).rejects.toThrow();
    await ml.close();
  });
});
