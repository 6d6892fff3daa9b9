/**
 * Socket activation and service-manager notification: the pieces the servers and the CLI will
 * be wired to (docs/systemd.md). Not exported from the package root yet.
 * @module
 */
export { ActivationError } from '../net/activation-error.ts';
export { LISTEN_FDS_START, UNNAMED_FD, parseListenEnvironment, takeListenEnvironment } from '../net/listen-env.ts';
export type { ListenEnvironment, ListenEnvironmentOptions, ListenFdEntry, ParsedListenEnvironment } from '../net/listen-env.ts';
export { listenFds, inspectListenFds, selectListenFds, assertAdoptable, adoptStreamFd, adoptDatagramFd, datagramTypeOf, describeListenFd } from '../net/listen-fds.ts';
export type { ListenFd, ListenFdKind, ListenFdSet, ListenFdSelection, ListenFdsOptions, AdoptedAddress } from '../net/listen-fds.ts';
export { inspectFds, parseInetTable, parseUnixTable, socketInodeOf, closeOnExecOf } from '../net/proc-sockets.ts';
export type { FdInspection, ProcSocket, SocketFamily, SocketKind, SocketState } from '../net/proc-sockets.ts';
export { inetdConnection } from './inetd.ts';
export type { InetdConnection, InetdOptions, InetdOrigin } from './inetd.ts';
export { ServiceNotifier, DEFAULT_NOTIFY_HELPER_TIMEOUT, watchdogIntervalOf } from './notify.ts';
export type { ServiceNotifierOptions, ServiceNotifierEvents, NotifyEnvironment } from './notify.ts';
export { notifyMessage, enqueueNotification, notifyArguments } from './notify-message.ts';
export type { NotifyMessage } from './notify-message.ts';
export { takeProcessEnvironment } from '../net/process-env.ts';
