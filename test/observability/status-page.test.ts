/**
 * The /status page in a real browser: headless Chromium (Debian's, driven by playwright-core)
 * loads it while a load runs, the chart moves, no console errors, the numbers on the page match
 * /status.json once the load stops, and the page fits a phone-width screen. Screenshots are kept
 * in the test's temporary directory (set STATUS_SCREENSHOT=path to keep one elsewhere, as
 * docs/status-page.png was made).
 */
import '../helpers/leak-check.ts';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MetricsRegistry, listenMetrics, listenUdp, type StatusDocument } from '../../src/index.ts';
import { listenLocal, until, within } from '../helpers/net.ts';
import { createSocket } from 'node:dgram';

const CHROMIUM = '/usr/bin/chromium';

// What the functions run inside the page use: the test's own types are Node's, not the DOM's.
declare const document: any;
declare function getComputedStyle(element: unknown, pseudo?: string): { content: string };

type Browser = import('playwright-core').Browser;

/** Chromium, or the reason it cannot be launched here. */
async function launchChromium(): Promise<Browser | string> {
  try {
    const { chromium } = await import('playwright-core');
    return await chromium.launch({ executablePath: CHROMIUM, headless: true, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [], timeout: 15_000 });
  } catch (error) {
    return (error as Error).message.split('\n')[0]!;
  }
}

