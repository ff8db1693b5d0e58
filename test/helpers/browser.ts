import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium, which `scripts/services.sh` installs; playwright-core drives it. */
export const CHROMIUM = '/usr/bin/chromium';

/** Fails at once, before a test starts its stack, when Chromium is not installed. */
export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run scripts/services.sh (it installs Debian's chromium package)`);
  }
}

/**
 * Headless Chromium for a browser test. `launch()` gives it a fresh temporary profile; without the
 * background-networking flags it keeps calling out of this machine's closed network.
 */
export async function launchChromium(): Promise<Browser> {
  requireChromium();
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
