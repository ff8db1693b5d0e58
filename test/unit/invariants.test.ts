import { describe, expect, it } from 'vitest';
import { DiagnosisLedger } from '../../bench/lib/invariants.js';

const done = (id: string, status = 'COMPLETED', version = 4) => ({ id, status, version });

describe('the chaos invariant checker', () => {
  it('passes a run where every accepted diagnosis ended once and every subscriber saw it', () => {
    const ledger = new DiagnosisLedger();
    ledger.accept('a');
    const log = ledger.subscriber('s1', 'a');
    // A resubscription after a reconnection repeats the version it had: not a step back.
    log.seen.push(done('a', 'QUEUED', 1), done('a', 'RUNNING', 2), done('a', 'RUNNING', 2), done('a'));
    const report = ledger.check(
      [done('a')],
      [
        { diagnosis_id: 'a', version: 1, status: 'QUEUED', report_status: null },
        { diagnosis_id: 'a', version: 4, status: 'COMPLETED', report_status: 'PRELIMINARY' },
        // A clinician's sign-off: the status stays COMPLETED, and it is not a second completion.
        { diagnosis_id: 'a', version: 5, status: 'COMPLETED', report_status: 'AMENDED' },
      ],
    );
    expect(report.violations).toEqual([]);
    expect(report).toMatchObject({ accepted: 1, subscribers: 1, statesSeen: 4, byTerminalStatus: { COMPLETED: 1 } });
  });

  it('names each broken invariant', () => {
    const ledger = new DiagnosisLedger();
    for (const id of ['stuck', 'twice', 'lost']) ledger.accept(id);
    ledger.subscriber('back', 'twice').seen.push(done('twice', 'RUNNING', 3), done('twice', 'RUNNING', 2));
    ledger.subscriber('blind', 'stuck').seen.push(done('stuck', 'RUNNING', 2));
    ledger.subscriber('broken', 'twice').errors.push('socket closed');
    const report = ledger.check(
      [done('stuck', 'RUNNING', 2), done('twice', 'COMPLETED', 6)],
      [
        { diagnosis_id: 'twice', version: 5, status: 'COMPLETED', report_status: 'PRELIMINARY' },
        { diagnosis_id: 'twice', version: 6, status: 'COMPLETED', report_status: 'PRELIMINARY' },
      ],
    );
    expect(report.violations).toEqual(
      expect.arrayContaining([
        'stuck: accepted but still RUNNING',
        'lost: accepted but not in the record',
        'twice: 2 terminal transitions (COMPLETED@v5, COMPLETED@v6)',
        'twice: COMPLETED twice',
        'back on twice: version went back 3 → 2',
        'back on twice: never saw a terminal state (last: RUNNING)',
        'blind on stuck: never saw a terminal state (last: RUNNING)',
        'broken on twice: ended with an error (socket closed)',
      ]),
    );
  });
});
