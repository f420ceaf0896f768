import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorReply } from '../http/error-reply.js';
import type { RequestObserver } from '../http/observe.js';
import type { Logger } from '../logger.js';
import type { Proxied, ProxyHandler } from './forward.js';

/**
 * The proxy's exact paths (`/v1/chat/completions`, `/embeddings`, ...) served straight from
 * Node's request event. Through Hono, each request also built Hono's context, the adapter's Web
 * Request, the middleware chain's promises and a Response to say it was already answered; those
 * were a sixth of what each young-generation collection found alive at 64 requests in flight,
 * and skipping them took about a tenth off the plain proxy's CPU per request (bench/README.md).
 * The same handler, observer and error page serve both ways.
 *
 * Only requests that Hono would route the same way are taken: the path is one of the route
 * table's literal paths, byte for byte, and the Host header is one the adapter takes as it is
 * (else it may refuse it). Everything else, wildcard routes and odd spellings included, goes
 * through the app as before.
 */
export class HotPaths {
  readonly #routes = new Map<string, { readonly label: string; readonly handler: ProxyHandler }>();

  constructor(
    private readonly observer: RequestObserver,
    private readonly logger: Logger,
  ) {}

  add(path: string, label: string, handler: ProxyHandler): void {
    this.#routes.set(path, { label, handler });
  }

  /** Serves the request if it is one of ours; false leaves it to the app. */
  serve(incoming: IncomingMessage, outgoing: ServerResponse): boolean {
    const url = incoming.url ?? '';
    const query = url.indexOf('?');
    const route = this.#routes.get(query === -1 ? url : url.slice(0, query));
    if (route === undefined || !PLAIN_HOST.test(incoming.headers.host ?? '')) return false;
    void this.#serve(route.label, route.handler, incoming, outgoing);
    return true;
  }

  async #serve(label: string, handler: ProxyHandler, incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
    const method = incoming.method ?? 'GET';
    const startedAt = this.observer.arrived();
    const proxied: Proxied = {};
    try {
      await handler(incoming, outgoing, proxied);
    } catch (err) {
      const { status, headers, body } = errorReply(err, proxied, label, this.logger);
      headers['content-length'] = String(Buffer.byteLength(body));
      // The proxy throws only before the upstream's headers; should an answer have begun all the same, cut it.
      if (outgoing.headersSent) outgoing.destroy();
      else outgoing.writeHead(status, headers).end(body);
    }
    // A body left unread (a 401, a 413) needs no draining here: Node answers such a request with
    // `connection: close` and closes the connection after it (test/proxy/hot-paths.test.ts).
    this.observer.recordOnClose(outgoing, method, startedAt, label, proxied);
  }
}

/** The Host values @hono/node-server takes without parsing a URL (its `reValidHost`). */
const PLAIN_HOST = /^[a-z0-9._-]+(?::(?:[1-5]\d{3,4}|[6-9]\d{3}))?$/;
