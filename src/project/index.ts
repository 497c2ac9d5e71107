/** The spec half of the workspace library: berth.yaml schema, detection, resolution, rendering. */
export type { CacheMount, LifecycleStage, Network, Resolved, ResolvedDevcontainer, ResolvedSpec, StepName, Toolchain } from './types.js';
export { loadDevcontainer, parseDevcontainer, shellQuote, LIFECYCLE_HOOKS, type Devcontainer, type DevcontainerContext } from './devcontainer.js';
export { DEVCONTAINER_FILES, MAX_DEVCONTAINER_BYTES } from './devcontainer-read.js';
export { allowedLocalEnv, LOCAL_ENV_ALLOW } from './devcontainer-vars.js';
export { strictImageOf, STRICT_IMAGE_ENV, withImageFallback, type FallbackOptions, type FallbackResult } from './devcontainer-fallback.js';
export {
  berthYamlSchema,
  fieldDescription,
  formatDuration,
  MAX_DURATION_MS,
  NETWORKS,
  parseDuration,
  SPEC_FIELDS,
  type SpecInput,
  type SpecLayer,
} from './schema.js';
export {
  MAX_SPEC_FILE_CHARS,
  parseSpecFile,
  parseSpecInput,
  renderPath,
  specFromYaml,
  type FieldPath,
  type ParsedSpecFile,
  type SpecProblem,
} from './parse.js';
export { CACHE_ROOT, detect, makeTargets, TOOLCHAIN_IMAGES, type Detection, type PackageManager } from './detect.js';
export {
  canonicalJson,
  DEFAULT_CONFIG_FILES,
  deepFreeze,
  resolveLayers,
  resolveSpec,
  SPEC_DEFAULTS,
  specHash,
  type Origin,
  type ResolveOptions,
} from './resolve.js';
export { renderBerthYaml } from './render.js';
