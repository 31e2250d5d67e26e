package io.boundless.engine.bench;

import io.boundless.engine.cpu.Parallel;
import io.boundless.engine.model.Architecture;
import io.boundless.engine.model.ModelConfig;
import io.boundless.engine.train.AdamW;
import io.boundless.engine.train.TrainModel;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Training throughput of the engine's trainer: forward + backward + AdamW steps on random tokens,
 * tokens/s and the FLOP/s they imply (6 · parameters per token for the matrix products, plus
 * attention's 12 · layers · seq · hidden), against a peak measured in the same process (an FMA
 * loop over registers on every thread).
 *
 *   TrainBenchmark &lt;threads&gt; &lt;hidden&gt; &lt;layers&gt; &lt;heads&gt; &lt;kvHeads&gt; &lt;intermediate&gt; &lt;vocab&gt; &lt;batch&gt; &lt;seq&gt; &lt;steps&gt; [llama|gpt2]
 */
public final class TrainBenchmark {
    public static void main(String[] args) {
        int threads = Integer.parseInt(args[0]);
        int hidden = Integer.parseInt(args[1]);
        int layers = Integer.parseInt(args[2]);
        int heads = Integer.parseInt(args[3]);
        int kv = Integer.parseInt(args[4]);
        int inter = Integer.parseInt(args[5]);
        int vocab = Integer.parseInt(args[6]);
        int batch = Integer.parseInt(args[7]);
        int seq = Integer.parseInt(args[8]);
        int steps = Integer.parseInt(args[9]);
        boolean gpt2 = args.length > 10 && args[10].equals("gpt2");
        ModelConfig c = gpt2
                ? new ModelConfig(Architecture.GPT2, vocab, hidden, inter, layers, heads, heads, hidden / heads, 1e-5f, 0, null, Math.max(seq, 1024),
                        true, true, 0, null, List.of(0))
                : new ModelConfig(Architecture.LLAMA, vocab, hidden, inter, layers, heads, kv, hidden / heads, 1e-5f, 10000, null,
                        seq, true, false, 0, null, List.of(0));
        Parallel parallel = new Parallel(threads);
        TrainModel m = TrainModel.init(c, 1, parallel);
        AdamW opt = new AdamW(m.params(), AdamW.Settings.defaults());
        SplittableRandom rnd = new SplittableRandom(2);
        int n = batch * seq;
        int[] tokens = new int[n];
        int[] targets = new int[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = rnd.nextInt(vocab);
            targets[i] = rnd.nextInt(vocab);
        }
        TrainModel.Batch b = new TrainModel.Batch(batch, seq, tokens, targets, null);
        for (int i = 0; i < 3; i++) {  // warm-up
            m.zeroGrad();
            m.forward(b);
            m.backward(true);
            opt.step(1e-3);
        }
        long t0 = System.nanoTime();
        double loss = 0;
        for (int i = 0; i < steps; i++) {
            m.zeroGrad();
            loss = m.forward(b);
            m.backward(true);
            opt.step(1e-3);
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        double tokPerSec = (double) n * steps / secs;
        double flopPerToken = 6.0 * m.parameterCount() + 12.0 * layers * seq * hidden;
        double peak = peakFlops(parallel);
        System.out.printf("boundless %s  params %d  batch %d x %d  threads %d  %.1f tokens/s  %.2f GFLOP/s  peak %.1f GFLOP/s (%.0f%%)  loss %.3f%n",
                c.arch().name().toLowerCase(), m.parameterCount(), batch, seq, threads, tokPerSec, tokPerSec * flopPerToken / 1e9, peak / 1e9,
                100 * tokPerSec * flopPerToken / peak, loss);
        parallel.close();
    }

    /** FMA throughput over registers, all threads: the machine's float32 peak as the JVM reaches it (best of 3). */
    static double peakFlops(Parallel parallel) {
        int lanes = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();
        long iters = 50_000_000;
        double best = 0;
        double[] sink = new double[parallel.threads()];
        for (int round = 0; round < 3; round++) {
            long t0 = System.nanoTime();
            parallel.forRange(parallel.threads(), 1, (from, to) -> {
                for (int th = from; th < to; th++) {
                    sink[th] = fmaLoop(iters);
                }
            });
            double secs = (System.nanoTime() - t0) / 1e9;
            best = Math.max(best, parallel.threads() * iters * 8.0 * 2 * lanes / secs);
        }
        return best;
    }

    private static float fmaLoop(long iters) {
        var sp = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED;
        var a = jdk.incubator.vector.FloatVector.broadcast(sp, 1.0001f);
        var b = jdk.incubator.vector.FloatVector.broadcast(sp, 0.9999f);
        var c0 = jdk.incubator.vector.FloatVector.zero(sp);
        var c1 = c0; var c2 = c0; var c3 = c0; var c4 = c0; var c5 = c0; var c6 = c0; var c7 = c0;
        for (long i = 0; i < iters; i++) {
            c0 = a.fma(c0, b); c1 = a.fma(c1, b); c2 = a.fma(c2, b); c3 = a.fma(c3, b);
            c4 = a.fma(c4, b); c5 = a.fma(c5, b); c6 = a.fma(c6, b); c7 = a.fma(c7, b);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).lane(0);
    }
}
