#!/usr/bin/env node
import { logVerbosity, setLogVerbosity } from '@grpc/grpc-js';
import { runCli } from './program.js';

// grpc-js writes its own errors to stderr ("E No address added …") beside Fulcrum's one-line
// message for the same failure; GRPC_VERBOSITY / GRPC_TRACE still turn them on for debugging.
if (process.env['GRPC_VERBOSITY'] === undefined && process.env['GRPC_TRACE'] === undefined) setLogVerbosity(logVerbosity.NONE);

process.exitCode = await runCli(process.argv.slice(2));
