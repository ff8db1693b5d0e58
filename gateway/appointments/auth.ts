import { GraphQLError } from 'graphql';
import { errors as joseErrors, jwtVerify } from 'jose';

/** The API's code for a missing, malformed, expired or forged token (its error contract). */
export const UNAUTHENTICATED = 'UNAUTHENTICATED';

export class UnauthenticatedError extends GraphQLError {
  constructor(message = 'A valid bearer token is required') {
    // Yoga turns `extensions.http` into the HTTP status (401) and strips it from the body.
    super(message, { extensions: { code: UNAUTHENTICATED, http: { status: 401 } } });
  }
}

/** Clock skew tolerated between the identity provider and this pod (as the API). */
const CLOCK_TOLERANCE_S = 5;

/**
 * Verifies `Authorization: Bearer <jwt>` as the API does with a shared secret: HS256, `sub` and
 * `exp` required. Returns the clinician id (`sub`).
 */
export async function verifyBearer(header: string | null, secret: Uint8Array): Promise<string> {
  const token = header ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
  if (!token) throw new UnauthenticatedError();
  try {
    const { payload } = await jwtVerify(token, secret, {
      algorithms: ['HS256'],
      requiredClaims: ['sub', 'exp'],
      clockTolerance: CLOCK_TOLERANCE_S,
    });
    const sub = payload.sub?.trim();
    if (!sub) throw new UnauthenticatedError('Token has no usable sub claim');
    return sub;
  } catch (error) {
    if (error instanceof UnauthenticatedError) throw error;
    throw new UnauthenticatedError(error instanceof joseErrors.JWTExpired ? 'Token expired' : 'Token invalid');
  }
}
