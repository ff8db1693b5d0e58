import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const gatewayDir = new URL('../../gateway/', import.meta.url).pathname;

describe('the committed supergraph (gateway/)', () => {
  it('is what composing the current subgraph SDLs gives (run `npm run compose` after `npm run generate`)', () => {
    const check = spawnSync(process.execPath, ['--import', 'tsx', 'compose.ts', '--check'], {
      cwd: gatewayDir,
      encoding: 'utf8',
    });
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
  }, 60_000);

  it('joins both subgraphs, with Patient resolvable in each and appointments on Patient', () => {
    const supergraph = readFileSync(`${gatewayDir}supergraph.graphql`, 'utf8');
    expect(supergraph).toMatch(/APPOINTMENTS @join__graph\(name: "appointments"/);
    expect(supergraph).toMatch(/COPILOT @join__graph\(name: "copilot"/);
    const patient = /type Patient[^{]*\{[\s\S]*?\n\}/.exec(supergraph)?.[0] ?? '';
    expect(patient).toContain('@join__type(graph: APPOINTMENTS, key: "id")');
    expect(patient).toContain('@join__type(graph: COPILOT, key: "id")');
    expect(patient).toMatch(
      /appointments\(upcomingOnly: Boolean = false\): \[Appointment!\]! @join__field\(graph: APPOINTMENTS\)/,
    );
    // The subscriptions come from the API alone: the gateway forwards them there.
    expect(supergraph).toMatch(/type Subscription\s+@join__type\(graph: COPILOT\)/);
  });
});
