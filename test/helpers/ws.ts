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
  /** Starts an operation and collects what it yields, for operations that stay open. */
  stream<TData, TVars>(document: TypedDocumentNode<TData, TVars>, variables?: TVars): WsStream<TData>;
  dispose(): Promise<void>;
}

export interface WsStream<TData> {
  readonly results: {
    data?: TData | null;
    errors?: readonly { message: string; extensions?: Record<string, unknown> }[];
  }[];
  /** Resolves when the stream completed (or failed: the error is then in `results`). */
  readonly done: Promise<void>;
  /** Waits until `predicate` holds for the collected results. */
  until(predicate: (results: WsStream<TData>['results']) => boolean, timeoutMs?: number): Promise<void>;
  stop(): void;
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
    stream: (document, variables) => streamOn(client, document, variables),
    dispose: () => Promise.resolve(client.dispose()),
  };
}

/** A client that reconnects for ever (through a balancer, to whichever pod) and subscribes again. */
export interface ReconnectingWs {
  readonly client: Client;
  /** How many times the socket was acknowledged by a server (1 + the reconnections). */
  connects(): number;
  /** Subscribes; the subscription is issued again on every reconnection, and collects what it yields. */
  stream<TData, TVars>(document: TypedDocumentNode<TData, TVars>, variables?: TVars): WsStream<TData>;
  dispose(): Promise<void>;
}

/**
 * A graphql-ws client as a browser tab would hold it: on any drop (a pod killed, a drain closing
 * with 1001) it reconnects after a short pause, without limit, and graphql-ws subscribes every
 * open operation again — which, for `diagnosisUpdated`, yields the current state first.
 */
export function connectReconnectingWs(url: string, authorization: string): ReconnectingWs {
  let connects = 0;
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    lazy: true,
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: () => true,
    retryWait: () => new Promise((resolve) => setTimeout(resolve, 200)),
    connectionParams: { authorization },
    on: {
      connected: () => {
        connects += 1;
      },
    },
  });
  return {
    client,
    connects: () => connects,
    stream: (document, variables) => streamOn(client, document, variables),
    dispose: () => Promise.resolve(client.dispose()),
  };
}

/** Subscribes on `client` and collects what the subscription yields, its error as a last result. */
function streamOn<TData, TVars>(
  client: Client,
  document: TypedDocumentNode<TData, TVars>,
  variables?: TVars,
): WsStream<TData> {
  const results: never[] = [];
  let stop: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    stop = client.subscribe(
      { query: print(document), variables: (variables ?? {}) as Record<string, unknown> },
      {
        next: (value) => results.push(value as never),
        error: (error) => {
          results.push((Array.isArray(error) ? { errors: error } : { errors: [{ message: String(error) }] }) as never);
          resolve();
        },
        complete: () => resolve(),
      },
    );
  });
  return {
    results,
    done,
    stop: () => stop(),
    until: async (predicate, timeoutMs = 15_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(results)) {
        if (Date.now() > deadline) throw new Error(`timed out; got ${JSON.stringify(results)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}
