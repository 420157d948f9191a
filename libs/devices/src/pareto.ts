/**
 * The time–power Pareto front: indices of the points no other point beats in both (lower time and
 * lower power), sorted by time. NaN entries are ignored.
 */
export function paretoFront(timeMs: ArrayLike<number>, powerW: ArrayLike<number>): number[] {
  const idx: number[] = [];
  for (let i = 0; i < timeMs.length; i++) if (!Number.isNaN(timeMs[i]!) && !Number.isNaN(powerW[i]!)) idx.push(i);
  idx.sort((a, b) => timeMs[a]! - timeMs[b]! || powerW[a]! - powerW[b]!);
  const front: number[] = [];
  let best = Infinity;
  for (const i of idx) {
    if (powerW[i]! < best) {
      front.push(i);
      best = powerW[i]!;
    }
  }
  return front;
}
