package io.boundless.engine.bench;

import io.boundless.engine.kv.KvCache;
import io.boundless.engine.model.LoadedModel;
import io.boundless.engine.sample.Sampler;
import io.boundless.engine.sample.SamplingParams;
import io.boundless.engine.sched.Engine;
import io.boundless.engine.sched.EngineConfig;
import io.boundless.engine.sched.Sequence;
import io.boundless.engine.sched.SequenceListener;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Aggregate decode throughput with N concurrent greedy streams through the engine loop (continuous
 * batching): the decode phase runs from the moment every stream has its first token to the end.
 *
 *   ConcurrencyBenchmark &lt;model&gt; &lt;threads&gt; &lt;streams&gt; &lt;tokens per stream&gt; &lt;prompt tokens&gt;
 */
public final class ConcurrencyBenchmark {
    public static void main(String[] args) throws Exception {
        Path path = Path.of(args[0]);
        int threads = Integer.parseInt(args[1]);
        int streams = Integer.parseInt(args[2]);
        int tokens = Integer.parseInt(args[3]);
        int promptLen = Integer.parseInt(args[4]);
        try (LoadedModel m = LoadedModel.open(path)) {
            var c = m.config();
            long kv = KvCache.bytesPerBlock(c, 16) * ((long) streams * ((promptLen + tokens) / 16 + 2) + 8);
            run(m, threads, streams, Math.min(8, tokens), promptLen, kv); // warm-up
            double tps = run(m, threads, streams, tokens, promptLen, kv);
            System.out.printf("{\"engine\": \"boundless\", \"streams\": %d, \"threads\": %d, \"aggregate_decode_tokens_per_second\": %.2f}%n",
                    streams, threads, tps);
        }
    }

    static double run(LoadedModel m, int threads, int streams, int tokens, int promptLen, long kv) throws InterruptedException {
        try (Engine e = new Engine(m.weights(), new EngineConfig(16, kv, 512, streams, streams, threads))) {
            CountDownLatch first = new CountDownLatch(streams);
            CountDownLatch done = new CountDownLatch(streams);
            AtomicLong firstAt = new AtomicLong();
            SequenceListener l = new SequenceListener() {
                public void onToken(Sequence s, Sampler.Sample sample) {
                    if (s.generated() == 1) {
                        firstAt.set(System.nanoTime());
                        first.countDown();
                    }
                }

                public void onFinish(Sequence s, Sequence.FinishReason r) {
                    done.countDown();
                }
            };
            int n = m.config().vocabSize();
            e.start();
            for (int s = 0; s < streams; s++) {
                int[] p = new int[promptLen];
                for (int i = 0; i < promptLen; i++) {
                    p[i] = (int) ((i * 7919L + s * 104729L) % (n - 2));
                }
                e.submit(p, new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, java.util.List.of(), tokens, 0, true), 1, 0, l);
            }
            first.await();
            long t0 = firstAt.get();
            done.await();
            return streams * (tokens - 1) / ((System.nanoTime() - t0) / 1e9);
        }
    }
}
