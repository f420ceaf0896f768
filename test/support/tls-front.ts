import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';

/** A self-signed certificate for `localhost` (100 years), and its key: test fixtures, no secret. */
export const LOCALHOST_CERT = new URL('../db/fixtures/localhost.crt', import.meta.url);
const LOCALHOST_KEY = new URL('../db/fixtures/localhost.key', import.meta.url);

/** PostgreSQL's SSLRequest: length 8, then the code 1234.5679. */
const SSL_REQUEST = 80877103;

export interface TlsFront {
  readonly port: number;
  /** The server name each client sent for SNI (false or null: none). */
  readonly serverNames: (string | false | null)[];
  close(): Promise<void>;
}

/**
 * A service behind TLS, as managed databases offer them: holds the TLS session (the certificate
 * above) and passes what is inside to the real server at `target`. `postgres`: first answers the
 * client's SSLRequest with 'S', as PostgreSQL does; `direct`: TLS from the first byte (Redis).
 */
export async function tlsFront(target: { host: string; port: number }, protocol: 'postgres' | 'direct'): Promise<TlsFront> {
  const tls = { key: readFileSync(LOCALHOST_KEY), cert: readFileSync(LOCALHOST_CERT) };
  const serverNames: (string | false | null)[] = [];
  const sockets = new Set<Socket>();
  const secure = (client: Socket): void => {
    const session = new TLSSocket(client, { isServer: true, ...tls });
    session.once('secure', () => serverNames.push(session.servername));
    const upstream = connect(target.port, target.host);
    sockets.add(upstream);
    session.pipe(upstream).pipe(session);
    session.on('error', () => upstream.destroy());
    upstream.on('error', () => session.destroy());
    upstream.on('close', () => session.destroy());
  };
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('error', () => {});
    if (protocol === 'direct') return secure(client);
    client.once('data', (first) => {
      if (first.length !== 8 || first.readInt32BE(4) !== SSL_REQUEST) return client.destroy();
      client.write('S');
      secure(client);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    serverNames,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
