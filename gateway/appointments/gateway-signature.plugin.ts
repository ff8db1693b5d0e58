import { useHmacSignatureValidation } from '@graphql-mesh/hmac-upstream-signature';
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/** The API's code for a caller that is known but not allowed (its error contract). */
export const FORBIDDEN = 'FORBIDDEN';

export class NotFromGatewayError extends GraphQLError {
  constructor() {
    // Yoga turns `extensions.http` into the HTTP status (403) and strips it from the body.
    super('Only the gateway may call this service: the request has no valid gateway signature', {
      extensions: { code: FORBIDDEN, http: { status: 403 } },
    });
  }
}

/**
 * Serves only requests the gateway signed (its `hmacSignature` option, same secret): base64
 * HMAC-SHA256, in `extensions["hmac-signature"]`, of the request's query and variables (stably
 * serialized), so a signature is good for that exact operation on those exact patient ids and
 * nothing else. Runs on the parsed parameters, before the token is verified or anything executes.
 *
 * Hive's validation plugin does the check; it throws plain errors, which Yoga would mask as an
 * unexpected 500, so every refusal (missing, malformed, or not matching) becomes one FORBIDDEN.
 */
export function useGatewaySignature(secret: string): Plugin {
  // Typed as a gateway plugin, but a Yoga plugin for subgraphs (as Hive documents it): its hooks
  // read only what Yoga gives them (the parameters, fetchAPI, the logger).
  const validation = useHmacSignatureValidation({ secret }) as unknown as Plugin;
  const verify = validation.onParams;
  if (!verify) throw new Error('the HMAC validation plugin has no onParams hook');
  return {
    // The plugin logs through Yoga's logger: a mismatch at `error`, the signed payload at `debug`.
    onYogaInit: validation.onYogaInit,
    async onParams(payload) {
      try {
        await verify(payload);
      } catch {
        throw new NotFromGatewayError();
      }
    },
  };
}
