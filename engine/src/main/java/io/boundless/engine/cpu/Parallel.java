package io.boundless.engine.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RecursiveAction;

/** Splits a row range over a fixed pool of worker threads (one pool per engine, sized to the cores it may use). */
public final class Parallel {
    private final ForkJoinPool pool;
    private final int threads;

    public Parallel(int threads) {
        this.threads = Math.max(1, threads);
        this.pool = new ForkJoinPool(this.threads);
    }

    public int threads() {
        return threads;
    }

    /** A body over rows [from, to). */
    @FunctionalInterface
    public interface RangeBody {
        void run(int from, int to);
    }

    /** Runs body over [0, n) in about {@code threads * 4} chunks of at least {@code minChunk} rows. */
    public void forRange(int n, int minChunk, RangeBody body) {
        if (n <= 0) {
            return;
        }
        int chunks = Math.max(1, Math.min(threads * 4, n / Math.max(1, minChunk)));
        if (chunks == 1 || threads == 1) {
            body.run(0, n);
            return;
        }
        int per = (n + chunks - 1) / chunks;
        pool.invoke(new Split(body, 0, n, per));
    }

    private static final class Split extends RecursiveAction {
        private final RangeBody body;
        private final int from;
        private final int to;
        private final int per;

        Split(RangeBody body, int from, int to, int per) {
            this.body = body;
            this.from = from;
            this.to = to;
            this.per = per;
        }

        @Override
        protected void compute() {
            if (to - from <= per) {
                body.run(from, to);
                return;
            }
            int mid = from + ((to - from) / per / 2) * per;
            if (mid <= from) {
                mid = from + per;
            }
            invokeAll(new Split(body, from, mid, per), new Split(body, mid, to, per));
        }
    }

    public void close() {
        pool.shutdown();
    }
}
