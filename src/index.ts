/**
 * Switchboard: socket servers for TypeScript. The public API, and nothing else.
 * @module
 */
import './features.ts'; // first: on a Node.js too old, fail at load saying which version is needed
export { listen, TcpServer } from './tcp-server.ts';
export type { TcpServerStats, TcpServerEvents, RejectedConnection } from './tcp-server.ts';
export type { TcpServerOptions } from './tcp-options.ts';
export { DEFAULT_IDLE_TIMEOUT } from './tcp-options.ts';
export type { EventHandler, SessionFunction, TcpHandler, MaybePromise } from './handlers.ts';
export { TcpSession, SessionState } from './session.ts';
export { EventSession } from './event-session.ts';
export { AsyncSession } from './async-session.ts';
export { CloseCause } from './close-reason.ts';
export type { CloseReason } from './close-reason.ts';
export type { ConnectionInfo } from './connection-info.ts';
export { ServerState, DEFAULT_CLOSE_TIMEOUT } from './server-lifecycle.ts';
export type { CloseOptions } from './server-lifecycle.ts';
export type { BoundAddress } from './listener-group.ts';
export { resolveListenTargets, unmapAddress, hostHasIPv6, lookupAll } from './addresses.ts';
export type { AddressFamily, HostSpec, ListenTarget, LookupAddress, LookupFunction } from './addresses.ts';
export { ErrorCode, SwitchboardError, InvalidOptionError, OpError, ListenError } from './errors.ts';
export type { OpContext, Transport } from './errors.ts';
export { supportsReusePort } from './features.ts';
export type { BroadcastOptions } from './tcp-server.ts';
export { RejectReason } from './admission/reject-reason.ts';
export { DEFAULT_ACCEPT_TIMEOUT, DEFAULT_MAX_BUFFERED_OUTPUT, MAX_BUSY_MESSAGE_LENGTH } from './admission/limit-options.ts';
export type { LimitOptions, ThrottleLimits } from './admission/limit-options.ts';
export type { AccessRuleSet, AddressList } from './admission/access-rules.ts';
export { framed } from './framing/framed.ts';
export type { FramedEventHandler, FramedSessionHandler } from './framing/framed.ts';
export type { FrameHandler, FramedSessionFunction } from './framing/frame-handler.ts';
export { FramedEventSession } from './framing/framed-event-session.ts';
export { FramedAsyncSession } from './framing/framed-async-session.ts';
export { DEFAULT_PARTIAL_FRAME_TIMEOUT } from './framing/framing-options.ts';
export type { FramingOptions } from './framing/framing-options.ts';
export { listenUdp, UdpServer } from './udp/udp-server.ts';
export type { UdpServerStats, UdpServerEvents, UdpHandler, UdpEventHandler } from './udp/udp-server.ts';
export { Datagram } from './udp/datagram.ts';
export { DropReason } from './udp/udp-ledger.ts';
export type { DropCounts, UdpDropSummary } from './udp/udp-ledger.ts';
export { UDP_DEFAULTS } from './udp/udp-options.ts';
export type { UdpServerOptions, UdpRateLimit } from './udp/udp-options.ts';
export {
  CodecError,
  DEFAULT_MAX_FRAME_LENGTH,
  DEFAULT_MAX_LINE_LENGTH,
  createLineCodec,
  createDelimiterCodec,
  createLengthFieldCodec,
  createFixedLengthCodec,
} from './codecs/index.ts';
export type {
  FrameCodec,
  FrameInput,
  CodecErrorCode,
  LineCodecOptions,
  LineEncoding,
  DelimiterCodecOptions,
  ByteOrder,
  LengthFieldCodecOptions,
  LengthFieldLength,
  FixedLengthCodecOptions,
} from './codecs/index.ts';
