// Fails fast, with the remedy, when the suites cannot reach Docker (npm test brings it up first).
import Docker from 'dockerode';

export default async function setup(): Promise<void> {
  try {
    await new Docker().ping();
  } catch (err) {
    throw new Error(
      `berth tests need a Docker engine: ${(err as Error).message}. Run them with \`npm test\` (which starts one), or start Docker / set DOCKER_HOST.`,
    );
  }
}
