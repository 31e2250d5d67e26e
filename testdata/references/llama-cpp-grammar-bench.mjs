// llama.cpp's grammar sampling through node-llama-cpp (CPU build), the peer of StructuredOutputBenchmark's decode runs:
// batch-1 decode tokens/s at temperature 1 with and without a JSON-schema grammar, on the same GGUF (which carries
// the real Llama 3 vocabulary, so grammar sampling sees real token texts).
//
//   node llama-cpp-grammar-bench.mjs <model.gguf> <threads> <tokens>
import { getLlama, LlamaCompletion } from 'node-llama-cpp';

const [modelPath, threadsArg, tokensArg] = process.argv.slice(2);
const threads = Number(threadsArg);
const tokens = Number(tokensArg);
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error', progressLogs: false });
const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
const schema = { type: 'object', properties: { notes: { type: 'array', items: { type: 'string' } } }, required: ['notes'] };
const grammar = await llama.createGrammarForJsonSchema(schema);
const prompt = Array.from({ length: 16 }, (_, i) => (i * 7919) % 120000);

async function run(withGrammar, n) {
  const context = await model.createContext({ contextSize: 16 + n + 64, threads, sequences: 1 });
  const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
  let count = 0;
  let first = null;
  await completion.generateCompletionWithMeta(prompt, {
    maxTokens: n, temperature: 1, seed: 1, grammar: withGrammar ? grammar : undefined,
    onToken: (t) => { if (first === null) first = process.hrtime.bigint(); count += t.length; },
  });
  const dt = Number(process.hrtime.bigint() - first) / 1e9;
  await context.dispose();
  return (count - 1) / dt;
}
await run(false, 16);
await run(true, 16);
const plain = (await run(false, tokens) + await run(false, tokens)) / 2;
const constrained = (await run(true, tokens) + await run(true, tokens)) / 2;
console.log(JSON.stringify({ engine: 'llama.cpp', bench: 'decode', streams: 1, threads, tokens_per_second_plain: plain,
  tokens_per_second_schema: constrained, schema_slowdown_percent: 100 * (1 - constrained / plain) }));
await model.dispose();
