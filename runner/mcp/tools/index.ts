/** Every MCP tool berth serves, in the order tools/list shows them. */
import { checkpoint } from './checkpoint.js';
import { diff } from './diff.js';
import { engines } from './engines.js';
import { exec } from './exec.js';
import { execKill } from './exec_kill.js';
import { execOutput } from './exec_output.js';
import { execWait } from './exec_wait.js';
import { fileDelete } from './file_delete.js';
import { fileEdit } from './file_edit.js';
import { fileList } from './file_list.js';
import { fileRead } from './file_read.js';
import { fileWrite } from './file_write.js';
import { log } from './log.js';
import { pipelineRun } from './pipeline_run.js';
import { processKill } from './process_kill.js';
import { processList } from './process_list.js';
import { processLog } from './process_log.js';
import { workspaceCreate } from './workspace_create.js';
import { workspaceDelete } from './workspace_delete.js';
import { workspaceList } from './workspace_list.js';

export const TOOLS = [
  workspaceCreate,
  workspaceList,
  workspaceDelete,
  exec,
  execWait,
  execOutput,
  execKill,
  processList,
  processKill,
  processLog,
  fileRead,
  fileWrite,
  fileEdit,
  fileList,
  fileDelete,
  checkpoint,
  diff,
  log,
  pipelineRun,
  engines,
] as const;
