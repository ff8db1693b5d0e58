/**
 * A lock file holding its owner's pid, so that two processes never open the same data directory
 * (PGlite's files are single-writer: a second `npm start` would open the database, start a worker
 * and only then die on EADDRINUSE). A lock whose pid is no longer running is stale — its owner was
 * killed — and is taken over.
 */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';

/** The directory is held by another running process. */
export class LockHeldError extends Error {
  constructor(
    readonly file: string,
    readonly pid: number,
  ) {
    super(`${file} is held by a running process (pid ${pid})`);
    this.name = 'LockHeldError';
  }
}

/** A held lock; `release()` removes the file if it is still ours (also run at process exit). */
export interface PidLock {
  readonly file: string;
  release(): void;
}

/** Takes the lock at `file` for this process, or throws {@link LockHeldError}. */
export function acquirePidLock(file: string): PidLock {
  // Two attempts: the second follows the removal of a stale lock. If another process removed the
  // same stale lock and won the race, the second attempt sees its live pid and refuses.
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return ownLock(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readPid(file);
    if (holder !== undefined && isRunning(holder)) throw new LockHeldError(file, holder);
    try {
      unlinkSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  const holder = readPid(file);
  throw new LockHeldError(file, holder ?? 0);
}

function ownLock(file: string): PidLock {
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    process.off('exit', release);
    // Only our own lock: a stale-lock takeover by another process must not be undone.
    if (readPid(file) === process.pid) unlinkSync(file);
  };
  process.on('exit', release);
  return { file, release };
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Signal 0 tests for existence; EPERM means the pid exists but belongs to another user. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
