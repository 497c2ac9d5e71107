#!/usr/bin/env node
// berth ships TypeScript sources and runs them through tsx, so `npx berth` works right after
// `npm ci` with no build step.
import { register } from 'tsx/esm/api';

register();
await import('../runner/cli/main.ts');
