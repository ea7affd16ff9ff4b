#!/usr/bin/env node
import { startWatchdog } from '../serve/watchdog.js';

// The watchdog starts before the commands' modules load (dynamic import below), because that is
// where the one start that hung in CI hung. Only `serve` runs long enough to need it.
if (process.argv[2] === 'serve') startWatchdog();
await import('./commands.js');
