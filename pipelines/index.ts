/**
 * pipelines/: stateless build/test/lint plans and the two executors that run them.
 *   runPipeline()   THE entry: plan + image policy + executor + one PipelineResult. The CLI
 *                   (`berth build|test|lint|check|run`), MCP pipeline_run, the bench and the Dagger
 *                   module (through pipelines/dagger-module.ts) all call it.
 *   plan()          ResolvedSpec + target → Plan (pure data; both executors consume it)
 *   runPlanLocal()  the local Docker executor
 *   runPlanDagger() the Dagger executor
 */
export { defaultUser, ensurePlanImage, runPipeline, type LocalPipelineSource, type PipelineSource, type RunPipelineOptions } from './run.js';
export {
  failureKindOf,
  pipelineErrorResult,
  pipelineExitCode,
  EXIT_INFRA,
  EXIT_INSTALL,
  RESERVED_EXIT_CODES,
  type FailureKind,
  type PipelineOutcome,
  type PipelineResult,
} from './result.js';
export { daggerSource, fromDaggerError, fromDaggerRun, type DaggerPipelineSource } from './run-dagger.js';
export { daggerFunctionOutput, daggerWorkspace, runDaggerPipeline } from './dagger-module.js';
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
  type PipelineResult as LocalPipelineResult,
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
export { dockerignoreToGitignore, listSource, packSource, type ListSourceOptions, type SourceListing } from './source-archive.js';
