/**
 * Runtime feature detection for what arrived after Node 22.12, the oldest Node we support.
 */

/**
 * SO_REUSEPORT with load balancing through `net` and `dgram`: Node ≥ 22.12 (or ≥ 23.1) on Linux
 * and FreeBSD, the platforms Node documents it for that Switchboard supports (not macOS, whose
 * SO_REUSEPORT does not balance connections).
 */
export function supportsReusePort(): boolean {
  if (process.platform !== 'linux' && process.platform !== 'freebsd') return false;
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}
