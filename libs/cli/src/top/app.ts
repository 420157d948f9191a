/**
 * The live `fulcrum top` view, drawn with ink (React for terminals): a frame of plain lines
 * refreshed every interval, fitted to the terminal as it is resized; `q` (or Ctrl-C) quits.
 */
import { createElement as h, useEffect, useState } from 'react';
import { Box, Text, render, useApp, useInput, useStdout } from 'ink';
import type { FrameOptions } from './frame.js';

/** What the view polls (one board, or the fleet) and how a snapshot becomes lines. */
export interface ViewSource<T> {
  snapshot(): Promise<T>;
  format(snapshot: T, options: FrameOptions): string[];
}

interface AppProps {
  readonly source: ViewSource<unknown>;
  readonly intervalMs: number;
  readonly target: string;
}

function App({ source, intervalMs, target }: AppProps) {
  const { exit } = useApp();
  const { stdout } = useStdout();
  const [size, setSize] = useState({ columns: stdout.columns || 100, rows: stdout.rows || 30 });
  const [snapshot, setSnapshot] = useState<unknown>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);

  useEffect(() => {
    const onResize = (): void => setSize({ columns: stdout.columns || 100, rows: stdout.rows || 30 });
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);

  useEffect(() => {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const tick = async (): Promise<void> => {
      try {
        const s = await source.snapshot();
        if (stopped) return;
        setSnapshot(s);
        setError(undefined);
      } catch (err) {
        if (!stopped) setError((err as Error).message);
      }
      if (!stopped) timer = setTimeout(() => void tick(), intervalMs);
    };
    void tick();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [source, intervalMs]);

  useInput((input, key) => {
    if (input === 'q' || input === 'Q' || (key.ctrl && input === 'c')) exit();
  });

  const lines = snapshot !== undefined ? source.format(snapshot, { width: size.columns, height: size.rows, keys: true }) : [`fulcrum top: connecting to ${target} …`, '', 'q quit'];
  if (error) lines.splice(1, 0, `(the last refresh failed: ${error.slice(0, Math.max(20, size.columns - 30))})`);
  // Exactly the screen's height: ink then repaints the whole screen each frame (its full-screen
  // path), so a resize that reflowed the old frame leaves nothing of it behind.
  const screen = lines.slice(0, size.rows);
  while (screen.length < size.rows) screen.push('');
  return h(
    Box,
    { flexDirection: 'column', width: size.columns, height: size.rows },
    ...screen.map((line, i) => h(Text, { key: i, wrap: 'truncate-end' }, line || ' ')),
  );
}

/** Runs the live view until the user quits. */
export async function runTopApp<T>(source: ViewSource<T>, intervalMs: number, target: string): Promise<void> {
  const app = render(h(App, { source: source as ViewSource<unknown>, intervalMs, target }), { exitOnCtrlC: false });
  await app.waitUntilExit();
}
