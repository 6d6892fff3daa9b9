/** The classic services `serve` offers, in the order of their standard ports. */
import { chargenService } from './chargen.ts';
import { daytimeService } from './daytime.ts';
import { discardService } from './discard.ts';
import { echoService } from './echo.ts';
import { qotdService } from './qotd.ts';
import type { ServiceDefinition } from './service.ts';
import { timeService } from './time.ts';

/** Every service, by standard port: echo 7, discard 9, daytime 13, qotd 17, chargen 19, time 37. */
export const SERVICES: readonly ServiceDefinition[] = [echoService, discardService, daytimeService, qotdService, chargenService, timeService];

/** The service names, in the same order. */
export const SERVICE_NAMES: readonly string[] = SERVICES.map((service) => service.name);

/** Added to each standard port when no address is given, so no privilege is needed. */
export const DEFAULT_PORT_BASE = 10_000;

/** The service called `name`, if there is one. */
export function findService(name: string): ServiceDefinition | undefined {
  return SERVICES.find((service) => service.name === name);
}
