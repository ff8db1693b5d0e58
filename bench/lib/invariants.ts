/**
 * The invariants a fault must never break, checked after a run with faults (the chaos test, the
 * chaos bench): what clients were told and saw is recorded here as it happens, then compared with
 * the durable record.
 *
 * 1. Every accepted `requestDiagnosis` reached exactly one terminal state.
 * 2. No diagnosis has two COMPLETED versions (nor any second terminal transition).
 * 3. Every subscriber that stayed, or reconnected and subscribed again, saw its diagnosis's
 *    terminal state — the same one the record holds.
 * 4. No client ever saw a version go back (a resubscription may repeat the version it had).
 */

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

/** One state a subscriber received. */
export interface SeenState {
  id: string;
  status: string;
  version: number;
}

/** One subscriber's view of one diagnosis, in the order received. */
export interface SubscriberLog {
  readonly name: string;
  readonly diagnosisId: string;
  readonly seen: SeenState[];
  /** Errors the subscription ended with (it then cannot be expected to see the outcome). */
  readonly errors: string[];
}

/** A row of the durable transition history (`diagnosis_transition`). */
export interface TransitionRow {
  diagnosis_id: string;
  version: number;
  status: string;
  /** FINAL, AMENDED or REJECTED on a clinician's sign-off, which is not a second terminal transition. */
  report_status: string | null;
}

const SIGN_OFF = new Set(['FINAL', 'AMENDED', 'REJECTED']);

/** A row of the durable record (`diagnosis`). */
export interface DiagnosisRow {
  id: string;
  status: string;
  version: number;
}

export interface InvariantReport {
  accepted: number;
  subscribers: number;
  /** Deliveries counted over all subscribers. */
  statesSeen: number;
  byTerminalStatus: Record<string, number>;
  violations: string[];
}

/** Records what a run's clients were told, and checks it against the record at the end. */
export class DiagnosisLedger {
  private readonly accepted = new Set<string>();
  private readonly subscribers: SubscriberLog[] = [];

  /** A `requestDiagnosis` answered with this diagnosis (QUEUED): the system owes it an outcome. */
  accept(id: string): void {
    this.accepted.add(id);
  }

  /** A subscriber of `diagnosisId`; push every state it receives into the returned log. */
  subscriber(name: string, diagnosisId: string): SubscriberLog {
    const log: SubscriberLog = { name, diagnosisId, seen: [], errors: [] };
    this.subscribers.push(log);
    return log;
  }

  get acceptedCount(): number {
    return this.accepted.size;
  }

  /** Accepted diagnoses not yet terminal in `rows` (to wait on before checking). */
  unfinished(rows: readonly DiagnosisRow[]): string[] {
    const terminal = new Set(rows.filter((r) => TERMINAL.has(r.status)).map((r) => r.id));
    return [...this.accepted].filter((id) => !terminal.has(id));
  }

  /** Every invariant against the durable record; a violation is a sentence naming the diagnosis. */
  check(rows: readonly DiagnosisRow[], transitions: readonly TransitionRow[]): InvariantReport {
    const violations: string[] = [];
    const byId = new Map(rows.map((r) => [r.id, r]));
    const terminalsOf = new Map<string, TransitionRow[]>();
    for (const t of transitions) {
      if (!TERMINAL.has(t.status) || (t.report_status !== null && SIGN_OFF.has(t.report_status))) continue;
      terminalsOf.set(t.diagnosis_id, [...(terminalsOf.get(t.diagnosis_id) ?? []), t]);
    }
    const byTerminalStatus: Record<string, number> = {};
    for (const id of this.accepted) {
      const row = byId.get(id);
      const terminals = terminalsOf.get(id) ?? [];
      if (!row) violations.push(`${id}: accepted but not in the record`);
      else if (!TERMINAL.has(row.status)) violations.push(`${id}: accepted but still ${row.status}`);
      else byTerminalStatus[row.status] = (byTerminalStatus[row.status] ?? 0) + 1;
      if (terminals.length > 1) {
        const what = terminals.map((t) => `${t.status}@v${t.version}`).join(', ');
        violations.push(`${id}: ${terminals.length} terminal transitions (${what})`);
      }
      if (row && TERMINAL.has(row.status) && terminals.length === 0) {
        violations.push(`${id}: ${row.status} without a terminal transition in the history`);
      }
    }
    for (const [id, terminals] of terminalsOf) {
      if (terminals.filter((t) => t.status === 'COMPLETED').length > 1) violations.push(`${id}: COMPLETED twice`);
    }
    let statesSeen = 0;
    for (const log of this.subscribers) {
      statesSeen += log.seen.length;
      const label = `${log.name} on ${log.diagnosisId}`;
      for (let i = 1; i < log.seen.length; i++) {
        const [before, after] = [log.seen[i - 1] as SeenState, log.seen[i] as SeenState];
        if (after.version < before.version)
          violations.push(`${label}: version went back ${before.version} → ${after.version}`);
      }
      if (log.seen.some((s) => s.id !== log.diagnosisId)) violations.push(`${label}: received another diagnosis`);
      if (log.errors.length > 0) {
        violations.push(`${label}: ended with an error (${log.errors[0]})`);
        continue;
      }
      const last = log.seen.at(-1);
      const row = byId.get(log.diagnosisId);
      if (!last || !TERMINAL.has(last.status))
        violations.push(`${label}: never saw a terminal state (last: ${last?.status})`);
      else if (row && last.status !== row.status)
        violations.push(`${label}: saw ${last.status}, the record says ${row.status}`);
      const terminalsSeen = new Set(
        log.seen.filter((s) => TERMINAL.has(s.status)).map((s) => `${s.status}@${s.version}`),
      );
      if (terminalsSeen.size > 1) violations.push(`${label}: saw ${[...terminalsSeen].join(' and ')}`);
    }
    return {
      accepted: this.accepted.size,
      subscribers: this.subscribers.length,
      statesSeen,
      byTerminalStatus,
      violations,
    };
  }
}
