import type { IncomingMessage } from 'node:http';
import { type DocumentNode, type GraphQLSchema, getOperationAST, Kind, type SelectionSetNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Viewer } from '../auth/jwt.js';
import type { OperationCosts } from '../config.js';
import { AppError, CostLimitError, RateLimitedError } from '../errors.js';
import { clientIp, type RateLimitDecision, type RateLimiter } from '../lib/rate-limit.js';
import { authenticate, type Context, type ContextDeps } from './context.js';
import { estimateCost } from './cost.js';

export interface RateLimitGuardOptions {
  limiter: RateLimiter;
  costs: OperationCosts;
  /** The cost bound: operations that could return this many objects or more are refused. */
  maxCost: number;
  deps: ContextDeps;
  trustProxy: boolean;
}

/** What one operation costs: the objects it could return, and the points it is charged. */
export interface OperationPrice {
  /** The cost estimate ({@link estimateCost}); `Infinity` is possible. */
  readonly objects: number;
  /** Whether the estimate reaches the cost bound: the operation is refused, still charged. */
  readonly overLimit: boolean;
  readonly points: number;
}

/**
 * Rate limits of GraphQL operations, and the cost bound, over HTTP, SSE and graphql-ws alike.
 *
 * - {@link authentication} (HTTP) verifies the token once per request, before parsing. A missing
 *   or failed token costs the client address one point of its budget; past that budget the answer
 *   is `RATE_LIMITED` (429) instead of `UNAUTHENTICATED`. Authenticated traffic never touches the
 *   address's budget, so one clinician's flood cannot throttle a colleague behind the same NAT.
 * - {@link operations} prices each operation when it is about to execute or subscribe — with the
 *   variables it will run with, which validation never sees (and Yoga caches validation per
 *   document, so a variable-dependent rule there would answer for the first variables forever) —
 *   charges its clinician (see {@link priceOf}), and refuses it when it is over the cost bound.
 *   An operation that never gets that far — unparsable, invalid, over a shape limit, an unknown
 *   persisted hash — is charged when its answer is ready: refusals are not free to repeat.
 *   graphql-ws runs through the same Envelop and charges its own refusals through {@link charge}.
 *
 * Answers over HTTP carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds),
 * and a refusal `Retry-After` (seconds) and status 429.
 */
export class RateLimitGuard {
  private readonly viewers = new WeakMap<Request, Viewer>();
  private readonly decisions = new WeakMap<Request, RateLimitDecision>();
  /** The document each operation's context validated (and against which schema), to price a refusal by. */
  private readonly validated = new WeakMap<object, PricedOperation>();
  /** Operation contexts already charged. */
  private readonly charged = new WeakSet<object>();

  constructor(private readonly options: RateLimitGuardOptions) {}

  /** The viewer {@link authentication} found for an HTTP request. */
  viewerOf(request: Request | undefined): Viewer | undefined {
    return request ? this.viewers.get(request) : undefined;
  }

  /**
   * Authenticates an HTTP request by its `Authorization` header and remembers its viewer; a failure
   * costs the client's address a point and throws (`RATE_LIMITED` past the address's budget). What
   * {@link authentication} does for Yoga, for transports that bypass Yoga's request pipeline
   * (graphql-sse's single connection mode).
   */
  async authenticateRequest(request: Request, req: IncomingMessage | undefined): Promise<Viewer> {
    const { limiter, deps, trustProxy } = this.options;
    try {
      const viewer = await authenticate(deps, request.headers.get('authorization'));
      this.viewers.set(request, viewer);
      return viewer;
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      const decision = await limiter.consume('ip', clientIp(req, trustProxy), 1);
      this.decisions.set(request, decision);
      throw decision.allowed ? error : refusal(decision);
    }
  }

