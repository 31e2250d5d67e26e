package io.boundless.inference;

import io.boundless.engine.model.Architecture;
import io.boundless.engine.model.ModelConfig;
import io.boundless.engine.model.ModelWriter;
import io.boundless.engine.tensor.DType;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The model served when none is configured: a small Llama-style model with deterministic random
 * weights (seed 2026) and a matching 512-token byte-level BPE tokenizer (merges learned from a short
 * built-in text, a chat template, {@code <|begin|>} = 510, {@code <|end|>} = 511 = EOS). Until a
 * trained default exists this lets the whole platform start and answer anywhere, offline; it says so
 * plainly at start. Its text is random, not language.
 *
 * <p>{@code java -cp ... io.boundless.inference.DefaultModel <store>} writes it into a model store as
 * {@code <store>/default-random/1/} (config.json, model.safetensors, tokenizer.json,
 * tokenizer_config.json), so that the tokenizer service serves its tokenizer.
 */
public final class DefaultModel {
    static final String NAME = "default-random";
    static final int BOS = 510;
    static final int EOS = 511;
    static final ModelConfig CONFIG = new ModelConfig(Architecture.LLAMA, 512, 256, 704, 4, 8, 4, 32, 1e-5f, 10000, null, 2048,
            true, false, 0, BOS, List.of(EOS));
    /**
     * A larger random model with the same tokenizer, for benchmarks where prefill must cost what it
     * costs on real models relative to the fixed per-request overheads (6 layers, hidden 768: 38M
     * parameters; a 400-token prefill takes about a second on one core).
     */
    static final String BENCH_NAME = "bench-random";
    static final ModelConfig BENCH_CONFIG = new ModelConfig(Architecture.LLAMA, 512, 768, 2048, 6, 12, 4, 64, 1e-5f, 10000, null, 2048,
            true, false, 0, BOS, List.of(EOS));
    static final String BEGIN = "<|begin|>";
    static final String END = "<|end|>";
    static final String CHAT_TEMPLATE = "{% for message in messages %}{{ '" + BEGIN + "' + message['role'] + '\\n' + message['content'] + '"
            + END + "\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '" + BEGIN + "assistant\\n' }}{% endif %}";

    /** The text the tokenizer's merges are learned from. */
    private static final String CORPUS = """
            Boundless serves large language models on Kubernetes. The router is the front door: it takes \
            a request over gRPC or the OpenAI HTTP API, turns the prompt into tokens with the tokenizer \
            service, picks an inference replica that already holds the prompt's prefix in its cache, and \
            streams the answer back as text. The inference service runs the transformer engine with \
            continuous batching, a paged key value cache and prefix caching. Operators install the \
            platform with Helm, roll out new model versions by weighted canary, and watch the latency of \
            the first token and of every token after it. Hello! How are you today? I am fine, thank you. \
            What is the capital of France? The capital of France is Paris. Tell me a story about a small \
            robot who learned to write poems in the evening, when the servers were quiet and the queue \
            was empty. Once upon a time there was a model that answered every question with care.
            """;

    /** Writes the model once into the temp directory (atomically) and returns its directory. */
    static Path materialize() {
        return materialize(Path.of(System.getProperty("java.io.tmpdir"), "boundless-" + NAME + "-v2"));
    }

    /** Writes the model and its tokenizer into dir unless they are there; returns dir. */
    public static Path materialize(Path dir) {
        return materialize(dir, CONFIG);
    }

