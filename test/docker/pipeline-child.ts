// A pipeline process for the reaper suite (spawned with tsx): runs one plan whose step prints
// READY and then waits, so the suite can kill -9 this process mid-run. Config is one JSON argument.
import { plan, runPlanLocal } from '../../pipelines/index.js';
import type { ResolvedSpec } from '../../src/project/types.js';

const cfg = JSON.parse(process.argv[2] ?? '{}') as { spec: ResolvedSpec; source: string; repo: string; labels: Record<string, string> };
const p = plan(cfg.spec, { run: 'echo READY; sleep 600' }, { repo: cfg.repo });
await runPlanLocal(p, {
  source: cfg.source,
  labels: cfg.labels,
  onOutput: (e) => {
    if (e.type === 'output' && e.text.includes('READY')) process.stdout.write('READY\n');
  },
});
