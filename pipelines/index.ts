/**
 * pipelines/: stateless build/test/lint plans and the two executors that run them.
 *   plan()          ResolvedSpec + target → Plan (pure data; both executors consume it)
 *   runPlanLocal()  the local Docker executor (`berth build|test|lint|check|run`, MCP pipeline_run)
 *   runPlanDagger() the Dagger executor (src/index.ts, `dagger call …`)
 */
export {
  plan,
  repoKey,
  shellQuote,
  STEP_NAMES,
  MAX_COMMAND_BYTES,
  MAX_TIMEOUT_MS,
  type Plan,
  type PlanCache,
  type PlanCommand,
  type PlanOptions,
  type PlanStep,
  type PlanTarget,
  type PhaseName,
  type PipelineStep,
} from './plan.js';
export {
  runPlanLocal,
  formatMs,
  EXIT_ABORTED,
  EXIT_TIMEOUT,
  type CommandResult,
  type PhaseOutcome,
  type PhaseResult,
  type PipelineEvent,
  type PipelineResult,
  type RunOutcome,
  type RunPlanLocalOptions,
} from './docker.js';
export {
  daggerImage,
  daggerPrepared,
  formatDaggerResult,
  runPlanDagger,
  translateDaggerError,
  withTimeout,
  DAGGER_PUBLIC_IMAGES,
  SOURCE_EXCLUDES,
  type DaggerClientLike,
  type DaggerCommandOutput,
  type DaggerContainerLike,
  type DaggerRunResult,
  type DaggerSourceOptions,
  type DaggerStepResult,
} from './dagger.js';
export { DirectorySourceReader, dockerignorePatterns, manifestName, type DirectoryLike } from './dagger-reader.js';
export { dockerignoreToGitignore, listSource, packSource, type SourceListing } from './source-archive.js';
