#!/usr/bin/env node
// Committed entry point, so `pnpm install` links the `autobalance` bin before dist/ is built.
import '../dist/cli.js';
