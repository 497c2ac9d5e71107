import { z } from 'zod';
import { PROCESS_NAME_PATTERN } from '../../session/index.js';
import { defineTool } from '../tool.js';
import { processLine, processOut, processShape } from './shared.js';

export const processKill = defineTool({
  name: 'process_kill',
  title: 'Stop a background process',
  description: 'Stop a background process and everything it started: SIGTERM first, SIGKILL after graceSeconds. ' + 'Its log stays readable with process_log.',
  scope: 'workspace',
  input: {
    name: z.string().regex(PROCESS_NAME_PATTERN, 'a process name as shown by process_list').describe('The process name (see process_list).'),
    graceSeconds: z.number().min(0).max(60).optional().describe('Seconds to wait after SIGTERM before SIGKILL (default 2).'),
  },
  output: { process: processShape },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },

  async run(args, call) {
    const info = await (
      await call.session()
    ).killProcess(args.name, {
      ...(args.graceSeconds === undefined ? {} : { graceMs: Math.round(args.graceSeconds * 1000) }),
    });
    return { text: `Stopped ${processLine(info)}`, structured: { process: processOut(info) } };
  },
});
