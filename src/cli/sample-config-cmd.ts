import type { Command } from './program.js';
import { sampleConfig } from '../config/sample.js';

/** `immutalog sample-config`. */
export function registerSampleConfig(program: Command): void {
  program
    .command('sample-config')
    .description('print the configuration file of an installed service (etc/immutalog.conf, for /etc/immutalog/immutalog.conf): data_dir = /var/lib/immutalog, every other option commented out with its default and help')
    .action(() => {
      process.stdout.write(sampleConfig());
    });
}
