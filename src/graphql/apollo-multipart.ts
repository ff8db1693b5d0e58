import type { ExecutionResult } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';

/**
 * Apollo Client's HTTP subscriptions: Apollo's "multipart subscription protocol" (`Accept:
 * multipart/mixed;boundary="graphql";subscriptionSpec=1.0`), which `HttpLink` speaks. Yoga serves
 * multipart answers for incremental delivery but not for subscriptions (it answered 406), and we
 * found no maintained Yoga plugin that adds it, so this small adapter does: a subscription asked for that way streams
 * each result as one part `{"payload": …}`, with a heartbeat part `{}` every
 * {@link HEARTBEAT_MS}, and the closing boundary when the subscription completes.
 *
 * Only the answer's framing is new: the request went through Yoga's whole pipeline — the token,
 * limits, rate limits, audit and the care-team rule on every event — as any other subscription.
 */
export const SUBSCRIPTION_SPEC = 'subscriptionSpec=1.0';
/** Apollo's routers send one every 5 s; clients treat a silent connection as lost. */
export const HEARTBEAT_MS = 5_000;
const BOUNDARY = 'graphql';

/** Whether a request asks for Apollo's multipart subscription protocol. */
export function wantsApolloMultipart(accept: string | null | undefined): boolean {
  return !!accept && /multipart\/mixed/i.test(accept) && accept.includes(SUBSCRIPTION_SPEC);
}

export function useApolloMultipartSubscriptions(): Plugin {
  return {
    onResultProcess: ({ request, result, setResultProcessor }) => {
      if (!isAsyncIterable(result) || !wantsApolloMultipart(request.headers.get('accept'))) return;
      setResultProcessor(
        (results, fetchAPI) => multipartResponse(results as AsyncIterable<ExecutionResult>, fetchAPI),
        'multipart/mixed',
      );
    },
  };
}

function multipartResponse(results: AsyncIterable<ExecutionResult>, fetchAPI: { Response: typeof Response }) {
  const encoder = new TextEncoder();
  const part = (body: unknown) =>
    encoder.encode(`\r\ncontent-type: application/json; charset=utf-8\r\n\r\n${JSON.stringify(body)}\r\n--${BOUNDARY}`);
  const iterator = results[Symbol.asyncIterator]();
  let heartbeat: NodeJS.Timeout | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(`\r\n--${BOUNDARY}`));
      heartbeat = setInterval(() => controller.enqueue(part({})), HEARTBEAT_MS);
    },
    async pull(controller) {
      try {
        const { done, value } = await iterator.next();
        if (done) {
          clearInterval(heartbeat);
          controller.enqueue(encoder.encode('--\r\n'));
          controller.close();
          return;
        }
        controller.enqueue(part({ payload: withoutInternals(value) }));
      } catch (error) {
        clearInterval(heartbeat);
        controller.error(error);
      }
    },
    async cancel() {
      clearInterval(heartbeat);
      await iterator.return?.();
    },
  });
  return new fetchAPI.Response(body, {
    status: 200,
    headers: {
      'content-type': `multipart/mixed;boundary="${BOUNDARY}";${SUBSCRIPTION_SPEC}`,
      'cache-control': 'no-cache',
    },
  });
}

/** The result as a client may see it: Yoga's `extensions.http` (status, headers) stays on the server. */
function withoutInternals(result: ExecutionResult): ExecutionResult {
  if (!result.errors) return result;
  return {
    ...result,
    errors: result.errors.map((error) => {
      const { http: _http, ...extensions } = (error.extensions ?? {}) as Record<string, unknown>;
      return { ...error.toJSON(), extensions } as unknown as NonNullable<ExecutionResult['errors']>[number];
    }),
  };
}
