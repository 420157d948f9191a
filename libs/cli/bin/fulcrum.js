#!/usr/bin/env node
// Committed shim so the bin link exists (and is executable) before the TypeScript build runs.
import '../dist/bin.js';
