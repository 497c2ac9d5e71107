/**
 * berth's data directory: worktrees, pool slots and runner state live here, outside the user's
 * checkout. Precedence: explicit option > BERTH_DATA_DIR > $XDG_DATA_HOME/berth > ~/.local/share/berth.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export function dataDir(explicit?: string): string {
  if (explicit) return resolve(explicit);
  if (process.env.BERTH_DATA_DIR) return resolve(process.env.BERTH_DATA_DIR);
  const xdg = process.env.XDG_DATA_HOME;
  return join(xdg ? resolve(xdg) : join(homedir(), '.local', 'share'), 'berth');
}
