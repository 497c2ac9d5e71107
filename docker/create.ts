/**
 * The one call of dockerode's `createContainer` in berth. Every container (session, pool,
 * pipeline, helper) is created here, with the HostConfig of hardening.ts and berth's labels, so
 * no caller can forget a limit or leave an unlabelled container the reaper cannot find.
 */
import type Dockerode from 'dockerode';
import { BerthError } from '../src/errors.js';
import { call, type Docker } from './client.js';
import { hardenedHostConfig, type HardeningSpec } from './hardening.js';
import { LABEL, type Labels } from './labels.js';

export interface ContainerBody {
  readonly name: string;
  readonly image: string;
  /** Overrides the image's ENTRYPOINT (berth never relies on an image's entrypoint). */
  readonly entrypoint: readonly string[];
  readonly cmd?: readonly string[] | undefined;
  readonly workdir?: string | undefined;
  readonly user?: string | undefined;
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** Must carry dev.berth.managed=1 and dev.berth.role (docker/labels.ts). */
  readonly labels: Labels;
  readonly hostname?: string | undefined;
  /** Attach stdout/stderr before start (a pipeline's fast path streams the main process). */
  readonly attachOutput?: boolean | undefined;
}

export function envList(env: Readonly<Record<string, string>>): string[] {
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

/** Create (not start) a hardened, labelled container; returns its id. */
export async function createContainer(client: Docker, body: ContainerBody, hardening: HardeningSpec): Promise<string> {
  if (body.labels[LABEL.managed] !== '1' || !body.labels[LABEL.role]) {
    throw new BerthError('INTERNAL', `container ${body.name} lacks berth's labels (${LABEL.managed}, ${LABEL.role}); gc could not find it`);
  }
  const attach = body.attachOutput ?? false;
  const options: Dockerode.ContainerCreateOptions = {
    name: body.name,
    Image: body.image,
    Entrypoint: [...body.entrypoint],
    Cmd: [...(body.cmd ?? [])],
    ...(body.workdir === undefined ? {} : { WorkingDir: body.workdir }),
    ...(body.user === undefined ? {} : { User: body.user }),
    Env: envList(body.env ?? {}),
    Labels: body.labels,
    ...(body.hostname ? { Hostname: body.hostname } : {}),
    AttachStdin: false,
    AttachStdout: attach,
    AttachStderr: attach,
    Tty: false,
    OpenStdin: false,
    HostConfig: await hardenedHostConfig(hardening),
  };
  const c = await call(`create container ${body.name}`, () => client.createContainer(options));
  return c.id;
}
