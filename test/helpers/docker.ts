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
