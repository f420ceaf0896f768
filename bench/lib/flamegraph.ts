// A static SVG flame graph from folded stacks ("a;b;c 42" lines, as in Brendan Gregg's
// flamegraph.pl): roots at the bottom, each frame as wide as its share of the samples. Frames
// narrower than MIN_WIDTH_PX are dropped; hovering a frame shows its name and share (<title>).

interface Frame {
  name: string;
  samples: number;
  children: Map<string, Frame>;
}

const WIDTH_PX = 1200;
const ROW_PX = 16;
const MIN_WIDTH_PX = 0.5;
const CHAR_PX = 6.5;

function tree(folded: readonly string[]): Frame {
  const root: Frame = { name: 'all', samples: 0, children: new Map() };
  for (const line of folded) {
    const cut = line.lastIndexOf(' ');
    const samples = Number(line.slice(cut + 1));
    if (!Number.isFinite(samples) || samples <= 0) continue;
    root.samples += samples;
    let at = root;
    for (const name of line.slice(0, cut).split(';')) {
      let child = at.children.get(name);
      if (!child) {
        child = { name, samples: 0, children: new Map() };
        at.children.set(name, child);
      }
      child.samples += samples;
      at = child;
    }
  }
  return root;
}

function depth(frame: Frame): number {
  let deepest = 0;
  for (const c of frame.children.values()) deepest = Math.max(deepest, depth(c));
  return deepest + 1;
}

const escape = (s: string): string => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

/** Warm colours, stable per frame name; our own source files (src/, bench/) in blue. */
function colour(name: string): string {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  if (/ (src|bench)\//.test(name)) return `hsl(${200 + (h % 30)}, 70%, ${60 + (h % 15)}%)`;
  return `hsl(${h % 50}, ${70 + (h % 20)}%, ${55 + (h % 15)}%)`;
}

export function flameGraphSvg(folded: readonly string[], title: string): string {
  const root = tree(folded);
  const rows = depth(root);
  const height = (rows + 2) * ROW_PX;
  const scale = root.samples === 0 ? 0 : WIDTH_PX / root.samples;
  const out: string[] = [];
  const draw = (frame: Frame, x: number, level: number): void => {
    const width = frame.samples * scale;
    if (width < MIN_WIDTH_PX) return;
    const y = height - (level + 1) * ROW_PX - ROW_PX;
    const share = ((100 * frame.samples) / root.samples).toFixed(2);
    const fits = Math.floor((width - 4) / CHAR_PX);
    const label = fits < 3 ? '' : frame.name.length <= fits ? frame.name : `${frame.name.slice(0, fits - 2)}..`;
    out.push(
      `<g><title>${escape(frame.name)} (${frame.samples} samples, ${share} %)</title>` +
        `<rect x="${x.toFixed(2)}" y="${y}" width="${width.toFixed(2)}" height="${ROW_PX - 1}" fill="${colour(frame.name)}" rx="2"/>` +
        (label ? `<text x="${(x + 3).toFixed(2)}" y="${y + ROW_PX - 4}">${escape(label)}</text>` : '') +
        `</g>`,
    );
    let childX = x;
    for (const child of [...frame.children.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      draw(child, childX, level + 1);
      childX += child.samples * scale;
    }
  };
  draw(root, 0, 0);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH_PX}" height="${height}" viewBox="0 0 ${WIDTH_PX} ${height}" font-family="monospace" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fdfdf8"/>`,
    `<text x="4" y="12">${escape(title)}</text>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
