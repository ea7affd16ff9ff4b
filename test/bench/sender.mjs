// Load generator for test/bench/ingest.mjs: a separate process, so the receiver's CPU is its own.
// usage: node sender.mjs tcp PORT COUNT            (octet-counted RFC 5424, as fast as the socket takes)
//        node sender.mjs udp PORT RATE SECONDS     (paced datagrams at RATE per second)
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';

const MESSAGE_BYTES = 256;
const [mode, portArg, a, b] = process.argv.slice(2);
const port = Number(portArg);

const COUNTER_DIGITS = 10;
function message(i) {
  const head = `<134>1 2026-11-26T12:00:00.000000+00:00 bench tacker-server - - - 2026-11-26 12:00:00.000 4242 INFO tacker.bench [-] message ${String(i).padStart(COUNTER_DIGITS, '0')} `;
  return Buffer.from(head.padEnd(MESSAGE_BYTES, 'x'));
}
// Where message(i)'s counter sits, so a chunk of frames can be copied from a template and only
// the counters rewritten: the sender shares the daemon's two cores, so its own CPU per message
// (formatting each one afresh cost about 0.8 us) is taken from the receiver being measured.
const COUNTER_AT = message(0).indexOf('message ') + 'message '.length;
function writeCounter(buf, at, i) {
  for (let d = COUNTER_DIGITS - 1; d >= 0; d--, i = Math.floor(i / 10)) buf[at + d] = 0x30 + (i % 10);
}

if (mode === 'tcp') {
  const count = Number(a);
  const sock = connect({ port, host: '127.0.0.1' });
  sock.setNoDelay(false);
  const t0 = process.hrtime.bigint();
  let i = 0;
  const CHUNK = 256;
  const framed = (m) => Buffer.concat([Buffer.from(`${m.length} `), m]);
  const FRAME_BYTES = framed(message(0)).length;
  const PREFIX_BYTES = FRAME_BYTES - MESSAGE_BYTES;
  const template = Buffer.concat(Array.from({ length: CHUNK }, (_, k) => framed(message(k))));
  const write = () => {
    while (i < count) {
      let chunk;
      if (count - i >= CHUNK) {
        // A copy of its own: the socket may still hold the previous chunk.
        chunk = Buffer.from(template);
        for (let k = 0; k < CHUNK; k++, i++) writeCounter(chunk, k * FRAME_BYTES + PREFIX_BYTES + COUNTER_AT, i);
      } else {
        const parts = [];
        for (; i < count; i++) parts.push(framed(message(i)));
        chunk = Buffer.concat(parts);
      }
      if (!sock.write(chunk)) return sock.once('drain', write);
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