    static Path materialize(Path dir, ModelConfig config) {
        if (Files.isRegularFile(dir.resolve("model.safetensors")) && Files.isRegularFile(dir.resolve("tokenizer_config.json"))) {
            return dir;
        }
        try {
            Files.createDirectories(dir.getParent());
            Path tmp = Files.createTempDirectory(dir.getParent(), "." + dir.getFileName() + "-tmp");
            ModelWriter.writeHuggingFace(tmp, config, ModelWriter.randomWeights(config, 2026), DType.F32);
            writeTokenizer(tmp);
            try {
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException raced) {
                if (!Files.isRegularFile(dir.resolve("tokenizer_config.json"))) {
                    throw raced;
                }
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the default model to " + dir, e);
        }
    }

    /** The served name of a model at path: {@code <model>} for a store's {@code <model>/<version>} directory, else the file name. */
    static String nameOf(Path path) {
        Path abs = path.toAbsolutePath().normalize();
        String last = abs.getFileName().toString();
        if (last.matches("\\d+") && abs.getParent() != null && abs.getParent().getFileName() != null) {
            return abs.getParent().getFileName().toString();
        }
        return last;
    }

    /** tokenizer.json (byte-level BPE, 510 pieces + 2 special tokens) and tokenizer_config.json. */
    static void writeTokenizer(Path dir) throws IOException {
        List<String> pieces = new ArrayList<>(256);
        char[] byteChar = ModelWriter.byteLevelAlphabet();
        for (int b = 0; b < 256; b++) {
            pieces.add(String.valueOf(byteChar[b]));
        }
        List<String[]> merges = learnMerges(byteChar, BOS - 256);
        for (String[] m : merges) {
            pieces.add(m[0] + m[1]);
        }
        StringBuilder vocab = new StringBuilder();
        for (int i = 0; i < pieces.size(); i++) {
            vocab.append(i == 0 ? "" : ",").append(quote(pieces.get(i))).append(':').append(i);
        }
        StringBuilder mergeList = new StringBuilder();
        for (int i = 0; i < merges.size(); i++) {
            mergeList.append(i == 0 ? "" : ",").append(quote(merges.get(i)[0] + " " + merges.get(i)[1]));
        }
        String added = special(BOS, BEGIN) + "," + special(EOS, END);
        String tokenizer = "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[" + added + "],"
                + "\"normalizer\":null,"
                + "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true},"
                + "\"post_processor\":null,"
                + "\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true},"
                + "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":null,"
                + "\"end_of_word_suffix\":null,\"fuse_unk\":false,\"byte_fallback\":false,\"ignore_merges\":false,"
                + "\"vocab\":{" + vocab + "},\"merges\":[" + mergeList + "]}}";
        String config = "{\"tokenizer_class\":\"PreTrainedTokenizerFast\",\"bos_token\":" + quote(BEGIN) + ",\"eos_token\":" + quote(END)
                + ",\"model_max_length\":" + CONFIG.maxPositions() + ",\"chat_template\":" + quote(CHAT_TEMPLATE) + "}";
        Files.writeString(dir.resolve("tokenizer.json"), tokenizer, StandardCharsets.UTF_8);
        Files.writeString(dir.resolve("tokenizer_config.json"), config, StandardCharsets.UTF_8);
    }

    private static String special(int id, String content) {
        return "{\"id\":" + id + ",\"content\":" + quote(content)
                + ",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}";
    }

    /**
     * Byte-pair merges learned from CORPUS: words (a leading space kept with its word, as GPT-2's
     * pre-tokenizer splits) as byte-level symbols; the most frequent adjacent pair is merged, ties
     * broken by the pair's text, until count merges exist.
     */
    static List<String[]> learnMerges(char[] byteChar, int count) {
        Map<List<String>, Integer> words = new LinkedHashMap<>();
        for (String w : CORPUS.split("(?=[ ])|(?<=[.,!?])|(?=[.,!?])")) {
            if (w.isEmpty()) {
                continue;
            }
            List<String> symbols = new ArrayList<>();
            for (byte b : w.getBytes(StandardCharsets.UTF_8)) {
                symbols.add(String.valueOf(byteChar[b & 0xFF]));
            }
            words.merge(symbols, 1, Integer::sum);
        }
        List<String[]> merges = new ArrayList<>();
        while (merges.size() < count) {
            Map<String, Integer> pairs = new HashMap<>();
            for (var e : words.entrySet()) {
                List<String> s = e.getKey();
                for (int i = 0; i + 1 < s.size(); i++) {
                    pairs.merge(s.get(i) + "\u0000" + s.get(i + 1), e.getValue(), Integer::sum);
                }
            }
            if (pairs.isEmpty()) {
                throw new IllegalStateException("the corpus allows only " + merges.size() + " merges, not " + count);
            }
            String best = null;
            for (var e : pairs.entrySet()) {
                if (best == null || e.getValue() > pairs.get(best) || (e.getValue().equals(pairs.get(best)) && e.getKey().compareTo(best) < 0)) {
                    best = e.getKey();
                }
            }
            String[] pair = best.split("\u0000", -1);
            merges.add(pair);
            Map<List<String>, Integer> next = new LinkedHashMap<>();
            for (var e : words.entrySet()) {
                List<String> s = e.getKey();
                List<String> t = new ArrayList<>(s.size());
                for (int i = 0; i < s.size(); i++) {
                    if (i + 1 < s.size() && s.get(i).equals(pair[0]) && s.get(i + 1).equals(pair[1])) {
                        t.add(pair[0] + pair[1]);
                        i++;
                    } else {
                        t.add(s.get(i));
                    }
                }
                next.merge(t, e.getValue(), Integer::sum);
            }
            words = next;
        }
        return merges;
    }

    private static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                default -> {
                    if (c < 0x20 || c > 0x7E) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }

    /**
     * The default model's slower sibling: the same tokenizer and chat template, 24 layers instead of 4 (six times the
     * work per token), written as {@code <store>/default-random/deep}: a second version of the same model for canary
     * rollouts, one a rollout's analysis must find slower.
     */
    static final String DEEP_VERSION = "deep";
    static final ModelConfig DEEP_CONFIG = new ModelConfig(Architecture.LLAMA, 512, 256, 704, 24, 8, 4, 32, 1e-5f, 10000, null, 2048,
            true, false, 0, BOS, List.of(EOS));

    /**
     * Writes the default model into a model store: {@code DefaultModel <store>} creates
     * {@code <store>/default-random/1}; {@code DefaultModel <store> bench} creates {@code <store>/bench-random/1};
     * {@code DefaultModel <store> deep} creates {@code <store>/default-random/deep}.
     */
    public static void main(String[] args) {
        if (args.length < 1 || args.length > 2 || (args.length == 2 && !List.of("bench", "deep").contains(args[1]))) {
            System.err.println("usage: DefaultModel <model-store directory> [bench|deep]");
            System.exit(2);
        }
        Path store = Path.of(args[0]);
        String variant = args.length == 2 ? args[1] : "";
        System.out.println(switch (variant) {
            case "bench" -> materialize(store.resolve(BENCH_NAME).resolve("1"), BENCH_CONFIG);
            case "deep" -> materialize(store.resolve(NAME).resolve(DEEP_VERSION), DEEP_CONFIG);
            default -> materialize(store.resolve(NAME).resolve("1"), CONFIG);
        });
    }

    private DefaultModel() {}
}
