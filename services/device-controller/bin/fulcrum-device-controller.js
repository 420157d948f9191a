#!/usr/bin/env node
// Committed shim so the bin link exists before the TypeScript build runs.
import '../dist/service-main.js';
