// Reading a V8 .cpuprofile (what `node --cpu-prof` writes): samples inside a time window, self
// time per function and per package or source file, and folded stacks for a flame graph.

import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  where: string;
  samples: number;
  /** Share of the busy samples (all but "(idle)"), in percent. */
  percent: number;
}

export interface ProfileSummary {
  busySamples: number;
  idleSamples: number;
  functions: SelfTime[];
  places: SelfTime[];
  /** "root;caller;callee count" lines, busy samples only. */
  folded: string[];
}

/**
 * `window` is in µs of the monotonic clock V8 stamps samples with (the clock of
 * `process.hrtime`, CLOCK_MONOTONIC on Linux), so samples outside the measured load (start-up,
 * shutdown) can be left out.
 */
export function summarizeProfile(profile: CpuProfile, root: string, window?: { fromUs: number; toUs: number }): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const hits = new Map<number, number>();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (window && (t < window.fromUs || t > window.toUs)) continue;
    hits.set(profile.samples[i]!, (hits.get(profile.samples[i]!) ?? 0) + 1);
  }
  let busy = 0;
  let idle = 0;
  const functions = new Map<string, SelfTime>();
  const places = new Map<string, SelfTime>();
  const folded = new Map<string, number>();
  const add = (into: Map<string, SelfTime>, key: string, name: string, where: string, n: number): void => {
    const entry = into.get(key) ?? { name, where, samples: 0, percent: 0 };
    entry.samples += n;
    into.set(key, entry);
  };
  for (const [id, n] of hits) {
    const node = byId.get(id)!;
    if (node.callFrame.functionName === '(idle)') {
      idle += n;
      continue;
    }
    busy += n;
    const where = location(node.callFrame, root);
    const name = node.callFrame.functionName || anonymous(id, byId, parent);
    add(functions, `${name} ${where}`, name, where, n);
    const place = placeOf(node.callFrame, root);
    add(places, place, place, '', n);
    const stack: string[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      if (frame.functionName === '(root)') break;
      stack.push(`${frame.functionName || '(anonymous)'} ${placeOf(frame, root)}`.replaceAll(';', ','));
    }
    const line = stack.reverse().join(';');
    folded.set(line, (folded.get(line) ?? 0) + n);
  }
  const ranked = (m: Map<string, SelfTime>): SelfTime[] =>
    [...m.values()].map((e) => ({ ...e, percent: busy === 0 ? 0 : (100 * e.samples) / busy })).sort((a, b) => b.samples - a.samples);
  return { busySamples: busy, idleSamples: idle, functions: ranked(functions), places: ranked(places), folded: [...folded].map(([s, n]) => `${s} ${n}`) };
}

function path(url: string, root: string): string {
  if (!url.startsWith('file://')) return url;
  const file = fileURLToPath(url);
  return file.startsWith(root) ? relative(root, file) : file;
}

/** file:line; our TypeScript only by file, since tsx compiles each module onto one line. */
function location(frame: CallFrame, root: string): string {
  if (frame.url === '') return '(native)';
  const file = path(frame.url, root);
  return /\.m?ts$/.test(file) ? file : `${file}:${frame.lineNumber + 1}`;
}

/** An anonymous function, named after its nearest named caller: "(anonymous in forward)". */
function anonymous(id: number, byId: ReadonlyMap<number, ProfileNode>, parent: ReadonlyMap<number, number>): string {
  for (let at = parent.get(id); at !== undefined; at = parent.get(at)) {
    const name = byId.get(at)!.callFrame.functionName;
    if (name === '(root)') break;
    if (name !== '') return `(anonymous in ${name})`;
  }
  return '(anonymous)';
}

/** A package under node_modules, a source file of ours, a node: built-in, or "(native)". */
export function placeOf(frame: CallFrame, root: string): string {
  if (frame.url === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  const p = path(frame.url, root);
  const nm = p.lastIndexOf('node_modules/');
  if (nm !== -1) {
    const rest = p.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (p.startsWith('node:')) return p.split('/').slice(0, p.startsWith('node:internal/deps/') ? 3 : 2).join('/');
  return p;
}
