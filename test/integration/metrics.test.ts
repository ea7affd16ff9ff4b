import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { metricSample } from '../helpers/per-test.js';

const sample = metricSample;

async function scrape(port: number): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toContain('text/plain; version=0.0.4');
  return r.text();
}

describe('Prometheus endpoint', () => {
  let d: RunningDaemon;
  afterAll(async () => {
    await d?.stop();
  });

  it('is scraped while messages flow, and its counters follow them', async () => {
    d = await startDaemon({ args: ['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--metrics', '127.0.0.1:0', '--checkpoint-interval', '1', '--max-message-bytes', '1000'] });
    const port = d.status().metrics_port as number;
    expect(port).toBeGreaterThan(0);
    const udpName = d.status().listeners.find((l: any) => l.transport === 'udp').name;
    const tcpName = d.status().listeners.find((l: any) => l.transport === 'tcp').name;

    const before = await scrape(port);
    expect(sample(before, 'immutalog_received_messages_total', { listener: udpName })).toBe(0);
    expect(sample(before, 'immutalog_anchoring_enabled')).toBe(0);

    // Messages flow on both transports while we scrape.
    const u = createSocket('udp4');
    const tcp = connect(d.tcpPort, '127.0.0.1');
    await new Promise<void>((r) => tcp.once('connect', () => r()));
    const scrapes: string[] = [];
    for (let i = 0; i < 50; i++) {
      u.send(Buffer.from(`<134>1 - - tacker-server - - - udp ${i}`), d.udpPort, '127.0.0.1');
      tcp.write(`<134>1 - - tacker-server - - - tcp ${i}\n`);
      if (i % 10 === 0) scrapes.push(await scrape(port));
    }
    tcp.write(Buffer.concat([Buffer.from('<134>'), Buffer.alloc(2000, 0x61), Buffer.from('\n')]));
    tcp.write(Buffer.from([0x3c, 0x31, 0x33, 0x34, 0x3e, 0xff, 0xfe, 0x0a]));
    await new Promise<void>((r) => tcp.end(r));
    u.close();
    expect(scrapes.every((s) => sample(s, 'immutalog_received_messages_total', { listener: tcpName }) !== undefined)).toBe(true);

    let after = '';
    for (let i = 0; i < 100; i++) {
      after = await scrape(port);
      // The listener counters reach the endpoint through status, refreshed with every scrape.
      if (sample(after, 'immutalog_stored_entries') === 102 && (sample(after, 'immutalog_checkpoints') ?? 0) >= 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(sample(after, 'immutalog_received_messages_total', { listener: udpName })).toBe(50);
    expect(sample(after, 'immutalog_received_messages_total', { listener: tcpName })).toBe(52);
    expect(sample(after, 'immutalog_malformed_truncated_total', { listener: tcpName })).toBe(1);
    expect(sample(after, 'immutalog_malformed_invalid_utf8_total', { listener: tcpName })).toBe(1);
    expect(sample(after, 'immutalog_stored_entries')).toBe(102);
    expect(sample(after, 'immutalog_checkpoints')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'immutalog_checkpoint_age_seconds')).toBeLessThan(30);
    // No node configured: every checkpoint waits unanchored, and that is visible.
    expect(sample(after, 'immutalog_oldest_unanchored_checkpoint_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(sample(after, 'immutalog_anchors', { state: 'final' })).toBe(0);
    const notFound = await fetch(`http://127.0.0.1:${port}/other`);
    expect(notFound.status).toBe(404);
  });
});
