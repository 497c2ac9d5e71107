/**
 * `Runner.list`: the sessions of a repository as each engine sees them (containers by label), open
 * or not, plus a row per workspace whose engine does not answer.
 */
import type { Workspaces } from '../../src/workspace/index.js';
import { isEngineDown, type EngineSet } from '../../docker/index.js';
import { LABEL, labelFilter, sessionContainerName, workspaceFromContainerName, type RepoRef } from '../../docker/index.js';
import type { EngineParts, EnginePart } from './engine-select.js';
import type { SessionRow } from './gc.js';

export interface ListHost {
  readonly repo: RepoRef;
  readonly workspaces: Workspaces;
  readonly engines: EngineSet;
  readonly parts: EngineParts;
  isOpen(name: string): boolean;
}

export async function listSessions(h: ListHost): Promise<SessionRow[]> {
  const workspaces = await h.workspaces.list();
  const names = new Set(workspaces.map((w) => w.name));
  const out: SessionRow[] = [];
  const down = new Set<string>();
  await Promise.all(
    h.parts.all().map(async (p) => {
      try {
        out.push(...(await listSessionsOn(h, p, names)));
      } catch (err) {
        if (!isEngineDown(err) || h.engines.engines.length === 1) throw err;
        down.add(p.engine.id);
      }
    }),
  );
  for (const w of workspaces) {
    const engine = h.parts.engineIdOf(w);
    if (!down.has(engine)) continue;
    const containerName = sessionContainerName(h.repo, w.name);
    out.push({ name: w.name, containerId: '', containerName, state: 'engine-unavailable', specHash: null, open: false, workspaceExists: true, engine });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** The sessions on one engine (gc lists one engine at a time). */
export async function listSessionsOn(h: ListHost, p: EnginePart, names: ReadonlySet<string>): Promise<SessionRow[]> {
  const out: SessionRow[] = [];
  for (const r of await p.containers.list(labelFilter({ repo: h.repo }))) {
    const ws = workspaceFromContainerName(h.repo, r.name);
    if (!ws) continue; // unclaimed pool containers
    out.push({
      name: ws,
      containerId: r.id,
      containerName: r.name,
      state: r.state,
      specHash: r.labels[LABEL.specHash] ?? null,
      open: h.isOpen(ws),
      workspaceExists: names.has(ws),
      ...(h.engines.configured ? { engine: p.engine.id } : {}),
    });
  }
  return out;
}
