/**
 * The Node.js this runs on: the version check every entry point makes at load (importing this
 * module throws on a Node.js older than {@link MINIMUM_NODE_VERSION}, before anything fails
 * obscurely, as `Promise.withResolvers is not a function`), and detection of what arrived after
 * that version.
 */
import { ErrorCode, SwitchboardError } from './errors.ts';

/** The oldest Node.js Switchboard runs on: package.json's `engines` (`>=22.12`). */
export const MINIMUM_NODE_VERSION = '22.12';

/** `[major, minor]` of a version such as `22.12.0` or `v24.1.0-pre`. */
function majorMinor(version: string): [number, number] {
  const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map((part) => Number.parseInt(part, 10));
  return [major, minor];
}

/**
 * What is wrong with running on Node.js `version`, or undefined when it is recent enough.
 * @example
 * unsupportedNodeMessage('20.18.0'); // 'Switchboard needs Node.js 22.12 or newer; this is Node.js 20.18.0'
 */
export function unsupportedNodeMessage(version: string = process.versions.node): string | undefined {
  const [major, minor] = majorMinor(version);
  const [needMajor, needMinor] = majorMinor(MINIMUM_NODE_VERSION);
  if (major > needMajor || (major === needMajor && minor >= needMinor)) return undefined;
  return `Switchboard needs Node.js ${MINIMUM_NODE_VERSION} or newer; this is Node.js ${version.replace(/^v/, '')}`;
}

/**
 * Throws on a Node.js older than {@link MINIMUM_NODE_VERSION}; called once, when this module loads.
 * @throws {SwitchboardError} `SWB_ERR_UNSUPPORTED_NODE` naming the version needed and the one running
 */
export function assertSupportedNode(version: string = process.versions.node): void {
  const message = unsupportedNodeMessage(version);
  if (message !== undefined) throw new SwitchboardError(ErrorCode.UNSUPPORTED_NODE, message);
}

assertSupportedNode();

/**
 * SO_REUSEPORT with load balancing through `net` and `dgram`: Node >= 22.12 (or >= 23.1) on Linux
 * and FreeBSD, the platforms Node documents it for that Switchboard supports (not macOS, whose
 * SO_REUSEPORT does not balance connections).
 */
export function supportsReusePort(): boolean {
  if (process.platform !== 'linux' && process.platform !== 'freebsd') return false;
  const [major, minor] = majorMinor(process.versions.node);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}
