import { request } from 'node:http';
import type { TestApi } from './server.js';
import type { WsConnection } from './ws.js';

/** How many GraphQL operations the pod has executed (its `graphql_operations_total`). */
export async function operationsExecuted(api: TestApi): Promise<number> {
  const { values } = await api.deps.metrics.operations.get();
  return values.reduce((sum, v) => sum + v.value, 0);
}

/** The pod's `rate_limit_rejections_total` for one scope. */
export async function rateLimitRejections(api: TestApi, scope: string): Promise<number> {
  const { values } = await api.deps.metrics.rateLimitRejections.get();
  return values.find((v) => v.labels.scope === scope)?.value ?? 0;
}

/** How many patients carry this MRN: the side effect a refused `createPatient` must not have. */
export async function patientsWithMrn(api: TestApi, mrn: string): Promise<number> {
  const rows = await api.deps.orm.em
    .getConnection()
    .execute<{ n: number }[]>('select count(*)::int as n from patient where mrn = ?', [mrn]);
  return rows[0]?.n ?? 0;
}

/** A `createPatient` root field with a given MRN and selection, for hand-written operations. */
export function createPatientField(mrn: string, selection = '{ id }', alias?: string): string {
  return `${alias ? `${alias}: ` : ''}createPatient(input: { mrn: "${mrn}", givenName: "Lim", familyName: "Its", birthDate: "1970-01-01", sex: OTHER }) ${selection}`;
}

/** POSTs a body with chunked transfer encoding (no Content-Length), one write per chunk. */
export function postChunked(
  url: URL,
  chunks: readonly string[],
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json',
          'transfer-encoding': 'chunked',
          ...headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    // The server may answer 413 and close before the whole body is written.
    req.on('error', (error: NodeJS.ErrnoException) => (error.code === 'EPIPE' ? undefined : reject(error)));
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

export interface WsOutcome {
  data?: Record<string, unknown> | null;
  errors?: readonly { message: string; extensions?: Record<string, unknown> }[];
}

/** Runs a hand-written operation over graphql-ws (persisted hash in `extensions` allowed) to its end. */
export function runWs(
  ws: WsConnection,
  payload: { query: string; variables?: Record<string, unknown>; extensions?: Record<string, unknown> },
): Promise<WsOutcome[]> {
  return new Promise((resolve, reject) => {
    const results: WsOutcome[] = [];
    ws.client.subscribe(payload, {
      next: (value) => results.push(value as WsOutcome),
      error: (error) => (Array.isArray(error) ? resolve([...results, { errors: error }]) : reject(error)),
      complete: () => resolve(results),
    });
  });
}
