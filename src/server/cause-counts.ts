/**
 * Counts by cause, for the ledgers both servers keep (`stats().rejectedBy` for TCP,
 * `stats().dropped` for UDP): one counter per value of a const object of causes.
 */

/** A zero for every cause in `causes` (a const object such as `RejectCause`). */
export function zeroCounts<const Causes extends Record<string, string>>(causes: Causes): Record<Causes[keyof Causes], number> {
  const counts = {} as Record<Causes[keyof Causes], number>;
  for (const cause of Object.values(causes) as Causes[keyof Causes][]) counts[cause] = 0;
  return counts;
}
