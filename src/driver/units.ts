/** The one byte formatter of human output: B below 1 KiB, then KiB/MiB/GiB with 3 significant digits. */
export function formatBytes(n: number): string {
  const units: [number, string][] = [[1024 ** 3, 'GiB'], [1024 ** 2, 'MiB'], [1024, 'KiB']];
  for (const [f, u] of units) if (Math.abs(n) >= f) return `${Number((n / f).toPrecision(3))} ${u}`;
  return `${n} B`;
}

/** formatBytes with the exact count after it when they differ: "3.41 KiB (3496 B)". */
export function formatBytesExact(n: number): string {
  const s = formatBytes(n);
  return s.endsWith(' B') ? s : `${s} (${n} B)`;
}
