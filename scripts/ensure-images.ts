/** Build berth's local images if they are missing (used by scripts/setup.sh). */
import { ensureImages } from '../docker/images.js';

const started = Date.now();
const built = await ensureImages({ onProgress: (l) => process.stderr.write(`berth: ${l}\n`) });
process.stderr.write(
  `berth: images ready (${built.length ? `built ${built.join(', ')}` : 'all present'}) in ${((Date.now() - started) / 1000).toFixed(1)}s\n`,
);
