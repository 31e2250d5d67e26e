package io.boundless.engine.bench;

import io.boundless.engine.cpu.Rope;
import io.boundless.engine.grammar.Constraint;
import io.boundless.engine.grammar.Matcher;
import io.boundless.engine.grammar.TokenMasker;
import io.boundless.engine.grammar.TokenVocabulary;
import io.boundless.engine.kv.KvCache;
import io.boundless.engine.model.Architecture;
import io.boundless.engine.model.LoadedModel;
import io.boundless.engine.model.ModelConfig;
import io.boundless.engine.model.ModelWriter;
import io.boundless.engine.sample.Sampler;
import io.boundless.engine.sample.SamplingParams;
import io.boundless.engine.sched.Engine;
import io.boundless.engine.sched.EngineConfig;
import io.boundless.engine.sched.Sequence;
import io.boundless.engine.sched.SequenceListener;
import io.boundless.engine.tensor.DType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;

/**
 * Structured outputs' costs with a real 128k vocabulary (Llama 3's tokenizer.json):
 * <ul>
 *   <li>compile time per JSON schema (grammar and matcher), over the test suite's schemas;
 *   <li>mask time per token, p50 and p99, along random valid outputs of each schema: first visits of each
 *       state (the mask is computed) and later ones (it is cached), and a repeat run where every mask is cached;
 *   <li>decode throughput of the engine with and without a schema at batch 1 and 32 (random weights, temperature 1),
 *       the goal being under 5% slower with one.
 * </ul>
 *
 * The schemas are the grammar tests' suite (io.boundless.engine.grammar.Schemas); the decode runs use a schema whose
 * output is long (an object holding a list of strings), so that both runs generate every token.
 *
 *   StructuredOutputBenchmark &lt;tokenizer.json&gt; &lt;threads&gt; &lt;tokens per stream&gt; [GGUF file to write for the peer]
 */
public final class StructuredOutputBenchmark {
    public static void main(String[] args) throws Exception {
        Path tokenizer = Path.of(args[0]);
        java.lang.reflect.Field f = Class.forName("io.boundless.engine.grammar.Schemas").getDeclaredField("ALL");
        f.setAccessible(true);
        @SuppressWarnings("unchecked")
        List<String> schemas = (List<String>) f.get(null);
        int threads = Integer.parseInt(args[1]);
        int tokens = Integer.parseInt(args[2]);
        int vocabSize = 128256;
        TokenVocabulary vocab = TokenVocabulary.fromTokenizerJson(tokenizer, vocabSize);
        long t0 = System.nanoTime();
        TokenMasker masker = new TokenMasker(vocab);
        double trieMs = (System.nanoTime() - t0) / 1e6;

        // compile time per schema
        double[] compileMs = new double[schemas.size()];
        List<Matcher> matchers = new ArrayList<>();
        for (int k = 0; k < schemas.size(); k++) {
            long c0 = System.nanoTime();
            Matcher m = new Matcher(Constraint.jsonSchema(schemas.get(k)).grammar());
            compileMs[k] = (System.nanoTime() - c0) / 1e6;
            matchers.add(m);
        }
        // mask time per token along random outputs (tokens drawn uniformly among the allowed ones)
        List<Double> cold = new ArrayList<>();
        List<Double> all = new ArrayList<>();
        for (int pass = 0; pass < 2; pass++) {
            SplittableRandom rnd = new SplittableRandom(1);
            for (Matcher m : matchers) {
                for (int sample = 0; sample < 4; sample++) {
                    Matcher.State s = m.initial;
                    for (int step = 0; step < 64 && !s.isTerminal(); step++) {
                        int cachedBefore = masker.cachedMasks();
                        long a = System.nanoTime();
                        long[] mask = masker.mask(s); // away from the length limit (near it, masks are computed per budget)
                        double us = (System.nanoTime() - a) / 1e3;
                        if (pass == 1) {
                            all.add(us);
                        } else if (masker.cachedMasks() > cachedBefore) { // this state's mask was computed now
                            cold.add(us);
                        }
                        int id = pick(mask, rnd);
                        if (id < 0) {
                            break;
                        }
                        s = s.advance(vocab.bytes(id));
                    }
                }
            }
        }
        System.out.printf("{\"bench\": \"grammar\", \"vocabulary\": %d, \"trie_build_ms\": %.0f, \"schemas\": %d, \"compile_ms_p50\": %.2f,"
                + " \"compile_ms_max\": %.2f, \"mask_us_first_visit_p50\": %.0f, \"mask_us_first_visit_p99\": %.0f, \"mask_us_cached_p50\": %.2f,"
                + " \"mask_us_cached_p99\": %.2f, \"masks_cached\": %d}%n", vocabSize, trieMs, schemas.size(), pct(compileMs, 50), pct(compileMs, 100),
                pct(cold, 50), pct(cold, 99), pct(all, 50), pct(all, 99), masker.cachedMasks());

        // decode throughput with and without a schema
        ModelConfig config = new ModelConfig(Architecture.LLAMA, vocabSize, 256, 512, 2, 4, 2, 64, 1e-5f, 500000, (Rope.Llama3Scaling) null,
                2048, true, false, 0, 128001, List.of(128001));
        Path dir = Files.createTempDirectory("bench-structured");
        var weights = ModelWriter.randomWeights(config, 3);
        ModelWriter.writeHuggingFace(dir, config, weights, DType.F32);
        if (args.length > 3) { // the same model as GGUF with the real vocabulary embedded, for llama.cpp's run
            ModelWriter.writeGguf(Path.of(args[3]), config, weights, DType.F32, tokenizer.getParent());
        }
        String schema = "{\"type\": \"object\", \"properties\": {\"notes\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}},"
                + " \"required\": [\"notes\"]}";
        try (LoadedModel model = LoadedModel.open(dir)) {
            for (int streams : new int[] {1, 32}) {
                var c = model.config();
                long kv = KvCache.bytesPerBlock(c, 16) * ((long) streams * ((16 + tokens) / 16 + 2) + 8);
                // one engine for all runs, as a server keeps one: the schema is compiled once and its masks stay cached
                try (Engine e = new Engine(model.weights(), new EngineConfig(16, kv, 512, streams, streams, threads))) {
                    e.setVocabulary(vocab);
                    e.start();
                    run(e, streams, tokens, null); // warm-up
                    run(e, streams, tokens, schema);
                    double p = 0;
                    double k = 0;
                    for (int round = 0; round < 2; round++) {
                        p += run(e, streams, tokens, null) / 2;
                        k += run(e, streams, tokens, schema) / 2;
                    }
                    System.out.printf("{\"bench\": \"decode\", \"streams\": %d, \"threads\": %d, \"tokens_per_second_plain\": %.1f,"
                            + " \"tokens_per_second_schema\": %.1f, \"schema_slowdown_percent\": %.1f}%n", streams, threads, p, k, 100 * (1 - k / p));
                }
            }
        }
    }