  authentication(): Plugin {
    return {
      onParams: async ({ request, context }) => {
        // Yoga's Node adapter hands the IncomingMessage over in the server context.
        await this.authenticateRequest(request, (context as { req?: IncomingMessage }).req);
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

  /**
   * The price of an operation: its base points ({@link basePoints}) plus one point per
   * `costs.objectsPerPoint` objects it could return, counted up to the bound — so the largest
   * operation allowed, and any refused for its cost, pay the same. No document (it did not parse)
   * is priced as a query.
   */
  priceOf(operation: PricedOperation | undefined): OperationPrice {
    const { costs, maxCost } = this.options;
    const objects = operation
      ? estimateCost(operation.schema, operation.document, operation.operationName, operation.variables)
      : 0;
    const base = operation ? basePoints(operation.document, operation.operationName, costs) : costs.query;
    const share = Math.floor(Math.min(objects, maxCost) / costs.objectsPerPoint);
    return { objects, overLimit: objects >= maxCost, points: Math.max(base, costs.query) + share };
  }

  /**
   * Charges an operation about to run to its clinician. The answer is its refusal, if any:
   * `RATE_LIMITED` when its points do not fit (nothing is taken), else `BAD_USER_INPUT` when it
   * is over the cost bound (the points are taken: probing the bound is not free).
   */
  async admit(viewerId: string, operation: PricedOperation, request?: Request): Promise<AppError | undefined> {
    const price = this.priceOf(operation);
    const refused = await this.charge(viewerId, price, request);
    return refused ?? (price.overLimit ? new CostLimitError(price.objects, this.options.maxCost) : undefined);
  }

  /**
   * Charges an operation refused before it could run (unparsable, invalid, over a shape limit):
   * `RATE_LIMITED`, to answer instead, when even its points do not fit.
   */
  chargeRefusal(
    viewerId: string,
    operation: PricedOperation | undefined,
    request?: Request,
  ): Promise<RateLimitedError | undefined> {
    return this.charge(viewerId, this.priceOf(operation), request);
  }

  private async charge(viewerId: string, price: OperationPrice, request?: Request) {
    const decision = await this.options.limiter.consume('clinician', viewerId, price.points);
    if (request) this.decisions.set(request, decision);
    return decision.allowed ? undefined : refusal(decision);
  }

  operations(): Plugin<Context & { request?: Request }> {
    const admit = async (args: {
      schema: GraphQLSchema;
      document: DocumentNode;
      operationName?: string | null | undefined;
      variableValues?: Readonly<Record<string, unknown>> | null | undefined;
      contextValue: Context & { request?: Request };
    }) => {
      this.charged.add(args.contextValue);
      const { schema, document, operationName, variableValues: variables, contextValue } = args;
      return this.admit(contextValue.viewer.id, { schema, document, operationName, variables }, contextValue.request);
    };
    return {
      onValidate: ({ context, params }) => {
        this.validated.set(context, { schema: params.schema, document: params.documentAST });
      },
      onExecute: async ({ args, setResultAndStopExecution }) => {
        const refused = await admit(args);
        if (refused) setResultAndStopExecution({ errors: [refused] });
      },
      onSubscribe: async ({ args, setResultAndStopExecution }) => {
        const refused = await admit(args);
        if (refused) setResultAndStopExecution({ errors: [refused] });
      },
      // Yoga (HTTP and SSE): the answer to an operation that never reached execution.
      onExecutionResult: async ({ request, context, setResult }) => {
        const viewer = this.viewerOf(request);
        if (!viewer || this.charged.has(context)) return;
        this.charged.add(context);
        const { params } = context as { params?: { operationName?: string | null; variables?: unknown } };
        const validated = this.validated.get(context);
        const variables = isRecord(params?.variables) ? params.variables : null;
        const operation = validated && { ...validated, operationName: params?.operationName ?? null, variables };
        const refused = await this.chargeRefusal(viewer.id, operation, request);
        if (refused) setResult({ errors: [refused] });
      },
    };
  }
}

/** An operation to price: its document, the schema it runs against, and its variables. */
export interface PricedOperation {
  readonly schema: GraphQLSchema;
  readonly document: DocumentNode;
  readonly operationName?: string | null | undefined;
  readonly variables?: Readonly<Record<string, unknown>> | null | undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
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
 * The base points of an operation, before its share of the cost estimate (see
 * {@link RateLimitGuard.priceOf}). A query costs `costs.query`, a subscription
 * `costs.subscription` to start. A mutation costs the sum over its root fields —
 * `costs.fields[name]` (`requestDiagnosis`) or `costs.mutation` — so aliasing one write thirty
 * times in one request costs thirty writes.
 */
export function basePoints(document: DocumentNode, operationName: string | null | undefined, costs: OperationCosts) {
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
