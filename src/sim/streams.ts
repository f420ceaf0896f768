// Server-sent-event plans for the streamed routes. A plan is the full list of frames up front;
// the server only decides when to write each one (delays, disconnects), never what to write.

import {
  type ChatUsage,
  type Json,
  messageItem,
  newId,
  nowSeconds,
  outputText,
  responseObject,
} from './payloads.js';

export interface StreamPlan {
  frames: string[];
  // frames[firstPiece .. firstPiece + pieceCount) carry the content; delays and
  // x-sim-disconnect-after-chunks count only those.
  firstPiece: number;
  pieceCount: number;
}

const DONE = 'data: [DONE]\n\n';

function data(payload: Json): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

export function chatStream(model: string, pieces: string[], usage: ChatUsage | null): StreamPlan {
  const id = newId('chatcmpl-');
  const created = nowSeconds();
  const chunk = (delta: Json, finishReason: string | null): string =>
    data({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] });

  const frames = [chunk({ role: 'assistant', content: '' }, null)];
  for (const piece of pieces) frames.push(chunk({ content: piece }, null));
  frames.push(chunk({}, 'stop'));
  if (usage) frames.push(data({ id, object: 'chat.completion.chunk', created, model, choices: [], usage }));
  frames.push(DONE);
  return { frames, firstPiece: 1, pieceCount: pieces.length };
}

export function completionStream(model: string, pieces: string[], usage: ChatUsage | null): StreamPlan {
  const id = newId('cmpl-');
  const created = nowSeconds();
  const chunk = (text: string, finishReason: string | null): string =>
    data({ id, object: 'text_completion', created, model, choices: [{ index: 0, text, logprobs: null, finish_reason: finishReason }] });

  const frames = pieces.map((piece) => chunk(piece, null));
  frames.push(chunk('', 'stop'));
  if (usage) frames.push(data({ id, object: 'text_completion', created, model, choices: [], usage }));
  frames.push(DONE);
  return { frames, firstPiece: 0, pieceCount: pieces.length };
}

// Emits the whole event sequence OpenAI sends (item and content-part events included), because
// the SDK's `responses.stream()` accumulator rejects deltas for parts it has not seen announced.
export function responsesStream(model: string, pieces: string[], usage: Json): StreamPlan {
  const id = newId('resp_');
  const itemId = newId('msg_');
  const createdAt = nowSeconds();
  const text = pieces.join('');
  let sequence = 0;
  const event = (type: string, fields: Json): string =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...fields })}\n\n`;
  const at = { item_id: itemId, output_index: 0, content_index: 0 };
  const pending = responseObject(id, createdAt, model, 'in_progress', [], null);

  const frames = [
    event('response.created', { response: pending }),
    event('response.in_progress', { response: pending }),
    event('response.output_item.added', { output_index: 0, item: messageItem(itemId, 'in_progress', []) }),
    event('response.content_part.added', { ...at, part: outputText('') }),
  ];
  const firstPiece = frames.length;
  for (const delta of pieces) frames.push(event('response.output_text.delta', { ...at, delta, logprobs: [] }));

  const done = messageItem(itemId, 'completed', [outputText(text)]);
  frames.push(
    event('response.output_text.done', { ...at, text, logprobs: [] }),
    event('response.content_part.done', { ...at, part: outputText(text) }),
    event('response.output_item.done', { output_index: 0, item: done }),
    event('response.completed', { response: responseObject(id, createdAt, model, 'completed', [done], usage) }),
  );
  return { frames, firstPiece, pieceCount: pieces.length };
}
