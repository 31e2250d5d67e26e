package io.boundless.engine.bench;

import io.boundless.engine.kv.KvCache;
import io.boundless.engine.model.LoadedModel;
import io.boundless.engine.model.Transformer;
import io.boundless.engine.cpu.Parallel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Batch-1 decode and prompt-processing throughput of our engine on a model file, with the bandwidth
 * the decode rate implies (weights read per token / time per token).
 *
 *   DecodeBenchmark &lt;model&gt; &lt;threads&gt; &lt;decode tokens&gt; &lt;prompt tokens&gt;
 */
public final class DecodeBenchmark {
    public static void main(String[] args) throws Exception {
        Path model = Path.of(args[0]);
        int threads = Integer.parseInt(args[1]);
        int decode = Integer.parseInt(args[2]);
        int promptLen = Integer.parseInt(args[3]);
        Parallel parallel = new Parallel(threads);
        try (LoadedModel m = LoadedModel.open(model)) {
            Transformer t = new Transformer(m.weights(), parallel);
            var c = m.config();
            int blockSize = 16;
            int blocks = (promptLen + decode + 64) / blockSize + 1;
            int[] table = new int[blocks];
            for (int i = 0; i < blocks; i++) {
                table[i] = i;
            }
            int[] prompt = new int[promptLen];
            for (int i = 0; i < promptLen; i++) {
                prompt[i] = (i * 7919) % (c.vocabSize() - 2);
            }
            // warm-up
            KvCache warm = new KvCache(c.layers(), c.kvDim(), blockSize, blocks);
            t.forward(List.of(new Transformer.Chunk(java.util.Arrays.copyOf(prompt, 16), 0, table, true)), warm);
            for (int i = 0; i < 8; i++) {
                t.forward(List.of(new Transformer.Chunk(new int[] {1}, 16 + i, table, true)), warm);
            }
            KvCache cache = new KvCache(c.layers(), c.kvDim(), blockSize, blocks);
            long t0 = System.nanoTime();
            float[] logits = t.forward(List.of(new Transformer.Chunk(prompt, 0, table, true)), cache);
            double pp = (System.nanoTime() - t0) / 1e9;
            int next = argmax(logits);
            long t1 = System.nanoTime();
            for (int i = 0; i < decode; i++) {
                logits = t.forward(List.of(new Transformer.Chunk(new int[] {next}, promptLen + i, table, true)), cache);
                next = argmax(logits);
            }
            double dt = (System.nanoTime() - t1) / 1e9;
            long bytes = Files.isDirectory(model) ? Files.size(model.resolve("model.safetensors")) : Files.size(model);
            System.out.printf("{\"engine\": \"boundless\", \"model\": \"%s\", \"threads\": %d, \"prompt_tokens_per_second\": %.1f, "
                    + "\"decode_tokens_per_second\": %.2f, \"decode_gb_per_second\": %.2f}%n", model.getFileName(), threads, promptLen / pp,
                    decode / dt, bytes * (decode / dt) / 1e9);
        } finally {
            parallel.close();
        }
    }

    private static int argmax(float[] x) {
        int b = 0;
        for (int i = 1; i < x.length; i++) {
            if (x[i] > x[b]) {
                b = i;
            }
        }
        return b;
    }
}
