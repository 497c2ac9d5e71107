/**
 * berth's data directory: worktrees, pool slots and runner state live here, outside the user's
 * checkout. Precedence: explicit option > BERTH_DATA_DIR > $XDG_DATA_HOME/berth > ~/.local/share/berth.
 */
import { constants as C } from 'node:fs';
import fs from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export function dataDir(explicit?: string): string {
  if (explicit) return resolve(explicit);
  if (process.env.BERTH_DATA_DIR) return resolve(process.env.BERTH_DATA_DIR);
  const xdg = process.env.XDG_DATA_HOME;
  return join(xdg ? resolve(xdg) : join(homedir(), '.local', 'share'), 'berth');
}

/**
 * Create the data dir, or tighten an existing one, to mode 0700: worktrees hold whatever the
 * agents wrote (binaries included), so no other host user may reach anything below it. Only a
 * directory this process owns is chmodded (a shared, admin-made one is left as its owner set it).
 */
export async function ensureDataDir(dir: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const h = await fs.open(dir, C.O_RDONLY | C.O_DIRECTORY);
  try {
    const st = await h.stat();
    if (st.uid === process.getuid?.() && (st.mode & 0o7777) !== 0o700) await h.chmod(0o700);
  } finally {
    await h.close();
  }
  return dir;
}
