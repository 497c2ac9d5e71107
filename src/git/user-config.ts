/**
 * The berth-owned HOME and global config every git call runs with (see run.ts).
 *
 * The user's real global config is read once per process (per HOME / GIT_CONFIG_GLOBAL /
 * XDG_CONFIG_HOME combination), with the hardened base, for exactly three keys: user.name,
 * user.email and core.excludesFile. They are written to a private file that becomes
 * GIT_CONFIG_GLOBAL, so repository-local identity still overrides them exactly as in git, and no
 * other global setting (aliases, filters, pagers, credential helpers, includes) ever applies.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

export const FALLBACK_NAME = 'berth';
export const FALLBACK_EMAIL = 'berth@localhost';

let home: string | undefined;

/**
 * A private (0700) directory for HOME and XDG_CONFIG_HOME: `<tmp>/berth-git-home-<uid>`, shared by
 * this user's berth processes (so nothing is left behind per process). One that is not ours, not
 * 0700 or not a plain directory (someone else's pre-created trap) is never used: a fresh private
 * one is made instead and removed when the process exits.
 */
export function berthGitHome(): string {
  if (home) return home;
  const uid = process.getuid?.() ?? 0;
  const dir = join(tmpdir(), `berth-git-home-${uid}`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = lstatSync(dir);
  if (st.isDirectory() && st.uid === uid && (st.mode & 0o777) === 0o700) {
    home = dir;
    return dir;
  }
  const own = mkdtempSync(join(tmpdir(), 'berth-git-home-'));
  process.once('exit', () => rmSync(own, { recursive: true, force: true }));
  home = own;
  return own;
}

export interface UserGitSettings {
  readonly name?: string | undefined;
  readonly email?: string | undefined;
  readonly excludesFile?: string | undefined;
}

/** The user's real global config files, lowest precedence first (git-config(1) FILES). */
export function userGlobalConfigFiles(): string[] {
  const env = process.env;
  if (env.GIT_CONFIG_GLOBAL !== undefined) return env.GIT_CONFIG_GLOBAL ? [env.GIT_CONFIG_GLOBAL] : [];
  const realHome = env.HOME || homedir();
  const xdg = env.XDG_CONFIG_HOME || join(realHome, '.config');
  return [join(xdg, 'git', 'config'), join(realHome, '.gitconfig')].filter((f) => existsSync(f));
}

/** What core.excludesFile means with the user's real HOME (git's default is $XDG/git/ignore). */
export function resolveExcludesFile(value: string | undefined): string | undefined {
  const realHome = process.env.HOME || homedir();
  if (value) return value.startsWith('~/') ? join(realHome, value.slice(2)) : value;
  const def = join(process.env.XDG_CONFIG_HOME || join(realHome, '.config'), 'git', 'ignore');
  return existsSync(def) ? def : undefined;
}

export function settingsKey(): string {
  const e = process.env;
  return createHash('sha256')
    .update(JSON.stringify([e.HOME ?? '', e.GIT_CONFIG_GLOBAL ?? null, e.XDG_CONFIG_HOME ?? '']))
    .digest('hex')
    .slice(0, 16);
}

/** A config value as git reads it back verbatim (git-config(1) "Syntax": quoted, escaped). */
function quote(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`;
}

/** Writes the berth-owned global config for these settings; returns its path. */
export function writeBerthGlobalConfig(key: string, s: UserGitSettings): string {
  const file = join(berthGitHome(), `global-${key}.gitconfig`);
  const lines = ['[user]', `\tname = ${quote(s.name || FALLBACK_NAME)}`, `\temail = ${quote(s.email || FALLBACK_EMAIL)}`];
  if (s.excludesFile) lines.push('[core]', `\texcludesFile = ${quote(s.excludesFile)}`);
  // Written aside and renamed: another berth process may be reading the same file.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${lines.join('\n')}\n`, { mode: 0o600 });
  renameSync(tmp, file);
  return file;
}

/** Parses `git config -z --get-regexp` output (`key\nvalue\0` records; keys lower-cased by git). */
export function parseSettings(text: string, into: { name?: string; email?: string; excludesFile?: string }): void {
  for (const rec of text.split('\0')) {
    const nl = rec.indexOf('\n');
    const k = nl < 0 ? rec : rec.slice(0, nl);
    const v = nl < 0 ? '' : rec.slice(nl + 1);
    if (k === 'user.name') into.name = v;
    else if (k === 'user.email') into.email = v;
    else if (k === 'core.excludesfile') into.excludesFile = v;
  }
}
