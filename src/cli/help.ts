/** The `--help` texts, one per command. */
import { formatByteRate, formatDuration } from './args.ts';
import { DEFAULT_DRAIN_TIMEOUT, EXEC_DEFAULTS, RUN_DEFAULTS, SERVE_DEFAULTS, SERVE_UDP_DEFAULTS, type ServerDefaults } from './defaults.ts';
import { DEFAULT_PORT_BASE, SERVICES } from './services/registry.ts';
import { SETTINGS, helpLines } from './settings.ts';
import { TLS_HELP } from './tls-flags.ts';
import { METRICS_HELP } from './metrics-flags.ts';
import { ACTIVATION_HELP } from './activation-flags.ts';
import { PROXY_HELP } from './proxy-flags.ts';

const COMMON = `Output and shutdown:
      --json               one JSON object per log line
  -q, --quiet              print errors only
  -v, --verbose            a failing handler's stack under its error line (--json always has it)
      --drain-timeout D    graceful close on SIGINT/SIGTERM waits this long (default ${formatDuration(DEFAULT_DRAIN_TIMEOUT)});
                           a second signal closes everything at once
  -h, --help               this help
      --version            the version`;

function limits(defaults: ServerDefaults, per = ''): string {
  return `Limits (0 = none):
      --idle-timeout D     close a session after D without traffic (default ${formatDuration(defaults.idleTimeout)})
      --max-clients N      open sessions at most${per} (default ${defaults.maxClients})
      --max-per-ip N       open sessions per remote address at most${per} (default ${defaults.maxPerIp})
${helpLines(['accept-rate', 'first-byte-timeout', 'max-lifetime', 'max-output', 'allow', 'deny'], { 'accept-rate': '0', 'first-byte-timeout': '0', 'max-lifetime': '0', 'max-output': SETTINGS['max-output'].default })}`;
}

const ADDRESSES = `Addresses: HOST:PORT, [IPv6]:PORT, *:PORT (IPv4 and IPv6 any), :PORT (IPv4 any).
A host name binds every address it resolves to; localhost binds 127.0.0.1 and ::1.
Durations: 10s, 500ms, 2m (a bare number is seconds).`;

/** `switchboard --help`. */
export const MAIN_HELP = `Usage: switchboard <command> [options]

Socket servers from the command line.

Commands:
  serve [SERVICE\u2026]           the classic Internet services over TCP and UDP (the default command)
  exec -- PROGRAM [ARGS\u2026]    run PROGRAM for each TCP connection, inetd/tcpserver style
  run MODULE                 serve the handler a JavaScript or TypeScript module exports
  up [CONFIG]                every service a switchboard.toml lists; SIGHUP re-reads it
  check [CONFIG]             check a switchboard.toml without binding anything
  reload [CONFIG]            send SIGHUP to the 'up' of a pid file
  upgrade [CONFIG]           send SIGUSR2 to the 'run --workers' of a pid file: a zero-downtime upgrade
  help [COMMAND]             help for a command

With no command, switchboard serves all six classic services on localhost at ${DEFAULT_PORT_BASE} + their standard port.

Options: --help, --version. Run 'switchboard <command> --help' for a command's options.
Exit status: 0 after a clean close, 1 on a runtime failure, 2 on a usage error,
128 + N when a second signal N forced the close.`;

const serviceList = SERVICES.map((service) => `  ${service.name.padEnd(9)}RFC ${service.rfc}, port ${service.standardPort} (default ${DEFAULT_PORT_BASE + service.standardPort})`).join('\n');

