package io.boundless.engine.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Splits a row range over a fixed team of threads: the calling thread and {@code threads - 1}
 * workers. A decode step makes a few hundred short parallel calls (each a matrix product of tens to
 * hundreds of microseconds), so the hand-off must cost far less than a thread wake-up: workers spin
 * for a while after each call before they park, the caller works on chunks itself instead of
 * waiting, and chunks are claimed from a shared counter so a slow (descheduled) thread delays no one.
 */
public final class Parallel {
    /** How long an idle worker spins for the next call before it parks. */
    private static final long SPIN_NANOS = 2_000_000;

    private final int threads;
    private final Worker[] workers;
    private final ReentrantLock callLock = new ReentrantLock();
    private volatile Job job;          // the call in progress; null between calls, so its arrays can be collected
    private volatile long generation;  // counts calls; workers wake on a change
    private volatile boolean closed;

    public Parallel(int threads) {
        this.threads = Math.max(1, threads);
        this.workers = new Worker[this.threads - 1];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new Worker();
            Thread t = Thread.ofPlatform().daemon().name("boundless-cpu-" + (i + 1)).unstarted(workers[i]);
            workers[i].thread = t;
            t.start();
        }
    }

    public int threads() {
        return threads;
    }

    /** A body over rows [from, to). */
    @FunctionalInterface
    public interface RangeBody {
        void run(int from, int to);
    }

    /**
     * Runs body over [0, n) in about {@code threads * 4} chunks of at least {@code minChunk} rows and
     * returns when all are done. A body's exception is rethrown here. A call made while another is
     * running (from another thread) runs on the calling thread alone.
     */
    public void forRange(int n, int minChunk, RangeBody body) {
        if (n <= 0) {
            return;
        }
        int chunks = Math.max(1, Math.min(threads * 4, n / Math.max(1, minChunk)));
        if (chunks == 1 || threads == 1 || closed || !callLock.tryLock()) {
            body.run(0, n);
            return;
        }
        try {
            Job j = new Job(body, n, chunks);
            job = j;
            generation++;  // only the holder of callLock writes it
            for (Worker w : workers) {
                if (w.parked) {
                    LockSupport.unpark(w.thread);
                }
            }
            j.work();
            while (j.done.get() < chunks) {
                Thread.onSpinWait();
            }
            job = null;
            Throwable failure = j.failure.get();
            if (failure instanceof RuntimeException e) {
                throw e;
            }
            if (failure instanceof Error e) {
                throw e;
            }
            if (failure != null) {
                throw new IllegalStateException(failure);
            }
        } finally {
            callLock.unlock();
        }
    }

    /** Whether every worker is parked (idle past its spin); for tests. */
    boolean allWorkersParked() {
        for (Worker w : workers) {
            if (!w.parked) {
                return false;
            }
        }
        return true;
    }

    public void close() {
        closed = true;
        for (Worker w : workers) {
            LockSupport.unpark(w.thread);
        }
    }

    private static final class Job {
        final RangeBody body;
        final int n;
        final int chunks;
        final int per;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        final AtomicReference<Throwable> failure = new AtomicReference<>();

        Job(RangeBody body, int n, int chunks) {
            this.body = body;
            this.n = n;
            this.chunks = chunks;
            this.per = (n + chunks - 1) / chunks;
        }

        void work() {
            for (int c; (c = next.getAndIncrement()) < chunks; ) {
                try {
                    int from = c * per;
                    if (from < n) {
                        body.run(from, Math.min(n, from + per));
                    }
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                } finally {
                    done.incrementAndGet();
                }
            }
        }
    }

    private final class Worker implements Runnable {
        Thread thread;
        volatile boolean parked;

        @Override
        public void run() {
            long seen = 0;
            while (!closed) {
                long g = generation;
                if (g != seen) {
                    seen = g;
                    Job j = job;  // this call's, a later one's (fine: chunks are claimed), or null if already done
                    if (j != null) {
                        j.work();
                    }
                    continue;
                }
                long until = System.nanoTime() + SPIN_NANOS;
                while (generation == seen && !closed && System.nanoTime() < until) {
                    Thread.onSpinWait();
                }
                if (generation == seen && !closed) {
                    parked = true;
                    if (generation == seen && !closed) {
                        LockSupport.park(this);
                    }
                    parked = false;
                }
            }
        }
    }
}
