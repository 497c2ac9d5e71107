/**
 * The one switch for suites that need a Docker engine. Every Docker-needing suite uses
 * `describeDocker` (or checks `dockerAvailable`) instead of `describe`, so the unit suites still
 * run where no engine exists, e.g. `dagger call test --source=.` (berth.yaml sets
 * BERTH_TEST_DOCKER=0 there).
 *
 *   BERTH_TEST_DOCKER=0   skip Docker-needing suites, with the reason in the suite name
 *   unset / anything else require an engine (test/global-setup.ts fails fast with the remedy)
 *
 * To run them inside Dagger, bind a Docker service, set DOCKER_HOST to it and BERTH_TEST_DOCKER=1.
 */
import { describe, it } from 'vitest';
import { docker } from '../../docker/client.js';

export const dockerAvailable: boolean = process.env.BERTH_TEST_DOCKER !== '0';

export const DOCKER_SKIP_REASON = 'needs a Docker engine; skipped because BERTH_TEST_DOCKER=0';

/** `describe` for suites that talk to Docker: skipped, with the reason in its name, when BERTH_TEST_DOCKER=0. */
export function describeDocker(name: string, fn: () => void): void {
  if (dockerAvailable) describe(name, fn);
  else describe.skip(`${name} [${DOCKER_SKIP_REASON}]`, fn);
}

/** `it` for single Docker-needing tests inside otherwise pure suites. */
export function itDocker(name: string, fn: () => Promise<void> | void, timeoutMs?: number): void {
  if (dockerAvailable) it(name, fn, timeoutMs);
  else it.skip(`${name} [${DOCKER_SKIP_REASON}]`, fn);
}

/**
 * Docker for tests, through docker/ (the only importer of dockerode): the shared client, a
 * client with its own options, dockerode's class for raw inspection, and berth's translation.
 */
export { docker, dockerClient, Dockerode, translateDockerError, type Docker } from '../../docker/client.js';

/**
 * Remove what berth keeps past a workspace's delete by design, for one test's own temp repository:
 * cache volumes and ready-dependency snapshots (berth-deps/* images) carrying `label` (e.g.
 * `dev.berth.repo=<path>` or `dev.berth.pipeline-repo=<key>`). Other tests' resources don't match.
 */
export async function removeKeptFor(label: string): Promise<void> {
  const client = docker();
  const { Volumes } = await client.listVolumes({ filters: { label: [label] } });
  for (const v of Volumes ?? [])
    await client
      .getVolume(v.Name)
      .remove()
      .catch((err: unknown) => console.error(`cleanup: volume ${v.Name}: ${String(err)}`));
  for (const img of await client.listImages({ filters: { label: [label] } })) {
    if (!(img.RepoTags ?? []).some((t) => t.startsWith('berth-deps/'))) continue;
    await client
      .getImage(img.Id)
      .remove({ force: true })
      .catch((err: unknown) => console.error(`cleanup: image ${img.Id}: ${String(err)}`));
  }
}
