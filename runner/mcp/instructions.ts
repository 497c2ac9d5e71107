/** The `instructions` text sent in `initialize`: how an agent should work with berth. */
export function instructions(pinned: string | undefined): string {
  const where = pinned
    ? `This server is bound to workspace "${pinned}": every tool acts on it (it is created on first use), so no tool takes a workspace argument.`
    : 'Start with workspace_create (or workspace_list to continue an existing one) and pass its name as `workspace` to every other tool.';
  return [
    "berth gives you an isolated workspace: a git branch berth/<name> with its own worktree and a long-lived container. Everything happens inside it; nothing touches the user's checkout until the user merges the branch.",
    where,
    'Run commands with exec: the shell is persistent (cd and export carry over). A non-zero exitCode is a normal result, not a failure of the tool. Use background: true for servers and watchers, then process_log / process_kill. A long command answers running: true with a handle after about 30 s: call exec_wait with it until it finishes (exec_output reads output, exec_kill stops it).',
    'Read and change files with file_read, file_write, file_edit (exact search/replace; if it is ambiguous, retry with the matchId it lists), file_list and file_delete, or with commands via exec. Paths are relative to the workspace root (the container workdir, usually /workspace).',
    'After each logical step, call checkpoint with a meaningful commit message; the user reviews those commits. diff shows what you changed, log lists your checkpoints.',
    "Verify with pipeline_run (build, test, lint or check): it runs the project's configured steps in clean containers on a copy of your files.",
    'Errors come back with a "Next:" hint saying what to do; follow it. Do not delete a workspace unless the user asked you to.',
  ].join('\n');
}
