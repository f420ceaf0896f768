import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { RequestError } from '@hono/node-server';
import { GatewayError, errorResponse } from '../errors.js';

/**
 * Requests Node's HTTP parser refuses (broken framing, a CR or NUL in a header, headers over
 * the size limit, a request that took too long) never reach the app; Node's own answer is a
 * bare status line, which OpenAI SDKs cannot read. This answers them in the contract's error
 * shape (CONTRACT section 5) and closes the connection, whose framing can no longer be trusted.
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  // The client is gone, or an answer is already on its way: nothing more can be said.
  if (err.code === 'ECONNRESET' || !socket.writable || (socket as { _httpMessage?: unknown })._httpMessage) {
    socket.destroy();
    return;
  }
  const { status, headers, body } = errorResponse(refusalFor(err.code));
  const head = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`];
  for (const [name, value] of Object.entries(headers)) head.push(`${name}: ${value}`);
  head.push(`content-length: ${Buffer.byteLength(body)}`, 'connection: close');
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}

function refusalFor(code: string | undefined): GatewayError {
  if (code === 'HPE_HEADER_OVERFLOW') return new GatewayError('headers_too_large', 'The request headers are larger than the server accepts.');
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return new GatewayError('request_timeout', 'The request was not received in time.');
  return new GatewayError('malformed_request', 'The request is not valid HTTP/1.1.');
}

/**
 * The same for requests Node parsed but the adapter cannot turn into a Web Request (a backslash
 * or a bad Host in the path): @hono/node-server's own answer is a bare 400.
 */
export function answerUnbuildableRequest(err: unknown): Response {
  const refusal =
    err instanceof RequestError
      ? new GatewayError('malformed_request', 'The request target or Host header is not valid.')
      : new GatewayError('internal_error', 'The gateway failed to handle the request.');
  const { status, headers, body } = errorResponse(refusal);
  return new Response(body, { status, headers });
}
