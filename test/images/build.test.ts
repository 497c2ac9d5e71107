// `build:` in berth.yaml through the real CLI and engine: the Dockerfile is built with its args,
// an unchanged build is not run again, a changed arg or file rebuilds, and a build that reaches
// outside the repository is refused.
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { docker } from '../../docker/client.js';
import { IMAGES } from '../../src/images.js';
import { describeDocker } from '../helpers/docker.js';
import { runBerth } from '../helpers/cli.js';

const temps: string[] = [];
const images = new Set<string>();

const berth = (args: string[], cwd: string) => runBerth(args, { cwd, env: { ...process.env, NO_COLOR: '1' } });

async function imageOf(dir: string): Promise<string> {
  const r = await berth(['spec', '--json'], dir);
  const image = (JSON.parse(r.output.slice(r.output.indexOf('{'))) as { spec: { image: string } }).spec.image;
  images.add(image);
  return image;
}

describeDocker('build: a Dockerfile in the repository', () => {
  afterAll(async () => {
    for (const ref of images)
      await docker()
        .getImage(ref)
        .remove({ force: true })
        .catch(() => undefined);
    for (const d of temps) await rm(d, { recursive: true, force: true });
  });

  it(
    'builds with args, reuses an unchanged build, rebuilds on a change',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'berth-build-'));
      temps.push(dir);
      await mkdir(join(dir, 'docker'));
      await writeFile(
        join(dir, 'docker', 'Dockerfile.dev'),
        `FROM ${IMAGES.busybox}\nARG GREETING\nCOPY note.txt /note.txt\nRUN echo "$GREETING" > /greeting\n`,
      );
      await writeFile(join(dir, 'note.txt'), 'v1\n');
      const yaml = (greeting: string) =>
        `build:\n  dockerfile: docker/Dockerfile.dev\n  context: .\n  args:\n    GREETING: ${greeting}\ninstall: []\ntest: cat /greeting /note.txt\n`;
      await writeFile(join(dir, 'berth.yaml'), yaml('hello'));
      expect(await imageOf(dir)).toMatch(/^berth-build:[0-9a-f]{16}$/);

      const first = await berth(['test', '--source=.'], dir);
      expect(first.code, first.output).toBe(0);
      expect(first.output).toMatch(/building docker\/Dockerfile\.dev/);
      expect(first.output).toMatch(/hello\s+v1/);

      const again = await berth(['test', '--source=.'], dir);
      expect(again.code, again.output).toBe(0);
      expect(again.output).toMatch(/up to date/);
      expect(again.output).not.toMatch(/building docker/);

      await writeFile(join(dir, 'note.txt'), 'v2\n');
      const changedFile = await berth(['test', '--source=.'], dir);
      expect(changedFile.output).toMatch(/building docker/);
      expect(changedFile.output).toMatch(/hello\s+v2/);

      await writeFile(join(dir, 'berth.yaml'), yaml('bonjour'));
      await imageOf(dir);
      const changedArg = await berth(['test', '--source=.'], dir);
      expect(changedArg.code, changedArg.output).toBe(0);
      expect(changedArg.output).toMatch(/bonjour\s+v2/);
      // Each rebuild moved the tag; the images it superseded were removed, not left dangling.
      const dangling = await docker().listImages({ filters: { dangling: ['true'], label: ['dev.berth.build.input-hash'] } });
      expect(dangling.map((i) => i.Id)).toEqual([]);
    },
    10 * 60_000,
  );

  it(
    'a failing RUN is a build failure, and a context outside the repository is refused',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'berth-build-bad-'));
      const outside = await mkdtemp(join(tmpdir(), 'berth-build-outside-'));
      temps.push(dir, outside);
      await writeFile(join(dir, 'Dockerfile'), `FROM ${IMAGES.busybox}\nRUN exit 3\n`);
      await writeFile(join(dir, 'berth.yaml'), 'build: {}\ninstall: []\ntest: "true"\n');
      await imageOf(dir);
      const failed = await berth(['test', '--source=.'], dir);
      expect(failed.code).not.toBe(0);
      expect(failed.output).toMatch(/building berth-build:\w+ failed: .*returned a non-zero code: 3/);

      await writeFile(join(dir, 'berth.yaml'), 'build:\n  context: ../x\ntest: "true"\n');
      const dotdot = await berth(['test', '--source=.'], dir);
      expect(dotdot.code).not.toBe(0);
      expect(dotdot.output).toMatch(/relative path inside the repository/);

      // A symlink inside the repository pointing out of it: refused after realpath.
      await writeFile(join(outside, 'Dockerfile'), `FROM ${IMAGES.busybox}\n`);
      await symlink(outside, join(dir, 'ctx'));
      await writeFile(join(dir, 'berth.yaml'), 'build:\n  context: ctx\ntest: "true"\n');
      await imageOf(dir);
      const escaped = await berth(['test', '--source=.'], dir);
      expect(escaped.code).not.toBe(0);
      expect(escaped.output).toMatch(/resolves outside the source/);
    },
    10 * 60_000,
  );
});