describe('/status in headless Chromium', () => {
  it('shows live numbers that match /status.json, a moving chart, no console errors, at desktop and phone width', { timeout: 40_000 }, async (t) => {
    const browser = await launchChromium();
    if (typeof browser === 'string') {
      t.skip(`SKIPPED: Chromium cannot be launched (${CHROMIUM}): ${browser}`);
      console.warn(`SKIPPED the status-page browser test: ${browser}`);
      return;
    }
    t.after(() => browser.close());
    const dir = await mkdtemp(join(tmpdir(), 'switchboard-status-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    t.diagnostic(`screenshots in ${dir}`);

    const server = await listenLocal(t, { maxConnections: 50 }, { data: (session, chunk) => void session.write(chunk) });
    const udp = await listenUdp({ host: '127.0.0.1', port: 0 }, (datagram) => void datagram.reply(datagram.data));
    t.after(() => udp.destroy());
    // A listener behind a balancer, sent one connection without a header: a PROXY failure to show.
    const relayed = await listenLocal(t, { proxyProtocol: { from: ['127.0.0.0/8'] } }, {});
    const registry = new MetricsRegistry().add(server, { service: 'echo' }).add(udp, { service: 'echo' }).add(relayed, { service: 'relayed' });
    const metrics = await listenMetrics(registry, { port: 0, statusInterval: 200 });
    t.after(async () => {
      await metrics.close();
      registry.clear();
    });

    // The load: clients echoing 4 KiB exchanges in a loop, a few held sessions, UDP pings.
    let loading = true;
    const port = server.addresses[0]!.port;
    const client = async (): Promise<void> => {
      for (let round = 0; loading && round < 10_000; round++) {
        await within(
          new Promise<void>((resolve) => {
            const socket = connect(port, '127.0.0.1', () => socket.end(Buffer.alloc(4096, 'x')));
            socket.on('error', () => resolve());
            socket.on('close', () => resolve());
            socket.resume();
          }),
          'one load exchange',
        );
      }
    };
    const held = Array.from({ length: 3 }, () => connect(port, '127.0.0.1'));
    for (const socket of held) socket.on('error', () => {});
    const pinger = createSocket('udp4');
    const pings = setInterval(() => pinger.send('ping', udp.addresses[0]!.port, '127.0.0.1'), 20);
    const load = Promise.all(Array.from({ length: 4 }, client));
    let pingerOpen = true;
    const closePinger = (): Promise<void> => (pingerOpen ? ((pingerOpen = false), new Promise<void>((resolve) => pinger.close(() => resolve()))) : Promise.resolve());
    t.after(async () => {
      loading = false;
      clearInterval(pings);
      for (const socket of held) socket.destroy();
      await closePinger();
      await load;
    });

    await within(
      new Promise<void>((resolve) => {
        const socket = connect(relayed.addresses[0]!.port, '127.0.0.1', () => socket.end('no header\r\n'));
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
        socket.resume();
      }),
      'the headerless connection to be refused',
    );
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    await page.goto(`${metrics.url}/status`, { timeout: 10_000 });
    await page.waitForSelector('tr[data-service="echo"][data-transport="tcp"]', { timeout: 5000 });
    await page.waitForSelector('tr[data-service="echo"][data-transport="udp"]', { timeout: 5000 });
    const pointsOf = (): Promise<string> => page.locator('#line-throughput').getAttribute('points').then((points) => points ?? '');
    const first = await pointsOf();
    await page.waitForFunction((before) => document.getElementById('line-throughput').getAttribute('points') !== before, first, { timeout: 5000 });
    const moved = await pointsOf();
    assert.notEqual(moved, first, 'the chart redraws as the load runs');
    assert.match(await page.locator('#summary').textContent() ?? '', /^READY · healthy · event loop delay \d+ ms/);
    await page.screenshot({ path: join(dir, 'status-desktop.png'), fullPage: true });
    if (process.env.STATUS_SCREENSHOT) await copyFile(join(dir, 'status-desktop.png'), process.env.STATUS_SCREENSHOT);

    // Stop the load, let the counters settle, wait for the page to poll again, then compare.
    loading = false;
    await load;
    clearInterval(pings);
    await closePinger();
    for (const socket of held) socket.destroy();
    await until(() => server.stats().sessions === 0 && server.stats().pending === 0 && udp.stats().inFlight === 0 && udp.stats().datagramsIn === udp.stats().datagramsOut, 'the load to settle');
    const settledAt = Date.now();
    await page.waitForFunction((after) => Date.parse(document.body.dataset.time ?? '') > after, settledAt, { timeout: 5000 });
    const status = (await (await fetch(`${metrics.url}/status.json`)).json()) as StatusDocument;
    const cells = (await page.evaluate(() =>
      [...document.querySelectorAll('tbody tr')].map((row: any) => ({
        transport: row.dataset.transport,
        values: Object.fromEntries([...row.querySelectorAll('td')].map((td: any) => [td.dataset.field, td.dataset.value ?? td.textContent])),
      })),
    )) as { transport: string; values: Record<string, string> }[];
    const tcpServer = status.servers.find((entry) => entry.transport === 'tcp')!;
    const tcpStats = server.stats();
    const tcpRow = cells.find((row) => row.transport === 'tcp')!.values;
    assert.equal(tcpRow.proxyFailures, '-', 'no PROXY column for a listener without the option');
    const relayedRow = cells.find((row) => row.transport === 'tcp' && row !== cells.find((other) => other.transport === 'tcp'))!.values;
    assert.equal(relayedRow.proxyFailures, '1');
    assert.equal(relayed.stats().proxy!.failures.SWB_ERR_PROXY_HEADER_MISSING, 1);
    assert.equal(status.servers.find((entry) => entry.service === 'relayed')!.stats.proxy!.failures.SWB_ERR_PROXY_HEADER_MISSING, 1, '/status.json carries stats().proxy');
    assert.equal(tcpRow.sessions, `0/${tcpStats.peakSessions}/${tcpServer.limit}`);
    assert.equal(tcpRow.total, String(tcpStats.opened));
    assert.ok(tcpStats.opened > 10, `a real load: ${tcpStats.opened} sessions`);
    assert.equal(tcpRow.rejected, String(tcpStats.rejected));
    assert.equal(tcpRow.bytesIn, String(tcpStats.bytesIn));
    assert.equal(tcpRow.bytesOut, String(tcpStats.bytesOut));
    assert.equal(tcpRow.listener, tcpServer.listener);
    const udpRow = cells.find((row) => row.transport === 'udp')!.values;
    assert.equal(udpRow.total, String(udp.stats().datagramsIn));
    assert.equal(udpRow.bytesIn, String(udp.stats().bytesIn));
    assert.equal(udpRow.drops, '0');
    assert.equal(tcpServer.stats.bytesIn, tcpStats.bytesIn, '/status.json says the same');

    // Phone width: nothing wider than the screen, every number still labelled.
    await page.setViewportSize({ width: 360, height: 780 });
    const overflow = (await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)) as number;
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than a 360px screen`);
    const label = await page.evaluate(() => getComputedStyle(document.querySelector('td[data-field="bytesIn"]'), '::before').content);
    assert.equal(label, '"Bytes in: "');
    await page.screenshot({ path: join(dir, 'status-phone.png'), fullPage: true });
    assert.deepEqual(problems, [], 'no console errors or warnings');
  });
});
