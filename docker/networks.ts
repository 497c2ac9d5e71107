/**
 * Which networks the engine offers. An engine started with `--bridge=none` has no "bridge"
 * network at all, and a container asking for it fails to start with a bare "network bridge not
 * found"; berth checks first so it can say what to do instead.
 */
import { call, docker, type Docker } from './client.js';

type NetworkName = 'none' | 'bridge' | 'host';

export async function networkExists(name: string, client: Docker = docker()): Promise<boolean> {
  const rows = await call('list networks', () => client.listNetworks({ filters: { name: [name] } }));
  // The name filter matches substrings; compare exactly.
  return rows.some((n) => n.Name === name);
}

export const NO_BRIDGE_HINT =
  'this Docker engine has no bridge network, so the install phase runs without network. If the install needs to fetch dependencies, set `network: {install: host}` in berth.yaml (or start dockerd with a bridge).';

/**
 * The network the install phase can really use: `wanted` when it is not the run network and the
 * engine has it; undefined (install shares the run network) otherwise. `onNote` hears why.
 */
export async function usableInstallNetwork(
  wanted: NetworkName | undefined,
  run: NetworkName,
  onNote: (message: string) => void,
  client: Docker = docker(),
): Promise<NetworkName | undefined> {
  if (wanted === undefined || wanted === run) return undefined;
  if (wanted === 'bridge' && !(await networkExists('bridge', client))) {
    onNote(NO_BRIDGE_HINT);
    return undefined;
  }
  return wanted;
}
