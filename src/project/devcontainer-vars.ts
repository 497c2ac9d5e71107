/**
 * `${...}` variables of devcontainer.json (https://containers.dev/implementors/json_reference/#variables-in-devcontainerjson).
 *
 * What berth substitutes, and why:
 *  - `${localWorkspaceFolder}`, `${localWorkspaceFolderBasename}`: the repository root on the host.
 *    Only mount sources use it for anything real (binds inside the repository).
 *  - `${containerWorkspaceFolder}`, `${containerWorkspaceFolderBasename}`: the workdir.
 *  - `${containerEnv:X}`: X from the file's own containerEnv (berth knows no other container
 *    environment before the container exists); anything else is unresolved and the value is skipped.
 *  - `${localEnv:X}` / `${env:X}`: the HOST's environment. An agent container must never receive the
 *    user's tokens or paths just because a repository asked for them, so a host variable is passed
 *    only when the user allowed it by name (BERTH_DEVCONTAINER_LOCAL_ENV=X,Y); otherwise the
 *    variable's default (`${localEnv:X:default}`) or '' is used, and one warning names it.
 *  - `${devcontainerId}`: a stable id of the repository root.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';

/** The environment variable that names the host variables `${localEnv:X}` may read. */
export const LOCAL_ENV_ALLOW = 'BERTH_DEVCONTAINER_LOCAL_ENV';

export interface VarContext {
  /** Host path of the repository root. */
  readonly root: string;
  /** The container workdir. */
  readonly workdir: string;
  /** Host variables the user allowed (already filtered). */
  readonly localEnv: Readonly<Record<string, string>>;
}

/** Collects, across a whole file, what could not be substituted and which host variables were withheld. */
export class VarScope {
  readonly withheld = new Set<string>();
  constructor(readonly ctx: VarContext) {}

  /** Substitute `s`; undefined when it names a variable berth cannot know (the caller skips the value). */
  sub(s: string, containerEnv: Readonly<Record<string, string>> = {}): { value: string } | { unresolved: string } {
    let unresolved: string | undefined;
    const value = s.replace(/\$\{([^}]*)\}/g, (whole, body: string) => {
      const r = this.#one(body, containerEnv);
      if (r === undefined) unresolved ??= whole;
      return r ?? whole;
    });
    return unresolved === undefined ? { value } : { unresolved };
  }

  #one(body: string, containerEnv: Readonly<Record<string, string>>): string | undefined {
    const [kind, name = '', ...rest] = body.split(':');
    const fallback = rest.length ? rest.join(':') : undefined;
    switch (kind) {
      case 'localWorkspaceFolder':
        return this.ctx.root;
      case 'localWorkspaceFolderBasename':
        return posix.basename(this.ctx.root);
      case 'containerWorkspaceFolder':
        return this.ctx.workdir;
      case 'containerWorkspaceFolderBasename':
        return posix.basename(this.ctx.workdir);
      case 'devcontainerId':
        return createHash('sha256').update(this.ctx.root).digest('hex').slice(0, 16);
      case 'localEnv':
      case 'env': {
        const allowed = this.ctx.localEnv[name];
        if (allowed !== undefined) return allowed;
        this.withheld.add(name);
        return fallback ?? '';
      }
      case 'containerEnv':
        return containerEnv[name] ?? fallback;
      default:
        return undefined;
    }
  }

  /** The one warning about withheld host variables, if any. */
  warning(file: string): string | undefined {
    if (this.withheld.size === 0) return undefined;
    const names = [...this.withheld].sort();
    return (
      `${file} reads host environment variable(s) ${names.join(', ')} through \${localEnv:...}: berth does not pass the host's environment into ` +
      `an agent container, so their default (or "") was used. Allow specific ones with ${LOCAL_ENV_ALLOW}=${names.join(',')}.`
    );
  }
}

/** The host variables a user allowed by name in BERTH_DEVCONTAINER_LOCAL_ENV (comma or space separated). */
export function allowedLocalEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of (env[LOCAL_ENV_ALLOW] ?? '').split(/[\s,]+/)) {
    const v = name ? env[name] : undefined;
    if (v !== undefined) out[name] = v;
  }
  return out;
}
