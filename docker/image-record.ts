/**
 * Why each image berth pulled is on this machine. Built images carry labels (docker/toolchains.ts);
 * a pulled image cannot be labelled after the fact, so pulls are recorded in berth's data dir
 * (`images.json`: ref -> when and why). `berth images` reads both.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { dataDir } from '../src/data-dir.js';

const recordSchema = z.record(z.string(), z.object({ pulledAt: z.string(), reason: z.string() }));
export type PullRecord = z.infer<typeof recordSchema>;

const file = () => join(dataDir(), 'images.json');

export async function readPullRecord(): Promise<PullRecord> {
  try {
    const parsed = recordSchema.safeParse(JSON.parse(await readFile(file(), 'utf8')));
    return parsed.success ? parsed.data : {};
  } catch {
    return {};
  }
}

/** Best effort: a record that cannot be written never fails the pull it describes. */
export async function recordPull(ref: string, reason: string): Promise<void> {
  try {
    const rec = await readPullRecord();
    rec[ref] = { pulledAt: new Date().toISOString(), reason };
    await mkdir(dataDir(), { recursive: true });
    const tmp = `${file()}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(rec, null, 2)}\n`);
    await rename(tmp, file());
  } catch {
    // The listing then shows the image without a reason.
  }
}
