/** Small text forms the commands share. */

/** How long ago `when` was, as of `nowMs`: `12 s ago`, `3 min ago`, `2 h ago`; `—` when unknown. */
export function ago(when: Date | undefined, nowMs: number): string {
  if (!when) return '—';
  const s = Math.max(0, Math.round((nowMs - when.getTime()) / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}
