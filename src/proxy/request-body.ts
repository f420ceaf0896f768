import type { IncomingMessage } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { GatewayError } from '../errors.js';
import { headerValue } from './headers.js';

/**
 * The client's request body, read as the route needs it. JSON bodies are read whole (bounded by
 * the limit): the gateway must refuse malformed JSON before anything reaches the upstream, and
 * the budget needs the model and token limits from it. Forms (multipart uploads for audio and
 * images) stream through untouched, counted against the same limit. Any other content type is
 * read as JSON, as LiteLLM reads it: a chat request labelled `text/plain` is served upstream all
 * the same, so it must not pass unread (its model budget unchecked, its stream's usage not asked for).
 */
export type RequestBody =
  | { readonly kind: 'none' }
  | { readonly kind: 'json'; readonly bytes: Buffer; readonly json: unknown }
  | { readonly kind: 'stream'; readonly stream: Readable };

const NONE: RequestBody = { kind: 'none' };
/** What LiteLLM reads as a form rather than JSON. */
const FORM = /^\s*(?:multipart\/form-data|application\/x-www-form-urlencoded)\b/i;

export async function readRequestBody(incoming: IncomingMessage, limitBytes: number): Promise<RequestBody> {
  const raw = incoming.rawHeaders;
  const declared = headerValue(raw, 'content-length');
  const chunked = headerValue(raw, 'transfer-encoding') !== undefined;
  if (!chunked && (declared === undefined || declared === '0')) return NONE;
  if (declared !== undefined && Number(declared) > limitBytes) throw tooLarge(limitBytes);

  const contentType = headerValue(raw, 'content-type');
  if (contentType === undefined || !FORM.test(contentType)) {
    const bytes = await readAll(incoming, limitBytes);
    return { kind: 'json', bytes, json: parseJson(bytes) };
  }
  // A declared length is enforced by Node's parser already; only a chunked body needs counting.
  return { kind: 'stream', stream: chunked ? limited(incoming, limitBytes) : incoming };
}

// Listeners rather than `for await`: leaving an async iterator early destroys the socket, and
// the client would get a reset instead of the 413.
function readAll(incoming: IncomingMessage, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        stop();
        reject(tooLarge(limitBytes));
      } else chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      stop();
      reject(err);
    };
    const stop = () => {
      incoming.off('data', onData).off('end', onEnd).off('error', onError);
      incoming.pause();
    };
    incoming.on('data', onData).on('end', onEnd).on('error', onError);
  });
}

function limited(incoming: IncomingMessage, limitBytes: number): Readable {
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      if (size <= limitBytes) return callback(null, chunk);
      incoming.unpipe(counter);
      callback(tooLarge(limitBytes));
    },
  });
  // undici learns of the error through the body it reads; this listener only keeps an error
  // that arrives after undici let go of the stream from becoming an uncaught exception.
  counter.on('error', () => {});
  return incoming.pipe(counter);
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new GatewayError('invalid_json', `The request body is not valid JSON: ${(err as Error).message}`);
  }
}

// Closing the connection stops the client from sending the rest of a body nobody will read.
const tooLarge = (limitBytes: number) =>
  new GatewayError('request_too_large', `The request body is larger than the limit of ${limitBytes} bytes.`, {
    connection: 'close',
  });
