/** `berth`: the CLI entry (bin/berth.js imports this). */
import { buildProgram } from './program.js';

await buildProgram().parseAsync(process.argv);
