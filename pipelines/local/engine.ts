/**
 * The local executor on a chosen engine (RunPipelineOptions.engine): nothing of the run needs a
 * host path (the source is packed through the safe walker and PUT with the archive API, caches
 * and ready-deps snapshots are that engine's volumes and images), so the only engine-specific
 * step is the image: ensured on the local engine by the usual policy, then copied to the chosen
 * one when it lacks it (docker/engines-image.ts says why copy rather than pull or build there).
 */
import { ensureImageOn, imageExists, type Engine } from '../../docker/index.js';
import type { PipelineResult } from '../result.js';
import type { PipelineEvent } from './types.js';

/** `image` present on `engine`: already there, or ensured locally (`ensureLocal`) and copied. */
export async function imageOnEngine(
  engine: Engine,
  image: string,
  ensureLocal: () => Promise<void>,
  opts: { signal?: AbortSignal; onOutput?: (e: PipelineEvent) => void },
): Promise<void> {
  // An engine that has it needs nothing from the local one (which may even be down).
  if (await imageExists(image, engine.docker)) return;
  await ensureLocal();
  await ensureImageOn(engine.docker, image, {
    engineId: engine.id,
    ...(opts.signal ? { signal: opts.signal } : {}),
    onProgress: (message) => opts.onOutput?.({ type: 'info', message }),
  });
}

/** The result, naming the engine it ran on when one was chosen. */
export function onEngine(r: PipelineResult, engine: Engine | undefined): PipelineResult {
  return engine ? { ...r, engine: engine.id } : r;
}
