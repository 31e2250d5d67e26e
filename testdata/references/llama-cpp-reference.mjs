// llama.cpp (through node-llama-cpp, CPU build) as the independent reference for the engine:
// greedy tokens and next-token probabilities for a prompt of token ids.
//
//   node llama-cpp-reference.mjs <model.gguf> <steps> <comma-separated prompt ids>
//
// Prints one JSON object: {"tokens": [...], "probabilities": [[p_0 ... p_vocab-1], ...]} where
// probabilities[s] is llama.cpp's distribution for step s (before token s is chosen).
import { getLlama } from 'node-llama-cpp';

const [modelPath, stepsArg, promptArg] = process.argv.slice(2);
const steps = Number(stepsArg);
const prompt = promptArg.split(',').map(Number);

const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error', progressLogs: false, usePrebuiltBinaries: true });
const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
// F32 KV cache and no flash attention: the default F16 cache rounds keys and values, which is llama.cpp's
// choice of storage, not part of the model's arithmetic.
const context = await model.createContext({
  contextSize: 512, batchSize: 512, threads: 1, sequences: 1, flashAttention: false,
  experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32',
});
const seq = context.getSequence();
const tokens = [];
const probabilities = [];
let input = prompt;
for (let s = 0; s < steps; s++) {
  // Temperature 1 and no truncation, so the probabilities are the plain softmax of the logits; the
  // greedy token is their argmax (the sampled token is ignored).
  const options = { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 1 };
  const items = input.map((t, i) => (i === input.length - 1 ? [t, { generateNext: { token: true, probabilities: true, options } }] : t));
  const out = await seq.controlledEvaluate(items);
  const probs = out[out.length - 1].next.probabilities;
  let best = -1;
  let bestP = -1;
  for (const [t, p] of probs) {
    if (p > bestP) {
      best = t;
      bestP = p;
    }
  }
  tokens.push(best);
  probabilities.push(Object.fromEntries(probs));
  input = [best];
}
console.log(JSON.stringify({ tokens, probabilities }));
await context.dispose();
await model.dispose();
await llama.dispose();