/** `switchboard serve --help`. */
export const SERVE_HELP = `Usage: switchboard serve [SERVICE[=ADDRESS]\u2026] [--listen [SERVICE=]ADDRESS]\u2026 [options]

Serves classic Internet services, each over TCP and UDP on the same port:
${serviceList}
No SERVICE serves all six. Prints 'listening tcp 127.0.0.1:10007 echo' for each bound socket.

Where:
  -l, --listen ADDRESS       replaces the default (localhost:${DEFAULT_PORT_BASE} + standard port); repeatable.
                             The port is the first service's; the others are offset by their standard
                             ports (--listen :20007 puts daytime at 20013). Port 0: a free port each.
  -l, --listen SERVICE=ADDRESS, or SERVICE=ADDRESS as an argument: one service's own address.
      --quotes FILE          qotd quotes: separated by lines holding only %, or by blank lines;
                             each under 512 characters

${limits(SERVE_DEFAULTS, ' per service')}

UDP limits, per service (0 = none); a reply is at most 3 times its request on the wire:
      --udp-rate N/s       datagrams per second from one source, an IPv6 /64 (default ${SERVE_UDP_DEFAULTS.datagramsPerSecond}/s)
      --udp-reply-rate R   reply bytes per second, all sources together, headers included
                           (default ${formatByteRate(SERVE_UDP_DEFAULTS.replyBytesPerSecond)}; units B, kB, MB, KiB, MiB)

${TLS_HELP}

${METRICS_HELP}

${ACTIVATION_HELP}

${PROXY_HELP}

${COMMON}

${ADDRESSES}

Examples:
  switchboard serve
  switchboard serve echo daytime --listen '*:7007'
  switchboard serve echo=[::1]:7 time=127.0.0.1:37 --json
  switchboard serve chargen qotd --listen '*:19' --udp-rate 5/s --udp-reply-rate 16KiB/s`;

/** `switchboard exec --help`. */
export const EXEC_HELP = `Usage: switchboard exec --listen ADDRESS [options] -- PROGRAM [ARGS\u2026]

Runs PROGRAM for each TCP connection with the connection as its stdin and stdout (tcpserver,
inetd 'nowait'). PROGRAM's environment adds PROTO (TCP or TCP6), TCPLOCALIP, TCPLOCALPORT,
TCPREMOTEIP and TCPREMOTEPORT; over TLS also PROTO=SSL, SSLLOCALIP, SSLLOCALPORT, SSLREMOTEIP,
SSLREMOTEPORT and ucspi-ssl's SSL_PROTOCOL, SSL_CIPHER, SSL_CLIENT_S_DN, \u2026 (docs/cli.md).
Behind a balancer (--proxy-protocol) the TCP* remote and local variables are the client's, as the
PROXY header names them, and PROXYREMOTEIP, PROXYREMOTEPORT the balancer's.
Its stderr is logged line by line; its exit status is logged.
PROGRAM is checked at start (found in PATH, executable); one that cannot be started at a
connection fails that connection only.

  -l, --listen ADDRESS       where to accept connections (repeatable; required without --listen-fds or --inetd)

${limits(EXEC_DEFAULTS)}

PROGRAM's environment, directory and user:
${helpLines(['env', 'cwd', 'user'])}

${TLS_HELP}

${METRICS_HELP}

${ACTIVATION_HELP}

${PROXY_HELP}

${COMMON}
On shutdown each PROGRAM gets SIGTERM, then SIGKILL when the drain timeout ends.

${ADDRESSES}

Example:
  switchboard exec --listen 127.0.0.1:7000 --max-clients 10 -- cat`;

