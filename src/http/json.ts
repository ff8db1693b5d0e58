import type { ServerResponse } from 'node:http';

/**
 * Answers a `node:http` request with a JSON body, never cached: the one way the API's own routes
 * and the reference model server write JSON outside GraphQL. A response whose headers went out
 * already (a stream that failed midway) is left alone. The gateway package keeps its own copy:
 * it is built and shipped from `gateway/` alone.
 */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}
