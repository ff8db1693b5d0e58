import { GraphQLError } from 'graphql';
import { createRemoteJWKSet, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import type { AppointmentsAuth } from './config.js';

/** The API's code for a missing, malformed, expired or forged token (its error contract). */
export const UNAUTHENTICATED = 'UNAUTHENTICATED';

export class UnauthenticatedError extends GraphQLError {
  constructor(message = 'A valid bearer token is required') {
    // Yoga turns `extensions.http` into the HTTP status (401) and strips it from the body.
    super(message, { extensions: { code: UNAUTHENTICATED, http: { status: 401 } } });
  }
}

/** What the API accepts (src/auth/jwt.ts): HS256 with its secret, RS256 or ES256 from a key set. */
const SECRET_ALGORITHMS = ['HS256'];
const JWKS_ALGORITHMS = ['RS256', 'ES256'];
/** Clock skew tolerated between the identity provider and this pod (as the API). */
const CLOCK_TOLERANCE_S = 5;
/** Verified tokens remembered, and for how long at most (as the API). */
const CACHE_MAX = 10_000;
const CACHE_TTL_MS = 5 * 60_000;

export interface TokenVerifier {
  /** The clinician id (`sub`) of `Authorization: Bearer <jwt>`, or throws {@link UnauthenticatedError}. */
  verify(authorization: string | null): Promise<string>;
}

/**
 * Verifies tokens as the API does with the same settings: algorithms, `sub` and `exp` required,
 * issuer and audience when configured. With a key set, jose fetches it on first use and again for
 * an unknown `kid` (rotation), at most every 30 s. The API's roles are not checked here: the
 * subgraph serves only what the gateway asks after the API has authorized the clinician.
 */
export function createTokenVerifier(auth: AppointmentsAuth): TokenVerifier {
  const key =
    auth.kind === 'secret' ? new TextEncoder().encode(auth.secret) : createRemoteJWKSet(new URL(auth.jwksUrl));
  const options = {
    algorithms: auth.kind === 'secret' ? SECRET_ALGORITHMS : JWKS_ALGORITHMS,
    requiredClaims: ['sub', 'exp'],
    clockTolerance: CLOCK_TOLERANCE_S,
    ...(auth.issuer ? { issuer: auth.issuer } : {}),
    ...(auth.audience ? { audience: auth.audience } : {}),
  };

  // Every request through the gateway carries the token again, and jose verifies through
  // WebCrypto, which costs more than the rest of a cached read. A JWT cannot be revoked, so a
  // verified one stays valid until `exp`: remembered until then, 5 minutes at most, oldest
  // forgotten first. Only successes are remembered.
  const verified = new Map<string, { readonly sub: string; readonly until: number }>();

  return {
    async verify(authorization) {
      const token = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1] : undefined;
      if (!token) throw new UnauthenticatedError();
      const known = verified.get(token);
      if (known) {
        verified.delete(token);
        if (known.until > Date.now()) {
          // Re-inserted as the most recently used.
          verified.set(token, known);
          return known.sub;
        }
      }
      let payload: JWTPayload;
      try {
        // `key` is either a Uint8Array or a key-set function; jose's overloads need them apart.
        ({ payload } =
          key instanceof Uint8Array ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options));
      } catch (error) {
        throw new UnauthenticatedError(describeJoseError(error));
      }
      const sub = payload.sub?.trim();
      if (!sub || sub.length > 200) throw new UnauthenticatedError('Token has no usable sub claim');
      const until = Math.min(Date.now() + CACHE_TTL_MS, (payload.exp ?? 0) * 1000);
      if (until > Date.now()) {
        if (verified.size >= CACHE_MAX) {
          const oldest = verified.keys().next();
          if (!oldest.done) verified.delete(oldest.value);
        }
        verified.set(token, { sub, until });
      }
      return sub;
    },
  };
}

/** The API's messages; never the token or the key set's address. */
function describeJoseError(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'Token expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `Token rejected: ${error.claim} claim invalid`;
  if (error instanceof joseErrors.JOSEError) return 'Token invalid';
  return 'Token could not be verified';
}
