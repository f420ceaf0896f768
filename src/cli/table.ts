/**
 * Plain-text tables for the terminal: a header row and left-aligned columns two spaces apart,
 * or label/value pairs for one record. No colours or box drawing, so the output greps and pipes.
 */

export function table(columns: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((column, i) => Math.max(column.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns), ...rows.map(line)].join('\n');
}

export function record(pairs: readonly (readonly [string, string])[]): string {
  const width = Math.max(...pairs.map(([label]) => label.length));
  return pairs.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n');
}

/** USD with cents, and the micro-dollars when there are any: $12.50, $0.000125. */
export function usd(amount: number): string {
  const cents = amount.toFixed(2);
  return `$${Number(cents) === amount ? cents : String(amount)}`;
}

export function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}
