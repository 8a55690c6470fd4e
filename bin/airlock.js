#!/usr/bin/env node
// Entry point: load the TypeScript sources through tsx so users never run a build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../proxy/cli.ts');
process.exitCode = await main(process.argv.slice(2));
