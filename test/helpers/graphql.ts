import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';

export interface GraphQLErrorJson {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; [key: string]: unknown };
}

/** One GraphQL-over-HTTP answer, with helpers for the common assertions. */
export class GraphQLResponse<TData> {
  constructor(
    readonly status: number,
    readonly headers: Headers,
    readonly data: TData | null | undefined,
    readonly errors: GraphQLErrorJson[] | undefined,
  ) {}

  /** The data, failing the test with the errors if there were any. */
  expectData(): TData {
    if (this.errors?.length || !this.data) {
      throw new Error(`expected data, got ${this.status} ${JSON.stringify(this.errors ?? this.data)}`);
    }
    return this.data;
  }

  /** The codes of all errors, in order. */
  get codes(): (string | undefined)[] {
    return (this.errors ?? []).map((e) => e.extensions?.code);
  }
}

/** Sends a typed operation over HTTP. */
export async function execute<TData, TVars>(
  url: URL | string,
  document: TypedDocumentNode<TData, TVars>,
  variables?: TVars,
  options: { token?: string | undefined; headers?: Record<string, string> } = {},
): Promise<GraphQLResponse<TData>> {
  return executeRaw<TData>(url, { query: print(document), variables }, options);
}

/** Sends any JSON body (for malformed and hand-written operations). */
export async function executeRaw<TData = Record<string, unknown>>(
  url: URL | string,
  body: unknown,
  options: { token?: string | undefined; headers?: Record<string, string> } = {},
): Promise<GraphQLResponse<TData>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: { data?: TData | null; errors?: GraphQLErrorJson[] } = {};
  try {
    json = JSON.parse(text);
  } catch {
    // Not JSON (e.g. a 413 from the HTTP layer): status and headers still tell the story.
  }
  return new GraphQLResponse(response.status, response.headers, json.data, json.errors);
}
