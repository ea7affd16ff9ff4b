#!/usr/bin/env node
import { startWatchdog } from '../serve/watchdog.js';

// The watchdog starts before the commands' modules load (dynamic import below): the start that
// hung in CI with its threads recorded had used 0.27 s of CPU, about half of what a start uses
// before its first log line, so it hung while its modules loaded. Only `serve` needs it.
if (process.argv[2] === 'serve') startWatchdog();
await import('./commands.js');
