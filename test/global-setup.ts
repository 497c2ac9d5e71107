// Fails fast, with the remedy, when the suites cannot reach Docker (npm test brings it up first).
import { Dockerode as Docker } from '../docker/client.js';

export default async function setup(): Promise<void> {
  if (process.env.BERTH_TEST_DOCKER === '0') {
    process.stderr.write('BERTH_TEST_DOCKER=0: suites that need Docker are skipped (see test/helpers/docker.ts).\n');
    return;
  }
  try {
    await new Docker().ping();
  } catch (err) {
    throw new Error(
      `berth tests need a Docker engine: ${(err as Error).message}. Run them with \`npm test\` (which starts one), or start Docker / set DOCKER_HOST.`,
      { cause: err },
    );
  }
}
