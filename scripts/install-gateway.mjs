// Root `postinstall`: installs the gateway package (gateway/, its own lock: Hive Gateway's ~750
// packages stay out of the API's dependencies and image) so `npm install` then `npm test` is all a
// fresh clone needs. `npm ci` at the root gives `npm ci` here too: CI installs exactly both locks.
// GATEWAY_INSTALL=skip leaves it out (an image build that has no gateway/ folder, for example).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (process.env.GATEWAY_INSTALL === 'skip' || !existsSync('gateway/package.json')) process.exit(0);
const command = process.env.npm_command === 'ci' ? 'ci' : 'install';
const npm = process.env.npm_execpath;
const [file, args] = npm ? [process.execPath, [npm]] : ['npm', []];
const result = spawnSync(file, [...args, command, '--prefix', 'gateway', '--no-audit', '--no-fund'], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
