import { z } from 'zod';
import { defineTool } from '../tool.js';
import { processLine, processOut, processShape } from './shared.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export const processKill = defineTool({
  name: 'process_kill',
  title: 'Stop a background process',
  description:
    'Stop a background process and everything it started: SIGTERM first, SIGKILL after graceSeconds. ' +
    'Its log stays readable with process_log.',
  scope: 'workspace',
  input: {
    name: z.string().regex(NAME, 'a process name as shown by process_list').describe('The process name (see process_list).'),
    graceSeconds: z
      .number()
      .min(0)
      .max(60)
      .optional()
      .describe('Seconds to wait after SIGTERM before SIGKILL (default 2).'),
  },
  output: { process: processShape },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },

  async run(args, call) {
    const info = await (await call.session()).killProcess(args.name, {
      ...(args.graceSeconds === undefined ? {} : { graceMs: Math.round(args.graceSeconds * 1000) }),
    });
    return { text: `Stopped ${processLine(info)}`, structured: { process: processOut(info) } };
  },
});
