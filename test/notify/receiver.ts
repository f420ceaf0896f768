import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a receiver got: headers, the exact body bytes (as text) and the parsed JSON. */
export interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly raw: string;
  readonly body: unknown;
}

/** A webhook receiver on 127.0.0.1:0 that records what it gets and answers as told. */
export interface Receiver {
  readonly url: string;
  readonly received: Received[];
  /** Statuses for the next requests, in turn; once used up, `status`. */
  readonly answers: number[];
  status: number;
  /** Read the request, never answer (a receiver that hangs). */
  hang: boolean;
  /** Answer this long after the request arrived (a slow receiver). */
  delayMs: number;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const answers: number[] = [];
  const receiver = { received, answers, status: 200, hang: false, delayMs: 0 } as { -readonly [K in keyof Receiver]: Receiver[K] };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      received.push({ headers: req.headers, raw, body: JSON.parse(raw) as unknown });
      if (receiver.hang) return;
      const status = answers.shift() ?? receiver.status;
      setTimeout(() => res.writeHead(status, { 'content-type': 'text/plain' }).end('ok'), receiver.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  receiver.close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return receiver;
}
