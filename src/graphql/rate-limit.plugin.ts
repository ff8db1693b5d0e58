import type { IncomingMessage } from 'node:http';
import { type DocumentNode, getOperationAST, Kind, type SelectionSetNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Viewer } from '../auth/jwt.js';
import type { OperationCosts } from '../config.js';
import { AppError, RateLimitedError } from '../errors.js';
import { clientIp, type RateLimitDecision, type RateLimiter } from '../lib/rate-limit.js';
import { authenticate, type Context, type ContextDeps } from './context.js';

export interface RateLimitGuardOptions {
  limiter: RateLimiter;
  costs: OperationCosts;
  deps: ContextDeps;
  trustProxy: boolean;
}

/**
 * Rate limits of GraphQL operations, over HTTP and graphql-ws alike.
 *
 * - {@link authentication} (HTTP) verifies the token once per request, before parsing. A missing
 *   or failed token costs the client address one point of its budget; past that budget the answer
 *   is `RATE_LIMITED` (429) instead of `UNAUTHENTICATED`. Authenticated traffic never touches the
 *   address's budget, so one clinician's flood cannot throttle a colleague behind the same NAT.
 * - {@link operations} charges each operation to its clinician when it is about to execute or
 *   subscribe (after parsing and validation, so shape-limit rejections cost no points): see
 *   {@link operationCost}. graphql-ws operations execute through the same Envelop, so they pay
 *   from the same budget.
 *
 * Answers over HTTP carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds),
 * and a refusal `Retry-After` (seconds) and status 429.
 */
export class RateLimitGuard {
  private readonly viewers = new WeakMap<Request, Viewer>();
  private readonly decisions = new WeakMap<Request, RateLimitDecision>();

  constructor(private readonly options: RateLimitGuardOptions) {}

  /** The viewer {@link authentication} found for an HTTP request. */
  viewerOf(request: Request | undefined): Viewer | undefined {
    return request ? this.viewers.get(request) : undefined;
  }

  authentication(): Plugin {
    const { limiter, deps, trustProxy } = this.options;
    return {
      onParams: async ({ request, context }) => {
        try {
          this.viewers.set(request, await authenticate(deps, request.headers.get('authorization')));
        } catch (error) {
          if (!(error instanceof AppError)) throw error;
          // Yoga's Node adapter hands the IncomingMessage over in the server context.
          const { req } = context as { req?: IncomingMessage };
          const decision = await limiter.consume('ip', clientIp(req, trustProxy), 1);
          this.decisions.set(request, decision);
          throw decision.allowed ? error : refusal(decision);
        }
      },
      onResponse: ({ request, response }) => {
        const decision = this.decisions.get(request);
        if (!decision) return;
        // A refusal brings its own (through the error's `extensions.http`): do not add them twice.
        for (const [name, value] of Object.entries(rateLimitHeaders(decision))) {
          if (!response.headers.has(name)) response.headers.set(name, value);
        }
      },
    };
  }

  operations(): Plugin<Context & { request?: Request }> {
    const charge = async (context: Context & { request?: Request }, document: DocumentNode, name?: string | null) => {
      const cost = operationCost(document, name, this.options.costs);
      const decision = await this.options.limiter.consume('clinician', context.viewer.id, cost);
      if (context.request) this.decisions.set(context.request, decision);
      return decision.allowed ? undefined : refusal(decision);
    };
    return {
      onExecute: async ({ args, setResultAndStopExecution }) => {
        const refused = await charge(args.contextValue, args.document, args.operationName);
        if (refused) setResultAndStopExecution({ errors: [refused] });
      },
      onSubscribe: async ({ args, setResultAndStopExecution }) => {
        const refused = await charge(args.contextValue, args.document, args.operationName);
        if (refused) setResultAndStopExecution({ errors: [refused] });
      },
    };
  }
}

function refusal(decision: RateLimitDecision): RateLimitedError {
  return new RateLimitedError(decision.retryAfterMs, rateLimitHeaders(decision));
}

/** IETF draft `RateLimit-*` fields (delta seconds), plus `Retry-After` on a refusal. */
export function rateLimitHeaders(decision: RateLimitDecision): Record<string, string> {
  const seconds = (ms: number) => String(Math.ceil(ms / 1000));
  return {
    'RateLimit-Limit': String(decision.limit),
    'RateLimit-Remaining': String(decision.remaining),
    'RateLimit-Reset': seconds(decision.resetMs),
    ...(decision.allowed ? {} : { 'Retry-After': seconds(decision.retryAfterMs) }),
  };
}

/**
 * What an operation costs its clinician. A query costs `costs.query` whatever it selects: reads
 * are bounded by the shape limits (depth, aliases, cost), and a screen's one query should not
 * cost more for asking two things at once. A mutation costs the sum over its root fields —
 * `costs.fields[name]` (`requestDiagnosis`) or `costs.mutation` — so aliasing one write thirty
 * times in one request costs thirty writes. A subscription costs `costs.subscription` to start.
 */
export function operationCost(document: DocumentNode, operationName: string | null | undefined, costs: OperationCosts) {
  const operation = getOperationAST(document, operationName);
  if (!operation) return 0; // Execution will refuse it without running anything.
  if (operation.operation === 'query') return costs.query;
  if (operation.operation === 'subscription') return costs.subscription;
  const fields = rootFieldNames(operation.selectionSet, document);
  const sum = fields.reduce((total, name) => total + (costs.fields[name] ?? costs.mutation), 0);
  return fields.length > 0 ? sum : costs.query;
}

/** Root field names, once per occurrence (aliases count), through fragments; `__typename` is free. */
function rootFieldNames(selectionSet: SelectionSetNode, document: DocumentNode, seen = new Set<string>()): string[] {
  const names: string[] = [];
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value !== '__typename') names.push(selection.name.value);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      names.push(...rootFieldNames(selection.selectionSet, document, seen));
    } else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = document.definitions.find(
        (d) => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === selection.name.value,
      );
      if (fragment?.kind === Kind.FRAGMENT_DEFINITION)
        names.push(...rootFieldNames(fragment.selectionSet, document, seen));
    }
  }
  return names;
}
