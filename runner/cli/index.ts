/** The runner/cli module's public surface: everything other modules may import. */
export { safeText } from './output.js';
