/**
 * Registry credentials, found the way the docker CLI finds them:
 *   - the config: `DOCKER_AUTH_CONFIG` (the JSON itself, as CI systems pass it), else
 *     `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`;
 *   - `credHelpers[registry]` runs `docker-credential-<helper> get`, else `credsStore` does the same
 *     for every registry, else `auths[registry].auth` (base64 "user:password") or its
 *     `identitytoken`.
 * Docker Hub is keyed "https://index.docker.io/v1/" in configs, like the docker CLI writes it.
 * https://docs.docker.com/reference/cli/docker/login/#credential-stores
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { BerthError } from '../src/errors.js';

export const DOCKER_HUB = 'https://index.docker.io/v1/';

/** dockerode's `authconfig` for a pull. */
export interface RegistryAuth {
  serveraddress: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

const configSchema = z.looseObject({
  auths: z.record(z.string(), z.looseObject({ auth: z.string().optional(), identitytoken: z.string().optional() })).optional(),
  credsStore: z.string().optional(),
  credHelpers: z.record(z.string(), z.string()).optional(),
});
type DockerConfig = z.infer<typeof configSchema>;

/** The registry host of an image reference ("docker.io" when the first component is not a host). */
export function registryOf(ref: string): string {
  const first = ref.split('/')[0] ?? '';
  const isHost = ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  return isHost ? first : 'docker.io';
}

/** The key configs use for `registry`. */
export function configKey(registry: string): string {
  return registry === 'docker.io' || registry === 'index.docker.io' ? DOCKER_HUB : registry;
}

export async function readDockerConfig(env: NodeJS.ProcessEnv = process.env): Promise<{ config: DockerConfig; source: string } | undefined> {
  let text: string;
  let source: string;
  if (env.DOCKER_AUTH_CONFIG) {
    text = env.DOCKER_AUTH_CONFIG;
    source = 'DOCKER_AUTH_CONFIG';
  } else {
    source = join(env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), '.docker'), 'config.json');
    try {
      text = await readFile(source, 'utf8');
    } catch {
      return undefined;
    }
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new BerthError('BAD_INPUT', `the Docker config in ${source} is not valid JSON (${(err as Error).message}): fix it or run docker login again.`, {
      cause: err,
    });
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success)
    throw new BerthError(
      'BAD_INPUT',
      `the Docker config in ${source} has an unexpected shape (${parsed.error.issues[0]?.message}): fix it or run docker login again.`,
    );
  return { config: parsed.data, source };
}

/** Credentials for the registry of `ref`, or undefined for an anonymous pull. */
export async function authFor(ref: string, env: NodeJS.ProcessEnv = process.env): Promise<RegistryAuth | undefined> {
  const found = await readDockerConfig(env);
  if (!found) return undefined;
  const { config } = found;
  const registry = registryOf(ref);
  const key = configKey(registry);
  // Hosts may be written with or without a scheme; the docker CLI matches either.
  const lookup = <T>(rec: Record<string, T> | undefined): T | undefined =>
    rec?.[key] ?? rec?.[registry] ?? rec?.[`https://${registry}`] ?? rec?.[`http://${registry}`];
  const helper = lookup(config.credHelpers) ?? config.credsStore;
  if (helper) {
    const fromHelper = await runCredentialHelper(helper, key, env);
    if (fromHelper) return fromHelper;
  }
  const entry = lookup(config.auths);
  if (!entry) return undefined;
  if (entry.identitytoken) return { serveraddress: key, identitytoken: entry.identitytoken };
  if (!entry.auth) return undefined;
  const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new BerthError('BAD_INPUT', `the Docker config's auth for ${key} is not base64 "user:password": run docker login ${registry} again.`);
  return { serveraddress: key, username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

const helperReply = z.object({ Username: z.string(), Secret: z.string() });

/** `docker-credential-<helper> get`: registry on stdin, JSON on stdout; "not found" means anonymous. */
function runCredentialHelper(helper: string, serverURL: string, env: NodeJS.ProcessEnv): Promise<RegistryAuth | undefined> {
  if (!/^[A-Za-z0-9_.-]+$/.test(helper)) {
    return Promise.reject(
      new BerthError(
        'BAD_INPUT',
        `credential helper name ${JSON.stringify(helper)} in the Docker config is not valid: use a plain name like "pass" or "ecr-login".`,
      ),
    );
  }
  const bin = `docker-credential-${helper}`;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['get'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) =>
      reject(
        new BerthError(
          'REGISTRY_UNAUTHORIZED',
          `the Docker config names the credential helper ${bin}, which cannot run (${e.message}): install it or remove it from the config.`,
          { cause: e },
        ),
      ),
    );
    child.on('close', (code) => {
      if (code !== 0) {
        // The protocol's "no credentials for this server" answer: pull anonymously.
        if (/credentials not found/i.test(out + err)) return resolve(undefined);
        return reject(new BerthError('REGISTRY_UNAUTHORIZED', `${bin} get failed for ${serverURL} (exit ${code}): ${(err || out).trim()}`));
      }
      const parsed = helperReply.safeParse(safeJson(out));
      if (!parsed.success)
        return reject(new BerthError('REGISTRY_UNAUTHORIZED', `${bin} get answered something that is not {Username, Secret} for ${serverURL}.`));
      const { Username, Secret } = parsed.data;
      // "<token>" is the helpers' marker for an identity token instead of a password.
      resolve(
        Username === '<token>' ? { serveraddress: serverURL, identitytoken: Secret } : { serveraddress: serverURL, username: Username, password: Secret },
      );
    });
    child.stdin.end(serverURL);
  });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
