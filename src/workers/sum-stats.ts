/**
 * One view of many workers: their ledgers added up field by field, and a dead worker's last
 * ledger kept (its gauges zeroed) so that every counter stays monotonic across a restart.
 */

/** The fields that are levels, not counts: a dead worker holds none open. */
const GAUGES = new Set(['listeners', 'sessions', 'pending', 'waiting', 'queued', 'inFlight', 'pendingReplies', 'sources', 'peakSessions']);

type Ledger = Readonly<Record<string, unknown>>;

/** `a + b`, field by field, recursively; fields only one side has are kept. @internal */
export function addLedgers<T>(a: T | undefined, b: T | undefined): T | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  const sum: Record<string, unknown> = { ...(a as Ledger) };
  for (const [key, value] of Object.entries(b as Ledger)) {
    const mine = sum[key];
    if (typeof value === 'number') sum[key] = (typeof mine === 'number' ? mine : 0) + value;
    else if (typeof value === 'object' && value !== null) sum[key] = addLedgers(mine as Ledger | undefined, value as Ledger);
    else sum[key] ??= value;
  }
  return sum as T;
}

/** The ledger of a worker that is gone: its counters, every gauge 0. @internal */
export function retiredLedger<T>(ledger: T | undefined): T | undefined {
  if (ledger === undefined) return undefined;
  const retired: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(ledger as Ledger)) {
    if (GAUGES.has(key) && typeof value === 'number') retired[key] = 0;
    else if (typeof value === 'object' && value !== null) retired[key] = retiredLedger(value);
    else retired[key] = value;
  }
  return retired as T;
}
