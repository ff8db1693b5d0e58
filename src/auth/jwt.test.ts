import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ForbiddenError, UnauthenticatedError } from '../errors.js';
import { bearerToken, createTokenVerifier, signToken } from './jwt.js';

const SECRET = 's'.repeat(40);

describe('HS256 verification', () => {
  const verifier = createTokenVerifier({ kind: 'secret', secret: SECRET, issuer: 'copilot', audience: 'api' });

  it('turns claims into a viewer', async () => {
    const token = await signToken(SECRET, {
      sub: 'dr-1',
      name: 'Dr One',
      roles: ['admin'],
      issuer: 'copilot',
      audience: 'api',
    });
    const viewer = await verifier.verify(token);
    expect(viewer).toMatchObject({ id: 'dr-1', name: 'Dr One', roles: ['admin'], isAdmin: true });
    expect(viewer.expiresAt).toBeGreaterThan(Date.now());
  });

  it('checks issuer and audience', async () => {
    const wrongIssuer = await signToken(SECRET, { sub: 'x', roles: ['clinician'], issuer: 'evil', audience: 'api' });
    await expect(verifier.verify(wrongIssuer)).rejects.toBeInstanceOf(UnauthenticatedError);
    const noAudience = await signToken(SECRET, { sub: 'x', roles: ['clinician'], issuer: 'copilot' });
    await expect(verifier.verify(noAudience)).rejects.toBeInstanceOf(UnauthenticatedError);
  });

  it('ignores unknown roles and refuses a token without a known one', async () => {
    const token = await signToken(SECRET, {
      sub: 'x',
      roles: ['superuser' as 'admin'],
      issuer: 'copilot',
      audience: 'api',
    });
    await expect(verifier.verify(token)).rejects.toBeInstanceOf(ForbiddenError);
  });

  it('parses bearer headers strictly', () => {
    expect(bearerToken('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerToken('bearer   abc')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeNull();
    expect(bearerToken('Bearer a b')).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
  });
});

describe('RS256 / ES256 verification through a JWKS endpoint', () => {
  let url: string;
  let server: ReturnType<typeof createServer>;
  const keys: { rsa?: CryptoKey; ec?: CryptoKey; other?: CryptoKey } = {};

  beforeAll(async () => {
    const rsa = await generateKeyPair('RS256');
    const ec = await generateKeyPair('ES256');
    const other = await generateKeyPair('RS256');
    keys.rsa = rsa.privateKey;
    keys.ec = ec.privateKey;
    keys.other = other.privateKey;
    const jwks = {
      keys: [
        { ...(await exportJWK(rsa.publicKey)), kid: 'rsa', alg: 'RS256', use: 'sig' },
        { ...(await exportJWK(ec.publicKey)), kid: 'ec', alg: 'ES256', use: 'sig' },
      ],
    };
    server = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks)),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const sign = (key: CryptoKey | undefined, alg: string, kid: string, claims: { iss?: string; aud?: string } = {}) =>
    new SignJWT({ roles: ['clinician'], name: 'OIDC user' })
      .setProtectedHeader({ alg, kid })
      .setSubject('oidc-user')
      .setIssuer(claims.iss ?? 'https://idp.example')
      .setAudience(claims.aud ?? 'clinical-copilot')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(key as CryptoKey);

  it('accepts RS256 and ES256 tokens from the key set, checking issuer and audience', async () => {
    const verifier = createTokenVerifier({
      kind: 'jwks',
      jwksUrl: url,
      issuer: 'https://idp.example',
      audience: 'clinical-copilot',
    });
    expect((await verifier.verify(await sign(keys.rsa, 'RS256', 'rsa'))).id).toBe('oidc-user');
    expect((await verifier.verify(await sign(keys.ec, 'ES256', 'ec'))).id).toBe('oidc-user');
    await expect(verifier.verify(await sign(keys.other, 'RS256', 'rsa'))).rejects.toBeInstanceOf(UnauthenticatedError);
    await expect(verifier.verify(await sign(keys.rsa, 'RS256', 'rsa', { aud: 'other' }))).rejects.toBeInstanceOf(
      UnauthenticatedError,
    );
    await expect(verifier.verify(await sign(keys.rsa, 'RS256', 'rsa', { iss: 'https://evil' }))).rejects.toBeInstanceOf(
      UnauthenticatedError,
    );
  });

  it('refuses an HS256 token signed with the public key material (algorithm confusion)', async () => {
    const verifier = createTokenVerifier({
      kind: 'jwks',
      jwksUrl: url,
      issuer: 'https://idp.example',
      audience: 'clinical-copilot',
    });
    const hs = await new SignJWT({ roles: ['admin'] })
      .setProtectedHeader({ alg: 'HS256', kid: 'rsa' })
      .setSubject('attacker')
      .setIssuer('https://idp.example')
      .setAudience('clinical-copilot')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(SECRET));
    await expect(verifier.verify(hs)).rejects.toBeInstanceOf(UnauthenticatedError);
  });
});
