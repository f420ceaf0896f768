import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy of the suite's own on a free loopback port, in front of a shared service (the
 * machine's PostgreSQL), so a test can take the service away from the gateway without touching
 * it: `down()` cuts every open connection and refuses new ones, `up()` lets them through again,
 * `stall()` keeps connections open but forwards nothing more to the service (a hung network).
 */
export interface TcpProxy {
  readonly port: number;
  down(): Promise<void>;
  /** From now on nothing the clients send reaches the service, on open and new connections alike. */
  stall(): void;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const clients = new Map<Socket, Socket>();
  let stalled = false;
  const hold = (client: Socket, upstream: Socket) => {
    client.unpipe(upstream);
    client.pause();
  };
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const pipe = (client: Socket) => {
    const upstream = connect(target);
    track(client);
    track(upstream);
    clients.set(client, upstream);
    if (stalled) hold(client, upstream);
    else client.pipe(upstream);
    upstream.pipe(client);
    client.once('close', () => (clients.delete(client), upstream.destroy()));
    upstream.once('close', () => client.destroy());
  };
  let server: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer(pipe);
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as { port: number }).port;
        resolve();
      });
    });
  // Stop listening first (new connections are refused), then cut the open ones.
  const down = async () => {
    const closing = server;
    server = undefined;
    const closed = closing ? new Promise<void>((resolve) => closing.close(() => resolve())) : Promise.resolve();
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  await listen();
  return {
    get port() {
      return port;
    },
    down,
    stall() {
      stalled = true;
      for (const [client, upstream] of clients) hold(client, upstream);
    },
    up: async () => {
      if (!server) await listen();
    },
    close: down,
  };
}
