/**
 * The signed-in token, kept for this browser tab only (sessionStorage: closing the tab signs out,
 * and no other tab or later visitor finds it).
 */
const KEY = 'clinical-copilot.token';

export function savedToken(): string | undefined {
  return sessionStorage.getItem(KEY) ?? undefined;
}

export function saveToken(token: string | undefined): void {
  if (token) sessionStorage.setItem(KEY, token);
  else sessionStorage.removeItem(KEY);
}

/** The token `npm start` signed for its demo clinician, if the server put one in the page. */
export function demoToken(): string | undefined {
  const element = document.getElementById('console-config');
  if (!element?.textContent) return undefined;
  try {
    const config = JSON.parse(element.textContent) as { demoToken?: unknown };
    return typeof config.demoToken === 'string' ? config.demoToken : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `text` looks like a JWT at all (three base64url parts); the API decides whether it is valid. */
export function looksLikeJwt(text: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(text);
}
