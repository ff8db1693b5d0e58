import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';

export interface WsConnection {
  readonly client: Client;
  /** Resolves with the close code and reason when the socket closes. */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Resolves when the server acknowledged the connection. */
  readonly connected: Promise<void>;
  /** Runs one operation to completion and returns every result it produced. */
  run<TData, TVars>(
    document: TypedDocumentNode<TData, TVars>,
    variables?: TVars,
  ): Promise<{ data?: TData | null; errors?: readonly { message: string; extensions?: Record<string, unknown> }[] }[]>;
  dispose(): Promise<void>;
}

/** A graphql-ws client that connects eagerly, never retries, and reports how it closed. */
export function connectWs(url: string, authorization?: string): WsConnection {
  let resolveClosed!: (value: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    resolveClosed = resolve;
  });
  let resolveConnected!: () => void;
  const connected = new Promise<void>((resolve) => {
    resolveConnected = resolve;
  });
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams: authorization === undefined ? {} : { authorization },
    on: {
      connected: () => resolveConnected(),
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        resolveClosed({ code, reason: String(reason) });
      },
    },
    onNonLazyError: () => {
      // Reported through `closed`.
    },
  });
  return {
    client,
    closed,
    connected,
    run: (document, variables) =>
      new Promise((resolve, reject) => {
        const results: never[] = [];
        client.subscribe(
          { query: print(document), variables: (variables ?? {}) as Record<string, unknown> },
          {
            next: (value) => results.push(value as never),
            error: (error) => (Array.isArray(error) ? resolve([{ errors: error }] as never) : reject(error)),
            complete: () => resolve(results),
          },
        );
      }),
    dispose: () => Promise.resolve(client.dispose()),
  };
}
