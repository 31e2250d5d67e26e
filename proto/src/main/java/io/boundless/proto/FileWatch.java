package io.boundless.proto;

import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/** Runs a file's re-read every interval on a daemon thread of its own (API keys, TLS certificates). */
public final class FileWatch {
    private FileWatch() {}

    /** The timer running task every interval from now on (its first run one interval from now); null for a zero or negative interval. */
    public static ScheduledExecutorService every(String threadName, Duration interval, Runnable task) {
        if (interval.isZero() || interval.isNegative()) {
            return null;
        }
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, threadName);
            t.setDaemon(true);
            return t;
        });
        timer.scheduleWithFixedDelay(task, interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
        return timer;
    }
}
