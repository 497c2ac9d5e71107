/**
 * Who session shells run as, and handing the worktree to that user.
 *
 * When berth runs as root on the host, a session running as root in its container could leave a
 * setuid-root binary in the worktree (`cp /bin/sh x && chmod u+s x`): Docker bind mounts cannot
 * carry nosuid, so that file is a root shell for anyone on the host who can reach it. So a root
 * berth runs sessions as an unprivileged uid (BERTH_SESSION_UID, default 65532, "nonroot" in
 * distroless images) and hands the worktree's contents to it; the agent then can never own a root
 * file, and chmod u+s on a root file it did not create is refused by the kernel (it has no
 * effective capabilities, and no-new-privileges keeps it that way). The spec's setup commands
 * still run as root: they come from berth.yaml, which the user wrote.
 *
 * The worktree's top directory and its `.git` file stay root-owned: git refuses a worktree whose
 * top directory or gitfile another user owns ("detected dubious ownership", git >= 2.35.2), and
 * host-side git runs as root. The top directory is root:<session gid> mode 01770 instead: the
 * session user can create entries there, nobody else on the host can enter it, and the sticky bit
 * keeps the agent from deleting or replacing the root-owned `.git` file.
 */
import fs from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { walkTree } from '../../src/fs/index.js';

export const DEFAULT_SESSION_UID = 65532;

/** Mode of a worktree's top directory handed to an unprivileged session user (see the header). */
export const SHARED_TOP_MODE = 0o1770;

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/** True when this process is root on the host (only then does berth pick another session user). */
export function hostIsRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * The user sessions run as when the spec names none: this process's uid:gid, or, when that is
 * root, BERTH_SESSION_UID ("uid" or "uid:gid", never 0), default 65532:65532.
 */
export function defaultSessionUser(env: NodeJS.ProcessEnv = process.env): string {
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0) return `${uid}:${process.getgid?.() ?? uid}`;
  const raw = env.BERTH_SESSION_UID?.trim();
  if (!raw) return `${DEFAULT_SESSION_UID}:${DEFAULT_SESSION_UID}`;
  const m = /^(\d+)(?::(\d+))?$/.exec(raw);
  const u = m ? Number(m[1]) : NaN;
  const g = m?.[2] !== undefined ? Number(m[2]) : u;
  if (!m || u === 0 || g === 0 || u > 2 ** 31 || g > 2 ** 31) {
    throw new BerthError(
      'BAD_INPUT',
      `BERTH_SESSION_UID=${JSON.stringify(raw)} is not a valid session user: use a non-zero "uid" or "uid:gid" (default ${DEFAULT_SESSION_UID}), or unset it`,
    );
  }
  return `${u}:${g}`;
}

/** A numeric "uid[:gid]" user, parsed; undefined for names (resolved in the container). */
export function numericOwner(user: string): Owner | undefined {
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!m) return undefined;
  const uid = Number(m[1]);
  return { uid, gid: m[2] !== undefined ? Number(m[2]) : uid };
}

/**
 * Give the worktree's contents to `owner` (top directory and `.git` stay root, see the header).
 * Only when this process is root and `owner` is not. The caller runs it only before any agent
 * process can run in the container (the container was just created, started or claimed), so
 * nothing can swap a directory for a symlink during the walk; the safe walker still enumerates
 * the tree fd-relative, and lchown never follows a symlink. Returns the entries visited.
 */
export async function handWorktreeTo(worktree: string, owner: Owner, logger: Logger): Promise<number> {
  if (!hostIsRoot() || owner.uid === 0) return 0;
  await fs.chown(worktree, 0, owner.gid);
  await fs.chmod(worktree, SHARED_TOP_MODE);
  const walk = walkTree(worktree, {
    include: (rel) => rel !== '.git',
    onVanished: (rel) => logger.debug('entry vanished while handing the worktree over', { path: rel }),
  });
  let n = 0;
  const batch: Promise<unknown>[] = [];
  for await (const e of walk) {
    // chown clears the setuid/setgid bits of a file, as the kernel does for any chown.
    batch.push(fs.lchown(join(worktree, e.rel), owner.uid, owner.gid).catch(() => undefined));
    n++;
    if (batch.length >= 64) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
  return n;
}
