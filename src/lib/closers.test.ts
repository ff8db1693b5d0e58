import { describe, expect, it } from 'vitest';
import { Closers } from './closers.js';

describe('Closers', () => {
  it('closes in the reverse order, and runs every closer even after one fails', async () => {
    const closed: string[] = [];
    const closers = new Closers();
    closers.defer(() => closed.push('database'));
    closers.defer(() => {
      closed.push('redis');
      throw new Error('redis close failed');
    });
    closers.defer(async () => closed.push('nats'));
    await expect(closers.close()).rejects.toThrow('redis close failed');
    expect(closed).toEqual(['nats', 'redis', 'database']);
    // Nothing is closed twice.
    await closers.close();
    expect(closed).toHaveLength(3);
  });

  it('closes what was opened when a start-up step fails, and names the step', async () => {
    const closed: string[] = [];
    const closers = new Closers();
    await closers.open('cannot reach the database', async () => closers.defer(() => closed.push('database')));
    await expect(
      closers.open('cannot reach NATS', async () => {
        throw new Error('connection refused');
      }),
    ).rejects.toThrow('cannot reach NATS: connection refused');
    expect(closed).toEqual(['database']);
  });
});
