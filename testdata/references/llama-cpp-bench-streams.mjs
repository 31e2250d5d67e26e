// llama.cpp's aggregate decode throughput with N concurrent streams (node-llama-cpp batches the
// sequences of one context into one llama_decode per step). Peer of our ConcurrencyBenchmark.
//
//   node llama-cpp-bench-streams.mjs <model.gguf> <threads> <streams> <tokens per stream> <prompt tokens>
import { getLlama } from 'node-llama-cpp';

const [modelPath, threadsArg, streamsArg, tokensArg, promptArg] = process.argv.slice(2);
const [threads, streams, tokens, promptLen] = [threadsArg, streamsArg, tokensArg, promptArg].map(Number);
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error', progressLogs: false });
const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
const n = Number(model.fileInfo.metadata[model.fileInfo.metadata.general.architecture].vocab_size);

async function run() {
  const context = await model.createContext({ contextSize: streams * (promptLen + tokens + 16), batchSize: 512, threads, sequences: streams });
  const seqs = Array.from({ length: streams }, () => context.getSequence());
  const greedy = { temperature: 0 };
  const prompts = seqs.map((_, s) => Array.from({ length: promptLen }, (_, i) => (i * 7919 + s * 104729) % (n - 2)));
  const next = await Promise.all(seqs.map(async (seq, s) => {
    const out = await seq.controlledEvaluate(prompts[s].map((t, i) => (i === promptLen - 1 ? [t, { generateNext: { token: true, options: greedy } }] : t)));
    return out[out.length - 1].next.token;
  }));
  const t0 = process.hrtime.bigint();
  for (let step = 1; step < tokens; step++) {
    await Promise.all(seqs.map(async (seq, s) => {
      const out = await seq.controlledEvaluate([[next[s], { generateNext: { token: true, options: greedy } }]]);
      next[s] = out[0].next.token;
    }));
  }
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  await context.dispose();
  return (streams * (tokens - 1)) / dt;
}
await run();
const tps = await run();
console.log(JSON.stringify({ engine: 'llama.cpp', streams, threads, aggregate_decode_tokens_per_second: tps }));
await model.dispose();
await llama.dispose();
