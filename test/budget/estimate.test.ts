import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { estimateTokens } from '../../src/budget/index.js';

const estimate = (endpoint: string, body: unknown) =>
  estimateTokens({ endpoint, body }, { defaultCompletionTokens: 256 });
const say = (content: unknown) => ({ role: 'user', content });

describe('estimateTokens: prompt ≈ characters / 4, completion = the request limit or the default', () => {
  it.each([
    [
      'chat: string and part content (images add nothing)',
      '/v1/chat/completions',
      {
        messages: [
          { role: 'system', content: 'abcd' },
          say([{ type: 'text', text: '12345678' }, { type: 'image_url', image_url: { url: 'data:' } }]),
        ],
        max_tokens: 100,
      },
      3,
      100,
    ],
    [
      'chat: max_completion_tokens wins over max_tokens',
      'chat/completions',
      { messages: [], max_completion_tokens: 7, max_tokens: 100 },
      0,
      7,
    ],
    ['chat: n choices', '/chat/completions', { messages: [say('hello')], max_tokens: 10, n: 3 }, 2, 30],
    ['chat: no limit takes the default', '/v1/chat/completions', { messages: [say('hi')] }, 1, 256],
    ['completions: a string prompt', '/v1/completions', { prompt: 'abcdefgh', max_tokens: 5 }, 2, 5],
    ['completions: prompts', '/v1/completions', { prompt: ['abcd', 'abcd', 'a'], max_tokens: 5 }, 3, 5],
    ['completions: token ids', '/v1/completions', { prompt: [[1, 2], [3]], max_tokens: 5 }, 3, 5],
    [
      'completions: best_of is generated and billed',
      '/v1/completions',
      { prompt: 'abcd', max_tokens: 5, n: 2, best_of: 4 },
      1,
      20,
    ],
    ['embeddings: no completion', '/v1/embeddings', { input: 'abcdefghi', max_tokens: 99 }, 3, 0],
    ['embeddings: strings', 'embeddings', { input: ['abcd', 'efgh'] }, 2, 0],
    ['embeddings: token ids', '/embeddings', { input: [1, 2, 3, 4, 5] }, 5, 0],
    ['moderations', '/v1/moderations', { input: 'abcd' }, 1, 0],
    [
      'responses: input and instructions',
      '/v1/responses',
      { input: 'hello world!', instructions: 'abcd', max_output_tokens: 50 },
      4,
      50,
    ],
    [
      'responses: message items with input_text parts',
      '/v1/responses',
      { input: [say([{ type: 'input_text', text: 'abcdefgh' }]), say('abcd')] },
      3,
      256,
    ],
    ['rerank: query and documents', '/v1/rerank', { query: 'abcd', documents: ['abcd', { text: 'abcd' }] }, 3, 0],
    ['images: the prompt', '/v1/images/generations', { prompt: 'a cat in a hat' }, 4, 256],
  ])('%s', (_name, endpoint, body, promptTokens, completionTokens) => {
    expect(estimate(endpoint, body)).toEqual({ promptTokens, completionTokens });
  });
});

describe('estimateTokens on whatever a client sends', () => {
  const deep: unknown[] = [];
  let cursor = deep;
  for (let i = 0; i < 100_000; i += 1) {
    const next: unknown[] = [];
    cursor.push(next);
    cursor = next;
  }

  const isCount = (n: number) => Number.isSafeInteger(n) && n >= 0;

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a number', 42],
    ['a string', 'messages'],
    ['an array', [1, 2, 3]],
    ['messages as a number', { messages: 5 }],
    ['junk messages', { messages: [null, 1, true, 'x', { content: { content: { content: 'abcd' } } }] }],
    ['junk limits', { max_tokens: 'a', max_completion_tokens: -1, max_output_tokens: Number.NaN, n: -1 }],
    ['infinite limits', { max_tokens: Number.POSITIVE_INFINITY, n: Number.POSITIVE_INFINITY }],
    ['a huge n', { max_tokens: 1e15, n: 1e15 }],
    ['100 000 nested arrays', { messages: deep, input: deep }],
  ])('never throws or returns NaN on %s', (_name, body) => {
    for (const endpoint of ['/v1/chat/completions', '/v1/embeddings', '', '???']) {
      const { promptTokens, completionTokens } = estimate(endpoint, body);
      expect(isCount(promptTokens) && isCount(completionTokens)).toBe(true);
    }
  });

  it('finds the routes without completion tokens as the path rule says, however the path is written', () => {
    // The rule: drop the query, the leading slashes, one `v1/`, the trailing slashes; what is
    // left names the route. The check is one regular expression; this holds it to the rule.
    const byRule = (path: string) => {
      const route = (path.split('?')[0] ?? '').replace(/^\/+/, '').replace(/^v1\//, '').replace(/\/+$/, '');
      return ['embeddings', 'moderations', 'rerank'].includes(route);
    };
    const piece = fc.constantFrom('', '/', '//', 'v1', 'v1/', 'v2/', 'embeddings', 'moderations', 'rerank', 'chat/completions', 'x', '?', '?a=1', 'embeddingsx');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 6 }), (pieces) => {
        const path = pieces.join('');
        expect(estimate(path, { max_tokens: 7 }).completionTokens === 0).toBe(byRule(path));
      }),
      { numRuns: 20_000 },
    );
  });

  it('never throws or returns NaN on any JSON body and endpoint', () => {
    fc.assert(
      fc.property(fc.string(), fc.jsonValue({ maxDepth: 5 }), (endpoint, body) => {
        const { promptTokens, completionTokens } = estimate(endpoint, body);
        expect(isCount(promptTokens) && isCount(completionTokens)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