    private static int pick(long[] mask, SplittableRandom rnd) {
        int n = 0;
        for (long w : mask) {
            n += Long.bitCount(w);
        }
        if (n == 0) {
            return -1;
        }
        int k = rnd.nextInt(n);
        for (int i = 0; i < mask.length; i++) {
            int c = Long.bitCount(mask[i]);
            if (k < c) {
                long w = mask[i];
                for (int j = 0; j < k; j++) {
                    w &= w - 1;
                }
                return i * 64 + Long.numberOfTrailingZeros(w);
            }
            k -= c;
        }
        return -1;
    }

    private static double pct(List<Double> v, double p) {
        return pct(v.stream().mapToDouble(Double::doubleValue).toArray(), p);
    }

    private static double pct(double[] v, double p) {
        if (v.length == 0) {
            return Double.NaN;
        }
        double[] s = v.clone();
        Arrays.sort(s);
        return s[(int) Math.min(s.length - 1, Math.floor(p / 100 * s.length))];
    }

    /** Aggregate decode tokens per second of streams generating tokens each (temperature 1), with the schema or without. */
    static double run(Engine e, int streams, int tokens, String schema) throws InterruptedException {
        CountDownLatch first = new CountDownLatch(streams);
        CountDownLatch done = new CountDownLatch(streams);
        int[] generated = new int[1];
        SequenceListener l = new SequenceListener() {
            @Override
            public void onToken(Sequence seq, Sampler.Sample sample) {
                synchronized (generated) {
                    generated[0]++;
                }
                if (seq.generated() == 1) {
                    first.countDown();
                }
            }

            @Override
            public void onFinish(Sequence seq, Sequence.FinishReason reason) {
                done.countDown();
            }
        };
        for (int s = 0; s < streams; s++) {
            int[] prompt = new int[16];
            for (int i = 0; i < prompt.length; i++) {
                prompt[i] = (s * 131 + i * 7919) % 120000;
            }
            SamplingParams p = new SamplingParams(1f, 0, 1f, 0, 1, 0, 0, (long) s, 0, List.of(), tokens, tokens, true, Map.of(),
                    schema == null ? null : Constraint.jsonSchema(schema));
            e.submit(prompt, p, 1, 0, l);
        }
        first.await();
        long t0 = System.nanoTime();
        int before;
        synchronized (generated) {
            before = generated[0];
        }
        done.await();
        double dt = (System.nanoTime() - t0) / 1e9;
        synchronized (generated) {
            return (generated[0] - before) / dt;
        }
    }
}