/** `switchboard run --help`. */
export const RUN_HELP = `Usage: switchboard run MODULE --listen ADDRESS [options]

Serves the handler MODULE exports (.js, .mjs or .ts; Node strips the types): its default export
(or an export named 'handler') is an event handler object ({ open, data, drain, end, timeout,
close, \u2026 }) or an async session function ((session) => Promise<void>).
MODULE may also export 'options' (server options such as firstByteTimeout, busyMessage, allow;
a flag given here wins over them, they win over the defaults) and 'setup', called with each
server once it listens (to broadcast, throttle, \u2026).

  -l, --listen ADDRESS       where to accept connections (repeatable; required without --listen-fds or --inetd)

${limits(RUN_DEFAULTS)}

${TLS_HELP}

${METRICS_HELP}

${ACTIVATION_HELP}

${PROXY_HELP}

Workers (docs/workers.md): with --workers, one --listen ADDRESS, or --listen-fds, or
--listen systemd:NAME (every worker serves the passed sockets; not --inetd); TLS (every worker
shares the session-ticket keys), --metrics (the sum over the workers) and the PROXY flags apply
to each worker. SIGHUP re-reads the
TLS files in every worker; SIGUSR2 (or 'switchboard upgrade') starts the installed version
beside this one and retires this one once it is ready.
${helpLines(['workers', 'pid-file', 'metrics-per-worker'])}

${COMMON}

${ADDRESSES}

Examples:
  switchboard run examples/chat.ts --listen localhost:7000
  switchboard run examples/echo-server.ts --listen 0.0.0.0:7007 --workers auto --pid-file /run/echo.pid
  switchboard run examples/length-prefixed.ts --listen 127.0.0.1:7001`;

const CONFIG_NOTE = `CONFIG defaults to ./switchboard.toml; docs/config.md lists every key (each flag's, in
[global] or [services.NAME]), and switchboard.schema.json is its JSON Schema for editors.`;

/** `switchboard up --help`. */
export const UP_HELP = `Usage: switchboard up [CONFIG] [options]

Serves every service CONFIG lists, in one process: built-in services (builtin = "echo"),
programs per connection (program = "cat"), and handler modules (module = "chat.ts"), each
with its own addresses, limits, TLS and access lists. The file is checked completely before
anything binds: every problem is printed with its line, column and key path, exit 2.

SIGHUP (or 'switchboard reload') re-reads CONFIG: an invalid file changes nothing (its
problems are logged); otherwise new services start, removed ones drain, and changed limits,
access lists, certificates, programs and modules apply in place; a service whose addresses,
transports, deadlines or PROXY trust changed is replaced. One log line per change.

Workers (docs/workers.md): workers = N|"auto" in a built-in or module service's table, or
--workers for every such service without the key, serves it from N supervised processes. A
reload starts a changed service's new workers beside the old ones, then drains the old.

${helpLines(['pid-file', 'metrics', 'workers', 'metrics-per-worker'])}

Under a service manager: listen = ["systemd:NAME"] serves the passed sockets of that fd name
(LISTEN_FDS is read once, at the start); with NOTIFY_SOCKET set, READY=1, STATUS=,
RELOADING=1 \u2026 READY=1 around a reload, STOPPING=1 (docs/systemd.md).

Flags given here win over the file's [global] section:
${COMMON}

${CONFIG_NOTE}

Example:
  switchboard up /etc/switchboard.toml --pid-file /run/switchboard.pid`;

/** `switchboard check --help`. */
export const CHECK_HELP = `Usage: switchboard check [CONFIG]

Checks CONFIG as 'up' would, binding nothing: keys and values, two services on one address,
that programs exist and may be run, directories and users exist, modules load (they are
imported) and export a handler, certificates parse and match their keys, quote files read,
and host names resolve. Prints 'CONFIG: ok, \u2026' and exits 0, or every problem and exits 2.

${CONFIG_NOTE}`;

/** `switchboard reload --help`. */
export const RELOAD_HELP = `Usage: switchboard reload [CONFIG] [--pid-file FILE]

Sends SIGHUP to the 'switchboard up' whose process id FILE holds (by default the pid-file of
CONFIG's [global] section), which then re-reads its config. For systemd's ExecReload=.
What the reload changed is in that process's log. Exit 1 when there is no such process.

${helpLines(['pid-file'])}`;


/** `switchboard upgrade --help`. */
export const UPGRADE_HELP = `Usage: switchboard upgrade [CONFIG] [--pid-file FILE]

Sends SIGUSR2 to the 'switchboard run --workers' whose process id FILE holds: it starts the
version installed now with the same command line, waits until that one serves, then stops
accepting, drains and exits (docs/workers.md). A new version that fails, or is not ready
within 60 s, is killed and the old one keeps serving. Exit 1 when there is no such process.

${helpLines(['pid-file'])}`;
