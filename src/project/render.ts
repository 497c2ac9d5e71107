/**
 * renderBerthYaml(): the commented berth.yaml that `berth init` writes. Every field appears with its
 * one-line description (from the schema's .describe()) as a comment; fields with a value are written
 * out, fields without one (no user, no lint step ...) are left as a commented example so the file
 * documents them without pinning them. Parsing the output with resolveSpec yields the same spec.
 */
import { stringify } from 'yaml';
import { fieldDescription, formatDuration, SPEC_FIELDS } from './schema.js';
import type { Resolved } from './types.js';

type Field = (typeof SPEC_FIELDS)[number];

const EXAMPLES: Readonly<Partial<Record<Field, string>>> = {
  env: 'env:\n  NODE_ENV: development',
  setup: 'setup:\n  - apt-get install -y jq',
  install: 'install: npm ci',
  caches: 'caches:\n  npm: /var/cache/berth/npm',
  volumes: 'volumes:\n  data: /data',
  user: 'user: "1000:1000"',
};

export function renderBerthYaml(resolved: Resolved, opts: { evidence?: readonly string[] } = {}): string {
  const { spec } = resolved;
  const evidence = opts.evidence?.length ? ` (${opts.evidence.join(', ')})` : '';
  const out: string[] = [
    "# berth.yaml: how berth builds the containers of this repository's workspaces.",
    `# Written by \`berth init\`; detected toolchain: ${spec.toolchain}${spec.packageManager ? `/${spec.packageManager}` : ''}${evidence}.`,
    '# Every field is optional: delete one to fall back to detection/defaults. `berth spec` shows the result.',
    '',
  ];

  // An empty list that some layer set on purpose (`lint: []` over a detected lint) must be written
  // out, or re-reading the file would bring the detected commands back.
  const commandsValue = (cmds: readonly string[], origin: string | undefined) =>
    cmds.length === 0 ? (origin === undefined || origin === 'default' ? undefined : []) : cmds.length === 1 ? cmds[0] : [...cmds];
  const mountsValue = (mounts: Resolved['spec']['caches']) => Object.fromEntries(mounts.map((m) => [m.name, m.path]));

  const values: Record<Field, unknown> = {
    image: spec.image,
    workdir: spec.workdir,
    env: Object.keys(spec.env).length ? { ...spec.env } : undefined,
    setup: commandsValue(spec.setup, resolved.origins['setup']),
    install: commandsValue(spec.install, resolved.origins['install']),
    build: commandsValue(spec.steps.build, resolved.origins['steps.build']),
    test: commandsValue(spec.steps.test, resolved.origins['steps.test']),
    lint: commandsValue(spec.steps.lint, resolved.origins['steps.lint']),
    caches: spec.caches.length ? mountsValue(spec.caches) : undefined,
    volumes: spec.volumes.length ? mountsValue(spec.volumes) : undefined,
    resources: { ...spec.resources },
    network: spec.installNetwork !== undefined && spec.installNetwork !== spec.network ? { install: spec.installNetwork, run: spec.network } : spec.network,
    pull: spec.pull,
    user: spec.user,
    idleTimeout: formatDuration(spec.idleTimeoutMs),
    timeout: formatDuration(spec.stepTimeoutMs),
    pool: { ...spec.pool },
  };

  for (const field of SPEC_FIELDS) {
    out.push(`# ${fieldDescription(field)}`);
    const value = values[field];
    if (field === 'resources' || field === 'pool') {
      // Nested mappings get a comment per sub-field too.
      out.push(`${field}:`);
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        out.push(`  # ${fieldDescription(`${field}.${k}`)}`, `  ${stringify({ [k]: v }).trimEnd()}`);
      }
    } else if (value === undefined) {
      const runner = spec.packageManager ? `${spec.packageManager} run` : 'make';
      const example = field === 'build' || field === 'test' || field === 'lint' ? `${field}: ${runner} ${field}` : (EXAMPLES[field] ?? `${field}: ...`);
      out.push(...example.split('\n').map((l) => `# ${l}`));
    } else {
      // lineWidth 0: never fold long commands across lines.
      out.push(stringify({ [field]: value }, { lineWidth: 0 }).trimEnd());
    }
    out.push('');
  }
  return `${out.join('\n').trimEnd()}\n`;
}
