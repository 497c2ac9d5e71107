import { z } from 'zod';
import { defineTool } from '../tool.js';
import { processLine, processOut, processShape } from './shared.js';

export const processList = defineTool({
  name: 'process_list',
  title: 'List background processes',
  description:
    'List the background processes of the workspace (started with exec background: true): name, command, pid, ' +
    'whether it still runs and its exit code once it ended.',
  scope: 'workspace',
  input: {},
  output: { processes: z.array(processShape) },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },

  async run(_args, call) {
    const list = await (await call.session()).listProcesses();
    return {
      text: list.length ? list.map(processLine).join('\n') : 'No background processes. Start one with exec and background: true.',
      structured: { processes: list.map(processOut) },
    };
  },
});
