// llama.cpp's throughput through node-llama-cpp (CPU build), the peer of our DecodeBenchmark:
// prompt processing and batch-1 greedy decode on the same GGUF.
//
//   node llama-cpp-bench.mjs <model.gguf> <threads> <decode tokens> <prompt tokens>
import { getLlama } from 'node-llama-cpp';
import fs from 'node:fs';

const [modelPath, threadsArg, decodeArg, promptArg] = process.argv.slice(2);
const threads = Number(threadsArg);
const decode = Number(decodeArg);
const promptLen = Number(promptArg);

const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error', progressLogs: false });
const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
const n = Number(model.fileInfo.metadata[model.fileInfo.metadata.general.architecture].vocab_size ?? 32000);
const prompt = Array.from({ length: promptLen }, (_, i) => (i * 7919) % (n - 2));

async function run() {
  const context = await model.createContext({ contextSize: promptLen + decode + 64, batchSize: Math.max(512, promptLen), threads, sequences: 1 });
  const seq = context.getSequence();
  const greedy = { temperature: 0 };
  const t0 = process.hrtime.bigint();
  let out = await seq.controlledEvaluate(prompt.map((t, i) => (i === prompt.length - 1 ? [t, { generateNext: { token: true, options: greedy } }] : t)));
  const pp = Number(process.hrtime.bigint() - t0) / 1e9;
  let next = out[out.length - 1].next.token;
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < decode; i++) {
    out = await seq.controlledEvaluate([[next, { generateNext: { token: true, options: greedy } }]]);
    next = out[0].next.token;
  }
  const dt = Number(process.hrtime.bigint() - t1) / 1e9;
  await context.dispose();
  return { pp, dt };
}
await run(); // warm-up
const { pp, dt } = await run();
const bytes = fs.statSync(modelPath).size;
console.log(JSON.stringify({ engine: 'llama.cpp', model: modelPath.split('/').pop(), threads, prompt_tokens_per_second: promptLen / pp,
  decode_tokens_per_second: decode / dt, decode_gb_per_second: (bytes * decode) / dt / 1e9 }));
await model.dispose();
await llama.dispose();
