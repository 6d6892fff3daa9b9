/**
 * Counts the bytes a codec scans with `Buffer#indexOf` and `#lastIndexOf` (the most each call
 * can look at) and the `Buffer.concat` calls it makes, so tests can assert linear-time decoding
 * without timing anything.
 */

/** What `run` did to buffers. */
export interface ScanCount {
  /** Bytes each call could search: from the start offset to the end (`indexOf`), or back to 0 (`lastIndexOf`). */
  scannedBytes: number;
  concatCalls: number;
}

/** Runs `run` with `Buffer#indexOf`, `Buffer#lastIndexOf` and `Buffer.concat` instrumented, restoring them after. */
export function countScans(run: () => void): ScanCount {
  const indexOf = Buffer.prototype.indexOf;
  const lastIndexOf = Buffer.prototype.lastIndexOf;
  const concat = Buffer.concat;
  const count: ScanCount = { scannedBytes: 0, concatCalls: 0 };
  Buffer.prototype.indexOf = function (this: Buffer, value: string | number | Uint8Array, byteOffset?: number, encoding?: BufferEncoding) {
    const start = typeof byteOffset === 'number' ? (byteOffset < 0 ? Math.max(0, this.length + byteOffset) : byteOffset) : 0;
    count.scannedBytes += Math.max(0, this.length - start);
    return indexOf.call(this, value, byteOffset, encoding);
  } as typeof indexOf;
  Buffer.prototype.lastIndexOf = function (this: Buffer, value: string | number | Uint8Array, byteOffset?: number, encoding?: BufferEncoding) {
    const end = typeof byteOffset === 'number' ? (byteOffset < 0 ? this.length + byteOffset : byteOffset) : this.length;
    count.scannedBytes += Math.max(0, Math.min(end + 1, this.length));
    return lastIndexOf.call(this, value, byteOffset, encoding);
  } as typeof lastIndexOf;
  Buffer.concat = ((list: readonly Uint8Array[], totalLength?: number) => {
    count.concatCalls++;
    return concat(list, totalLength);
  }) as typeof concat;
  try {
    run();
  } finally {
    Buffer.prototype.indexOf = indexOf;
    Buffer.prototype.lastIndexOf = lastIndexOf;
    Buffer.concat = concat;
  }
  return count;
}
