// The official openai npm client against the Boundless router's OpenAI-compatible API.
// usage: node openai-client-check.mjs <baseURL> <model> <apiKey>
// Prints one JSON object with what each scenario observed; the e2e test asserts on it.
import OpenAI from "openai";

const [baseURL, model, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60000 });
const out = {};

async function error(fn) {
  try {
    await fn();
    return { status: 200 };
  } catch (e) {
    return { status: e.status ?? null, code: e.code ?? null, type: e.type ?? null, message: e.message, name: e.constructor.name };
  }
}

const models = await client.models.list();
out.models = models.data.map((m) => m.id);

const messages = [{ role: "user", content: "What is the capital of France?" }];
const whole = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0.9, seed: 7 });
out.chat = { content: whole.choices[0].message.content, role: whole.choices[0].message.role, finish: whole.choices[0].finish_reason, usage: whole.usage, object: whole.object };

const stream = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0.9, seed: 7, stream: true, stream_options: { include_usage: true } });
let text = "", chunks = 0, finish = null, usage = null, role = null;
for await (const c of stream) {
  chunks++;
  if (c.usage) usage = c.usage;
  for (const ch of c.choices) {
    if (ch.delta.role) role = ch.delta.role;
    text += ch.delta.content ?? "";
    if (ch.finish_reason) finish = ch.finish_reason;
  }
}
out.chatStream = { content: text, chunks, finish, usage, role };

const two = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 6, n: 2, logprobs: 2, temperature: 1, seed: 11 });
out.completionN = two.choices.map((c) => ({ index: c.index, text: c.text, finish: c.finish_reason, tokens: c.logprobs.tokens.length, top: c.logprobs.top_logprobs.map((t) => Object.keys(t).length) }));
out.completionNUsage = two.usage;

const lp = await client.chat.completions.create({ model, messages, max_tokens: 4, temperature: 0, logprobs: true, top_logprobs: 3 });
out.chatLogprobs = lp.choices[0].logprobs.content.map((e) => ({ logprob: e.logprob, top: e.top_logprobs.length }));

const greedy = await client.completions.create({ model, prompt: "The capital of France is", max_tokens: 24, temperature: 0 });
out.greedy = greedy.choices[0].text;
const stopAt = greedy.choices[0].text.slice(6, 8);
const stopped = await client.completions.create({ model, prompt: "The capital of France is", max_tokens: 24, temperature: 0, stop: [stopAt] });
out.stop = { stop: stopAt, text: stopped.choices[0].text, finish: stopped.choices[0].finish_reason };

out.errors = {
  unknownModel: await error(() => client.chat.completions.create({ model: "no-such-model", messages })),
  badTemperature: await error(() => client.chat.completions.create({ model, messages, temperature: 500 })),
  tooLong: await error(() => client.completions.create({ model, prompt: "word ".repeat(3000), max_tokens: 4 })),
  badKey: await error(() => new OpenAI({ baseURL, apiKey: "sk-wrong", maxRetries: 0 }).models.list()),
};
console.log(JSON.stringify(out));
