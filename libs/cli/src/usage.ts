import { InvalidArgumentError } from 'commander';
import { ValidationError } from '@fulcrum/core';

/** Bad input from the command line: printed as `fulcrum: <message>` with exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly exitCode = 2;
}

/** A command that could not do its job for a reason outside its input (a service unreachable): `fulcrum: <message>`, exit 1. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  readonly exitCode = 1;
}

/** Turns a core ValidationError on a model field into one that names the flag the user typed. */
export function asUsageError(err: unknown, fieldToFlag: (field: string) => string | undefined = () => undefined): unknown {
  if (err instanceof ValidationError) {
    const flag = fieldToFlag(err.field);
    return new UsageError(flag ? `${flag}: ${err.reason}` : err.message);
  }
  return err;
}

// Argument parsers for commander: a thrown InvalidArgumentError makes commander name the option.
export function positiveNumber(text: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v <= 0) throw new InvalidArgumentError('must be a positive number.');
  return v;
}

export function nonNegativeNumber(text: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v < 0) throw new InvalidArgumentError('must be a number ≥ 0.');
  return v;
}

export function positiveInteger(text: string): number {
  const v = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isInteger(v) || v <= 0) throw new InvalidArgumentError('must be a positive integer.');
  return v;
}

export function oneOf<T extends string>(values: readonly T[]): (text: string) => T {
  return (text) => {
    if ((values as readonly string[]).includes(text)) return text as T;
    throw new InvalidArgumentError(`must be one of ${values.join(', ')}.`);
  };
}

/** For repeatable options: `--stream a --stream b` → ['a', 'b']. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function commaList<T>(parse: (item: string) => T): (text: string) => T[] {
  return (text) => {
    const items = text.split(',').map((s) => s.trim());
    if (items.some((s) => s === '')) throw new InvalidArgumentError('must be a comma-separated list with no empty items.');
    return items.map(parse);
  };
}
