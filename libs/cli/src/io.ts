/** Where the CLI writes: the process's stdout and stderr, or a test's buffers. A leaf module: commands take it from here, not from program.ts. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};
