// Load generator for test/bench/ingest.mjs: a separate process, so the receiver's CPU is its own.
// usage: node sender.mjs tcp PORT COUNT            (octet-counted RFC 5424, as fast as the socket takes)
//        node sender.mjs udp PORT RATE SECONDS     (paced datagrams at RATE per second)
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';

const MESSAGE_BYTES = 256;
const [mode, portArg, a, b] = process.argv.slice(2);
const port = Number(portArg);

function message(i) {
  const head = `<134>1 2026-11-26T12:00:00.000000+00:00 bench tacker-server - - - 2026-11-26 12:00:00.000 4242 INFO tacker.bench [-] message ${String(i).padStart(10, '0')} `;
  return Buffer.from(head.padEnd(MESSAGE_BYTES, 'x'));
}

if (mode === 'tcp') {
  const count = Number(a);
  const sock = connect({ port, host: '127.0.0.1' });
  sock.setNoDelay(false);
  const t0 = process.hrtime.bigint();
  let i = 0;
  const CHUNK = 256;
  const write = () => {
    while (i < count) {
      const parts = [];
      for (let k = 0; k < CHUNK && i < count; k++, i++) {
        const m = message(i);
        parts.push(Buffer.from(`${m.length} `), m);
      }
      if (!sock.write(Buffer.concat(parts))) return sock.once('drain', write);
    }
    sock.end(() => {
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      process.stdout.write(JSON.stringify({ sent: count, seconds: s }) + '\n');
    });
  };
  sock.on('connect', write);
  // The crash test kills the receiver mid-stream: report how far we got instead of a stack.
  sock.on('error', (e) => {
    process.stdout.write(JSON.stringify({ sent: i, error: e.code ?? e.message }) + '\n');
    process.exit(0);
  });
} else if (mode === 'udp') {
  const rate = Number(a);
  const seconds = Number(b);
  const total = Math.round(rate * seconds);
  const sock = createSocket('udp4');
  const TICK_MS = 5;
  const perTick = rate * TICK_MS / 1000;
  let sent = 0;
  let due = 0;
  const t0 = Date.now();
  const tick = () => {
    const elapsed = Date.now() - t0;
    due = Math.min(total, Math.round((elapsed / TICK_MS + 1) * perTick));
    while (sent < due) {
      sock.send(message(sent), port, '127.0.0.1');
      sent++;
    }
    if (sent < total) setTimeout(tick, TICK_MS);
    else setTimeout(() => {
      sock.close();
      process.stdout.write(JSON.stringify({ sent, seconds: (Date.now() - t0) / 1000 }) + '\n');
    }, 50);
  };
  tick();
}
