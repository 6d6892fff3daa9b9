/**
 * Daytime (RFC 867): one human-readable line with the local date and time. The RFC leaves the
 * syntax free; we send RFC 5322's date-time (`Tue, 05 May 2025 16:03:07 +0200`), which people
 * read and `Date.parse` understands.
 */
import type { ServiceDefinition } from './service.ts';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

/**
 * The daytime line for `date` in the process's time zone, ending in CRLF.
 * @example
 * formatDaytime(new Date(0)); // 'Thu, 01 Jan 1970 00:00:00 +0000\r\n' with TZ=UTC
 */
export function formatDaytime(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const zone = `${sign}${pad(Math.floor(Math.abs(offset) / 60))}${pad(Math.abs(offset) % 60)}`;
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  return `${DAYS[date.getDay()]}, ${pad(date.getDate())} ${MONTHS[date.getMonth()]} ${date.getFullYear()} ${time} ${zone}\r\n`;
}

function pad(value: number): string {
  return String(value).padStart(2, '0');
}

/** RFC 867 daytime: TCP sends the line and closes; UDP answers any datagram with it. */
export const daytimeService: ServiceDefinition = {
  name: 'daytime',
  standardPort: 13,
  rfc: 867,
  create: () => ({
    tcp: {
      open(session) {
        session.write(formatDaytime(new Date()));
        session.end();
      },
    },
    udp: () => Buffer.from(formatDaytime(new Date()), 'latin1'),
  }),
};
