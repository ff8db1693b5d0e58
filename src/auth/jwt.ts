import { createRemoteJWKSet, type JWTPayload, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { LRUCache } from 'lru-cache';
import type { AuthConfig } from '../config.js';
import { ForbiddenError, UnauthenticatedError } from '../errors.js';
import { ROLES, type Role } from '../modules/clinician/clinician.entity.js';

/** The authenticated clinician behind a request or a WebSocket. */
export interface Viewer {
  /** The token's `sub`, which is also the clinician's id. */
  readonly id: string;
  readonly name: string;
  readonly roles: readonly Role[];
  readonly isAdmin: boolean;
  /** Epoch milliseconds at which the token expires. */
  readonly expiresAt: number;
}

export interface TokenVerifier {
  /** Resolves the viewer, or throws `UnauthenticatedError` / `ForbiddenError`. */
  verify(token: string): Promise<Viewer>;
}

const SECRET_ALGORITHMS = ['HS256'];
const JWKS_ALGORITHMS = ['RS256', 'ES256'];
/** Clock skew tolerated between the identity provider and this pod. */
const CLOCK_TOLERANCE_S = 5;

/** How tokens are judged beyond their signature and claims. */
export interface TokenPolicy {
  /** Longest lifetime accepted: `exp` − `iat`, and `exp` − now (default 24 h). */
  maxTtlSeconds?: number;
}

const DEFAULT_MAX_TTL_S = 24 * 60 * 60;

export function createTokenVerifier(auth: AuthConfig, policy: TokenPolicy = {}): TokenVerifier {
  const maxTtlSeconds = policy.maxTtlSeconds ?? DEFAULT_MAX_TTL_S;
  const key =
    auth.kind === 'secret' ? new TextEncoder().encode(auth.secret) : createRemoteJWKSet(new URL(auth.jwksUrl));
  const options = {
    algorithms: auth.kind === 'secret' ? SECRET_ALGORITHMS : JWKS_ALGORITHMS,
    requiredClaims: ['sub', 'exp'],
    clockTolerance: CLOCK_TOLERANCE_S,
    ...(auth.issuer ? { issuer: auth.issuer } : {}),
    ...(auth.audience ? { audience: auth.audience } : {}),
  };

  // jose verifies through WebCrypto, which costs far more than the rest of a cached read. A token
  // that verified once stays valid until it expires (JWTs cannot be revoked), so a pod remembers
  // verified tokens until then — bounded in number and never past `exp`.
  const verified = new LRUCache<string, Viewer>({ max: 10_000, ttl: 5 * 60_000, ttlAutopurge: false });

  return {
    async verify(token) {
      const known = verified.get(token);
      if (known) {
        if (known.expiresAt > Date.now()) return known;
        verified.delete(token);
        throw new UnauthenticatedError('Token expired');
      }
      let payload: JWTPayload;
      try {
        // `key` is either a Uint8Array or a key-set function; jose's overloads need them apart.
        ({ payload } =
          key instanceof Uint8Array ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options));
      } catch (error) {
        throw new UnauthenticatedError(describeJoseError(error));
      }
      // A stolen token is good until it expires: one valid for a century is a key for a century.
      // `iat` alone would not do (a client may set it just before a far `exp`), nor `exp` − now
      // alone (a long-lived token would pass once most of its life is over).
      const now = Date.now() / 1000;
      const lifetime = (payload.exp ?? 0) - Math.min(payload.iat ?? now, now);
      if (lifetime > maxTtlSeconds + CLOCK_TOLERANCE_S) {
        throw new UnauthenticatedError('Token rejected: lifetime exceeds the maximum');
      }
      const viewer = viewerFromClaims(payload);
      verified.set(token, viewer, { ttl: Math.max(1, Math.min(5 * 60_000, viewer.expiresAt - Date.now())) });
      return viewer;
    },
  };
}

function describeJoseError(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'Token expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `Token rejected: ${error.claim} claim invalid`;
  if (error instanceof joseErrors.JOSEError) return 'Token invalid';
  return 'Token could not be verified';
}

export function viewerFromClaims(payload: JWTPayload): Viewer {
  const sub = payload.sub?.trim();
  if (!sub || sub.length > 200) throw new UnauthenticatedError('Token has no usable sub claim');
  const claimed = Array.isArray(payload.roles) ? payload.roles : [];
  const roles = ROLES.filter((role) => claimed.includes(role));
  if (roles.length === 0) throw new ForbiddenError('Token grants no Clinical Copilot role');
  const name = typeof payload.name === 'string' && payload.name.trim() ? payload.name.trim().slice(0, 200) : sub;
  return Object.freeze({
    id: sub,
    name,
    roles,
    isAdmin: roles.includes('admin'),
    expiresAt: (payload.exp ?? 0) * 1000,
  });
}

/** The token of an `Authorization: Bearer …` value, or null. */
export function bearerToken(header: unknown): string | null {
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

export interface TokenClaims {
  sub: string;
  name?: string;
  roles: readonly Role[];
  /** A jose time span such as `12h`, `15m`, or seconds. */
  ttl?: string | number;
  issuer?: string;
  audience?: string;
}

/** Signs an HS256 token: for `npm run token`, the embedded demo token and tests. */
export async function signToken(secret: string, claims: TokenClaims): Promise<string> {
  let jwt = new SignJWT({ name: claims.name ?? claims.sub, roles: [...claims.roles] })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuedAt();
  const ttl = claims.ttl ?? '12h';
  jwt =
    typeof ttl === 'number' ? jwt.setExpirationTime(Math.floor(Date.now() / 1000) + ttl) : jwt.setExpirationTime(ttl);
  if (claims.issuer) jwt = jwt.setIssuer(claims.issuer);
  if (claims.audience) jwt = jwt.setAudience(claims.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
