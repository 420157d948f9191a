#!/usr/bin/env node
import { setLogger } from '@grpc/grpc-js';
import { runCli } from './program.js';

// grpc-js writes its errors to stderr itself; the one for a port it cannot bind ("No address
// added …") repeats what Fulcrum then says in one line (GrpcBindError), so only that one is dropped.
setLogger({
  error: (...args: unknown[]) => {
    const text = args.map(String).join(' ');
    if (!/No address added out of total/.test(text)) console.error(text);
  },
});

process.exitCode = await runCli(process.argv.slice(2));
