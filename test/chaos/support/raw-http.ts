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
      if (parseAnswer(Buffer.concat(received))) socket.destroy();
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

/** A complete HTTP/1.1 answer in `bytes` (content-length, chunked, or closed), else undefined. */
function parseAnswer(bytes: Buffer): RawAnswer | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine = '', ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(statusLine.split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = bytes.subarray(end + 4);
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    return rest.length >= length ? { status, headers, body: rest.subarray(0, length).toString('utf8') } : undefined;
  }
  if (headers['transfer-encoding'] === 'chunked') {
    const body = dechunk(rest);
    return body === undefined ? undefined : { status, headers, body };
  }
  return { status, headers, body: rest.toString('utf8') };
}

function dechunk(bytes: Buffer): string | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const size = parseInt(bytes.subarray(at, lineEnd).toString('latin1'), 16);
    if (size === 0) return Buffer.concat(parts).toString('utf8');
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
