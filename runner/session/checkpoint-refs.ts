/**
 * Which commit a checkpoint name means, and the refs a restore keeps: `at` ("latest" or a commit
 * id prefix) resolved against the workspace's recorded checkpoints and its line of commits, and
 * refs/berth/kept/<name>/… that keep a restored-away head reachable until the workspace is deleted.
 */
import { GitRepo } from '../../src/git/index.js';
import { BerthError } from '../../src/errors.js';
import { assertValidName, type WorkspaceInfo } from '../../src/workspace/index.js';
import { readCheckpoints, readRestores, type CheckpointRecord } from './checkpoint-state.js';
import type { PersistenceHost } from './checkpoints.js';

/** Where a restore keeps the head it moved away from. */
export const KEPT_REF_PREFIX = 'refs/berth/kept/';

export interface ResolvedCheckpoint {
  readonly sha: string;
  /** The recorded checkpoint, when `at` names one (a plain commit of the branch has none). */
  readonly record: CheckpointRecord | undefined;
}

const PREFIX_RE = /^[0-9a-f]{4,64}$/;

/**
 * `at` = "latest" (the newest recorded checkpoint) or a commit id prefix (4+ hex digits): a
 * recorded checkpoint, or any commit of the workspace's line (from its root commit to its head, or
 * a head kept by a restore).
 */
export async function resolveCheckpoint(
  host: Pick<PersistenceHost, 'repo'>,
  info: WorkspaceInfo,
  at: string,
  opts: { signal?: AbortSignal } = {},
): Promise<ResolvedCheckpoint> {
  const records = readCheckpoints(info.extra);
  if (at === 'latest') {
    const rec = records[records.length - 1];
    if (!rec) {
      throw new BerthError(
        'NOT_FOUND',
        `workspace ${JSON.stringify(info.name)} has no checkpoints yet: create one with \`berth ws checkpoint ${info.name}\` (add --with-container to keep the container's files)`,
        {
          details: { workspace: info.name },
        },
      );
    }
    return { sha: rec.sha, record: rec };
  }
  if (typeof at !== 'string' || !PREFIX_RE.test(at)) {
    throw new BerthError('BAD_INPUT', `checkpoint ${JSON.stringify(at)} is not "latest" or a commit id (4 to 64 hex digits, lowercase)`, { details: { at } });
  }
  const hits = records.filter((r) => r.sha.startsWith(at));
  const unique = [...new Set(hits.map((r) => r.sha))];
  if (unique.length > 1) {
    throw new BerthError('BAD_INPUT', `checkpoint ${JSON.stringify(at)} is ambiguous (${unique.map((s) => s.slice(0, 12)).join(', ')}): give more digits`, {
      details: { at },
    });
  }
  if (unique.length === 1) return { sha: unique[0] as string, record: hits[hits.length - 1] };
  const git = await GitRepo.discover(host.repo.path, opts.signal ? { signal: opts.signal } : {});
  const res = await git.run(['rev-parse', '--verify', '--quiet', '--end-of-options', `${at}^{commit}`], {
    cwd: git.root,
    ok: [0, 1, 128],
    signal: opts.signal,
  });
  const sha = res.stdout.toString('utf8').trim();
  const onLine = res.exitCode === 0 && /^[0-9a-f]{40,64}$/.test(sha) && sha.startsWith(at) && (await isAncestor(git, info.rootSha, sha, opts.signal));
  const reachable =
    onLine &&
    ((await isAncestor(git, sha, info.head, opts.signal)) ||
      readRestores(info.extra).some((r) => r.from === sha) ||
      (await keptContains(git, info.name, sha, opts.signal)));
  if (!reachable) {
    throw new BerthError(
      'NOT_FOUND',
      `no checkpoint or commit ${JSON.stringify(at)} in workspace ${JSON.stringify(info.name)}: list them with \`berth ws checkpoints ${info.name}\` or \`berth ws log ${info.name}\``,
      {
        details: { workspace: info.name, at },
      },
    );
  }
  return { sha, record: undefined };
}

async function isAncestor(git: GitRepo, ancestor: string, tip: string, signal?: AbortSignal): Promise<boolean> {
  const r = await git.run(['merge-base', '--is-ancestor', '--end-of-options', ancestor, tip], { cwd: git.root, ok: [0, 1], signal });
  return r.exitCode === 0;
}

async function keptRefs(git: GitRepo, name: string, signal?: AbortSignal): Promise<{ ref: string; sha: string }[]> {
  const r = await git.run(['for-each-ref', '--format=%(objectname) %(refname)', `${KEPT_REF_PREFIX}${name}/`], { cwd: git.root, signal });
  return r.stdout
    .toString('utf8')
    .split('\n')
    .map((l) => /^([0-9a-f]{40,64}) (\S+)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ sha: m[1] as string, ref: m[2] as string }));
}

async function keptContains(git: GitRepo, name: string, sha: string, signal?: AbortSignal): Promise<boolean> {
  for (const k of await keptRefs(git, name, signal)) if (await isAncestor(git, sha, k.sha, signal)) return true;
  return false;
}

/** Remove the refs restores kept for `name` (on workspace delete). */
export async function removeKeptRefs(repoPath: string, name: string): Promise<string[]> {
  assertValidName(name);
  const git = await GitRepo.discover(repoPath);
  const refs = await keptRefs(git, name);
  for (const k of refs) await git.run(['update-ref', '-d', k.ref], { cwd: git.root });
  return refs.map((k) => k.ref);
}
