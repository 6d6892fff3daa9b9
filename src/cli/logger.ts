/**
 * The command's log: one line per event, plain or JSON (`--json`), errors only with `--quiet`.
 * Info goes to stdout, warnings and errors to stderr, whatever the format. Colours only when
 * the stream is a TTY and `NO_COLOR` is unset or empty (no-color.org). A `stack` field is a JSON
 * key like any other; in plain text it follows its line, indented, with `--verbose` only.
 */

/** How loud an event is. */
export type LogLevel = 'info' | 'warn' | 'error';

/** Structured fields of a log event (they become JSON keys). */
export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>;

/** Where and how the log is written. */
export interface LoggerOptions {
  readonly json?: boolean;
  readonly quiet?: boolean;
  /** Plain text: print a `stack` field under its line. */
  readonly verbose?: boolean;
  readonly stdout?: LogStream;
  readonly stderr?: LogStream;
  readonly env?: NodeJS.ProcessEnv;
}

/** The part of a stream the logger uses. */
export interface LogStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

const COLOURS = { info: '\x1b[32m', warn: '\x1b[33m', error: '\x1b[31m' } as const;
const RESET = '\x1b[0m';

/** Writes log events; every method takes an event name, a human message, and fields. */
export class Logger {
  readonly #json: boolean;
  readonly #quiet: boolean;
  readonly #verbose: boolean;
  readonly #stdout: LogStream;
  readonly #stderr: LogStream;
  readonly #colourOut: boolean;
  readonly #colourErr: boolean;

  constructor(options: LoggerOptions = {}) {
    this.#json = options.json ?? false;
    this.#quiet = options.quiet ?? false;
    this.#verbose = options.verbose ?? false;
    this.#stdout = options.stdout ?? process.stdout;
    this.#stderr = options.stderr ?? process.stderr;
    const env = options.env ?? process.env;
    const colourAllowed = !this.#json && (env.NO_COLOR === undefined || env.NO_COLOR === '');
    this.#colourOut = colourAllowed && this.#stdout.isTTY === true;
    this.#colourErr = colourAllowed && this.#stderr.isTTY === true;
  }

  info(event: string, message: string, fields?: LogFields): void {
    this.#write('info', event, message, fields);
  }

  warn(event: string, message: string, fields?: LogFields): void {
    this.#write('warn', event, message, fields);
  }

  error(event: string, message: string, fields?: LogFields): void {
    this.#write('error', event, message, fields);
  }

  #write(level: LogLevel, event: string, message: string, fields: LogFields | undefined): void {
    if (this.#quiet && level !== 'error') return;
    const toErr = level !== 'info';
    const stream = toErr ? this.#stderr : this.#stdout;
    if (this.#json) {
      stream.write(`${JSON.stringify({ time: new Date().toISOString(), level, event, msg: message, ...fields })}\n`);
      return;
    }
    const colour = toErr ? this.#colourErr : this.#colourOut;
    const stack = this.#verbose && typeof fields?.stack === 'string' ? fields.stack.replace(/^/gm, '    ') : undefined;
    stream.write(`${formatPlain(level, event, message, colour)}\n${stack === undefined ? '' : `${stack}\n`}`);
  }
}

/** `listening tcp ...` as is; warnings and errors get a `warning:`/`error:` prefix. */
function formatPlain(level: LogLevel, event: string, message: string, colour: boolean): string {
  if (level === 'info') {
    // Colour the leading word when it is the event's name (`listening`, `closed`, ...).
    if (!colour || !message.startsWith(event)) return message;
    return `${COLOURS.info}${event}${RESET}${message.slice(event.length)}`;
  }
  const prefix = level === 'warn' ? 'warning:' : 'error:';
  return colour ? `${COLOURS[level]}${prefix}${RESET} ${message}` : `${prefix} ${message}`;
}

// Escape sequences as terminals parse them (ECMA-48): CSI (ESC [ or C1 0x9B) with its parameters
// up to the final byte; OSC, DCS, SOS, PM and APC strings up to BEL or ST (or the end of the
// text); any other ESC with its intermediate and final byte. Then every C0 and C1 control left
// but TAB, and DEL.
const ESCAPE_SEQUENCE = /(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[ -/]*[0-~]?/g;
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/g;

/**
 * `text` without terminal controls, for a line that came from elsewhere (a program's stderr): no
 * escape sequence (colours, cursor moves, window titles), no carriage return, no other C0 or C1
 * control. Tabs stay.
 * @example
 * stripControls('\x1b[31mfailed\x1b[0m\r'); // 'failed'
 */
export function stripControls(text: string): string {
  return text.replace(ESCAPE_SEQUENCE, '').replace(CONTROL, '');
}
