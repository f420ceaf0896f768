import { connect } from 'node:net';

export interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * One request written byte for byte on a fresh socket, for what no HTTP client would send
 * (broken framing, raw dot segments, invalid UTF-8, duplicate headers). `pieces` are written in
 * order, `gapMs` apart, so a body can also trickle in the way a slowloris client sends it.
 */
export function rawRequest(port: number, pieces: readonly (string | Buffer)[], { gapMs = 0, timeoutMs = 10_000 } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const received: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      const answer = parseAnswer(Buffer.concat(received));
      if (answer) resolve(answer);
      else reject(new Error(`the connection closed without an HTTP answer: ${JSON.stringify(Buffer.concat(received).toString('latin1'))}`));
    };
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      // One answer is all a test reads: stop at its end instead of waiting for keep-alive to lapse.
      if (nextAnswer(Buffer.concat(received))) socket.destroy();
    });
    socket.on('close', finish);
    socket.on('error', () => {}); // a reset after the answer is fine; `close` follows either way
    socket.on('connect', async () => {
      for (const [i, piece] of pieces.entries()) {
        if (i > 0 && gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
        if (socket.destroyed) return;
        socket.write(piece);
      }
    });
  });
}

/**
 * Each request written on one keep-alive connection once the answer to the one before has
 * arrived (answers with a content-length or chunked); rejects if the connection closes before the last.
 */
export function keepAliveExchange(port: number, requests: readonly Buffer[], { timeoutMs = 10_000 } = {}): Promise<RawAnswer[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const answers: RawAnswer[] = [];
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${answers.length} of ${requests.length} answers within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(requests[0]!));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      if (answers.length < requests.length) reject(new Error(`the connection closed after ${answers.length} of ${requests.length} answers`));
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const next = nextAnswer(received);
      if (!next) return;
      answers.push(next.answer);
      received = received.subarray(next.length);
      if (answers.length < requests.length) return void socket.write(requests[answers.length]!);
      clearTimeout(timer);
      socket.destroy();
      resolve(answers);
    });
  });
}

/** A complete HTTP/1.1 answer in `bytes` (content-length, chunked, or closed), else undefined. */
function parseAnswer(bytes: Buffer): RawAnswer | undefined {
  const next = nextAnswer(bytes);
  if (next) return next.answer;
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const { status, headers } = head(bytes, end);
  if (headers['content-length'] !== undefined || headers['transfer-encoding'] === 'chunked') return undefined;
  return { status, headers, body: bytes.subarray(end + 4).toString('utf8') };
}

/** The first answer in `bytes` whose end is known (content-length or chunked), and how many bytes it took. */
function nextAnswer(bytes: Buffer): { answer: RawAnswer; length: number } | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const { status, headers } = head(bytes, end);
  const rest = bytes.subarray(end + 4);
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    return rest.length >= length ? { answer: { status, headers, body: rest.subarray(0, length).toString('utf8') }, length: end + 4 + length } : undefined;
  }
  if (headers['transfer-encoding'] === 'chunked') {
    const body = dechunk(rest);
    return body === undefined ? undefined : { answer: { status, headers, body: body.text }, length: end + 4 + body.length };
  }
  return undefined;
}

function head(bytes: Buffer, end: number): { status: number; headers: Record<string, string> } {
  const [statusLine = '', ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers };
}

/** A chunked body's text and the bytes it took (its last chunk and blank line included), once complete. */
function dechunk(bytes: Buffer): { text: string; length: number } | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const size = parseInt(bytes.subarray(at, lineEnd).toString('latin1'), 16);
    if (size === 0) return bytes.length < lineEnd + 4 ? undefined : { text: Buffer.concat(parts).toString('utf8'), length: lineEnd + 4 };
    if (bytes.length < lineEnd + 2 + size + 2) return undefined;
    parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

/** A request's bytes: request line, headers (in order, duplicates kept), blank line, body. */
export function httpRequest(method: string, path: string, headers: readonly [string, string][], body: string | Buffer = ''): Buffer {
  const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  const lines = [`${method} ${path} HTTP/1.1`, 'host: 127.0.0.1', ...headers.map(([n, v]) => `${n}: ${v}`)];
  if (length > 0 && !headers.some(([n]) => /^(content-length|transfer-encoding)$/i.test(n))) lines.push(`content-length: ${length}`);
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), typeof body === 'string' ? Buffer.from(body) : body]);
}
