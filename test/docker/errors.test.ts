/**
 * docker/errors.ts: the table on its own (engine-shaped errors, as docker-modem builds them), then
 * the same translation on errors provoked from the real engine.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { call } from '../../docker/client.js';
import { createContainer } from '../../docker/create.js';
import { LABEL, RUNNER_VERSION } from '../../docker/labels.js';
import { IMAGES } from '../../src/images.js';
import type { BerthErrorCode } from '../../src/errors.js';
import { describeDocker, docker, dockerClient, translateDockerError } from '../helpers/docker.js';

/** What docker-modem rejects with for an HTTP error: statusCode, reason, json body, message. */
function httpError(statusCode: number, message: string): Error {
  return Object.assign(new Error(`(HTTP code ${statusCode}) unexpected - ${message}`), { statusCode, json: { message }, reason: 'unexpected' });
}

function socketError(code: string): Error {
  return Object.assign(new Error(`connect ${code} /var/run/docker.sock`), { code, errno: -2, syscall: 'connect' });
}

const TABLE: [string, Error, BerthErrorCode, RegExp][] = [
  ['socket missing', socketError('ENOENT'), 'DOCKER_UNAVAILABLE', /no Docker engine answers \(ENOENT\).*DOCKER_HOST/],
  ['socket refuses', socketError('ECONNREFUSED'), 'DOCKER_UNAVAILABLE', /ECONNREFUSED/],
  ['socket not permitted', socketError('EACCES'), 'DOCKER_UNAVAILABLE', /EACCES/],
  ['no such image', httpError(404, 'No such image: nope:1'), 'IMAGE_MISSING', /No such image: nope:1.*berth images build/],
  ['pull: manifest unknown', httpError(404, 'manifest for foo/bar:9 not found: manifest unknown: manifest unknown'), 'IMAGE_MISSING', /manifest unknown/],
  [
    'pull: repository missing',
    httpError(404, 'pull access denied for foo, repository does not exist or may require docker login'),
    'IMAGE_MISSING',
    /pull access denied/,
  ],
  [
    'pull: unauthorized',
    httpError(500, 'Head "https://r.example/v2/x/manifests/1": unauthorized: authentication required'),
    'DOCKER_ERROR',
    /refused the credentials.*docker login/,
  ],
  [
    'pull: network',
    httpError(500, 'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host'),
    'DOCKER_ERROR',
    /could not reach the registry/,
  ],
  ['no such volume', httpError(404, 'get berth-vol-x: no such volume'), 'NOT_FOUND', /no such volume/],
  ['no such exec', httpError(404, 'No such exec instance: abc'), 'NOT_FOUND', /No such exec/],
  ['no such container', httpError(404, 'No such container: berth-ws-x'), 'CONTAINER_GONE', /No such container: berth-ws-x/],
  ['already started', httpError(304, ''), 'DOCKER_ERROR', /already in the requested state/],
  ['exec in stopped', httpError(409, 'Container abc is not running'), 'CONTAINER_DIED', /is not running/],
  ['paused', httpError(409, 'Container abc is paused, unpause the container before exec'), 'CONTAINER_DIED', /paused/],
  ['name conflict', httpError(409, 'Conflict. The container name "/x" is already in use by container "abc".'), 'DOCKER_ERROR', /name conflict.*already in use/],
  ['other conflict', httpError(409, 'removal of container abc is already in progress'), 'DOCKER_ERROR', /conflict: removal/],
  ['disk full', httpError(500, 'write /var/lib/docker/tmp/x: no space left on device'), 'DOCKER_ERROR', /out of disk space.*prune/],
  ['bad request', httpError(400, 'invalid reference format'), 'BAD_INPUT', /rejected the request: invalid reference format/],
  ['anything else', httpError(500, 'something odd'), 'DOCKER_ERROR', /op: something odd/],
];

describe('docker error table', () => {
  it.each(TABLE)('%s', (_name, err, code, message) => {
    const t = translateDockerError(err, 'op');
    expect(t.code).toBe(code);
    expect(t.message).toMatch(message);
    expect(t.message.startsWith('op: ')).toBe(true);
    expect(t.cause).toBe(err);
    if ('statusCode' in err) expect(t.details).toEqual({ statusCode: err.statusCode });
  });
});

/** Rejects with the translated error of `fn`, or fails the test when it resolves. */
async function translated(fn: () => Promise<unknown>) {
  try {
    await call('op', fn);
  } catch (err) {
    return err as { code: string; message: string; details?: Record<string, unknown> };
  }
  throw new Error('expected the Docker call to fail');
}

describeDocker('docker error table (real engine)', () => {
  const tag = `berth-errors-${randomBytes(4).toString('hex')}`;
  const labels = { [LABEL.managed]: '1', [LABEL.role]: 'helper', [LABEL.runnerVersion]: RUNNER_VERSION, 'dev.berth.test': tag };
  const make = (name: string, image: string = IMAGES.busybox) =>
    createContainer(docker(), { name, image, entrypoint: ['true'], labels }, { caps: 'none', resources: { cpus: 0.5, memoryMb: 32, pids: 8 } });

  afterAll(async () => {
    for (const c of await docker().listContainers({ all: true, filters: { label: [`dev.berth.test=${tag}`] } })) {
      await docker().getContainer(c.Id).remove({ force: true });
    }
  });

  it('inspecting a missing container is CONTAINER_GONE', async () => {
    const e = await translated(() => docker().getContainer(`${tag}-missing`).inspect());
    expect(e.code).toBe('CONTAINER_GONE');
    expect(e.message).toContain(`${tag}-missing`);
  });

  it('exec into a container that is not running is CONTAINER_DIED', async () => {
    const id = await make(`${tag}-stopped`);
    const e = await translated(() =>
      docker()
        .getContainer(id)
        .exec({ Cmd: ['true'] }),
    );
    expect(e.code).toBe('CONTAINER_DIED');
    expect(e.message).toMatch(/is not running/);
  });

  it('creating from a missing image is IMAGE_MISSING', async () => {
    const e = await make(`${tag}-noimage`, 'berth-no-such-image:0').then(
      () => undefined,
      (err: unknown) => err as { code: string; message: string },
    );
    expect(e?.code).toBe('IMAGE_MISSING');
    expect(e?.message).toMatch(/berth-no-such-image:0.*berth images build/);
  });

  it('a name taken by another container is a 409 name conflict', async () => {
    await make(`${tag}-dup`);
    const e = await make(`${tag}-dup`).then(
      () => undefined,
      (err: unknown) => err as { code: string; message: string; details?: Record<string, unknown> },
    );
    expect(e?.code).toBe('DOCKER_ERROR');
    expect(e?.message).toMatch(/name conflict.*already in use/);
    expect(e?.details).toEqual({ statusCode: 409 });
  });

  it('removing a missing volume is NOT_FOUND', async () => {
    const e = await translated(() => docker().getVolume(`${tag}-novol`).remove());
    expect(e.code).toBe('NOT_FOUND');
  });

  it('a socket path with no engine behind it is DOCKER_UNAVAILABLE', async () => {
    const nowhere = dockerClient({ socketPath: `/tmp/${tag}-no-docker.sock` });
    const e = await translated(() => nowhere.ping());
    expect(e.code).toBe('DOCKER_UNAVAILABLE');
    expect(e.message).toMatch(/ENOENT.*DOCKER_HOST/);
  });
});
