// Tool calling and structured outputs through the official openai npm client against the Boundless router.
// usage: node openai-tools-check.mjs <baseURL> <model> <apiKey>
// The test model cannot call tools by itself, so its output is forced: by tool_choice (required or a named function,
// which the router constrains to the tools' schemas) or by a grammar in the family's own format (auto), the
// "test's own forcing" the parsers then read. Prints one JSON object; the e2e test asserts on it.
import OpenAI from "openai";

const [baseURL, model, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120000 });
const out = {};
const tools = [{
  type: "function",
  function: {
    name: "get_weather", description: "Get the weather in a city",
    parameters: { type: "object", properties: { city: { type: "string", maxLength: 12 }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
      required: ["city", "unit"], additionalProperties: false },
  },
}, {
  type: "function",
  function: { name: "get_time", description: "The time in a zone", parameters: { type: "object", properties: { zone: { type: "string", maxLength: 8 } }, required: ["zone"] } },
}];
const messages = [{ role: "user", content: "What is the weather in Paris?" }];

async function error(fn) {
  try {
    await fn();
    return { status: 200 };
  } catch (e) {
    return { status: e.status ?? null, param: e.param ?? null, message: e.message };
  }
}

function whole(r) {
  const c = r.choices[0];
  return { finish: c.finish_reason, content: c.message.content, calls: (c.message.tool_calls ?? []).map((t) => ({ id: t.id, type: t.type, name: t.function.name, arguments: t.function.arguments })) };
}

async function streamed(params) {
  const s = await client.chat.completions.create({ ...params, stream: true });
  const calls = [];
  let content = "", finish = null, deltas = 0, firstHasIdAndName = true;
  for await (const chunk of s) {
    for (const ch of chunk.choices) {
      content += ch.delta.content ?? "";
      for (const tc of ch.delta.tool_calls ?? []) {
        deltas++;
        if (!calls[tc.index]) {
          calls[tc.index] = { id: tc.id, name: tc.function?.name, arguments: "" };
          if (!tc.id || !tc.function?.name) firstHasIdAndName = false;
        }
        calls[tc.index].arguments += tc.function?.arguments ?? "";
      }
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  return { finish, content, calls, deltas, firstHasIdAndName };
}

const base = { model, messages, tools, temperature: 1, seed: 3, max_tokens: 120 };
out.required = whole(await client.chat.completions.create({ ...base, tool_choice: "required" }));
out.requiredOne = whole(await client.chat.completions.create({ ...base, tool_choice: "required", parallel_tool_calls: false }));
out.named = whole(await client.chat.completions.create({ ...base, tool_choice: { type: "function", function: { name: "get_time" } } }));
out.requiredStream = await streamed({ ...base, tool_choice: "required" });

// auto, Hermes format (the model's template implies none: the router reads Hermes), forced by a grammar
const hermes = 'root ::= "<tool_call>\\n{\\"name\\": \\"get_weather\\", \\"arguments\\": {\\"city\\": \\"" [A-Z] [a-z]{2,8} "\\", \\"unit\\": \\"celsius\\"}}\\n</tool_call>"';
out.hermes = whole(await client.chat.completions.create({ ...base, guided_grammar: hermes }));
out.hermesStream = await streamed({ ...base, guided_grammar: hermes });

// auto, Llama 3 JSON format: a request's own Llama-3-style template makes the router read llama3_json
const llamaTemplate = "{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content }}<|eot_id|>{% endfor %}"
  + "{% if tools %}Tools:{% for t in tools %} {{ t.function.name }}{% endfor %} (call with <|python_tag|>){% endif %}<|start_header_id|>assistant<|end_header_id|>\n\n";
const llama = 'root ::= "{\\"name\\": \\"get_time\\", \\"parameters\\": {\\"zone\\": \\"" [A-Z]{3} "\\"}}"';
out.llama = whole(await client.chat.completions.create({ ...base, chat_template: llamaTemplate, guided_grammar: llama }));
out.llamaStream = await streamed({ ...base, chat_template: llamaTemplate, guided_grammar: llama });

// the calls and their results go back in
const call = out.required.calls[0];
const followUp = [...messages, { role: "assistant", content: null, tool_calls: [{ id: call.id, type: "function", function: { name: call.name, arguments: call.arguments } }] },
  { role: "tool", tool_call_id: call.id, content: "18 C, sunny" }];
out.followUp = whole(await client.chat.completions.create({ model, messages: followUp, tools, max_tokens: 8, temperature: 0, chat_template: llamaTemplate }));
out.none = whole(await client.chat.completions.create({ ...base, tool_choice: "none", max_tokens: 8 }));

// structured outputs
const schema = { type: "object", properties: { name: { type: "string", maxLength: 10 }, age: { type: "integer", minimum: 0, maximum: 120 },
  tags: { type: "array", items: { type: "string", enum: ["a", "b", "c"] }, maxItems: 3 } }, required: ["name", "age", "tags"], additionalProperties: false };
const js = await client.chat.completions.create({ model, messages, temperature: 1, seed: 5, max_tokens: 80,
  response_format: { type: "json_schema", json_schema: { name: "person", schema, strict: true } } });
out.jsonSchema = { content: js.choices[0].message.content, finish: js.choices[0].finish_reason };
const jo = await client.chat.completions.create({ model, messages, temperature: 1, seed: 6, max_tokens: 60, response_format: { type: "json_object" } });
out.jsonObject = { content: jo.choices[0].message.content, finish: jo.choices[0].finish_reason };
const choice = await client.completions.create({ model, prompt: "Sentiment:", max_tokens: 10, temperature: 1, guided_choice: ["positive", "negative"] });
out.choice = choice.choices[0].text;
const regex = await client.completions.create({ model, prompt: "Code:", max_tokens: 12, temperature: 1, guided_regex: "[A-Z]{2}-[0-9]{3}" });
out.regex = regex.choices[0].text;
out.errors = {
  unsupportedSchema: await error(() => client.chat.completions.create({ model, messages, response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "array", uniqueItems: true } } } })),
  unknownTool: await error(() => client.chat.completions.create({ model, messages, tools, tool_choice: { type: "function", function: { name: "nope" } } })),
  twoConstraints: await error(() => client.chat.completions.create({ model, messages, response_format: { type: "json_object" }, guided_regex: "a+" })),
  badPattern: await error(() => client.completions.create({ model, prompt: "x", guided_regex: "(a" })),
  tooShort: await error(() => client.completions.create({ model, prompt: "x", max_tokens: 3, guided_choice: ["a long answer"] })),
};
console.log(JSON.stringify(out));
