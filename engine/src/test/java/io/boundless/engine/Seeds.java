package io.boundless.engine;

import java.util.Random;
import java.util.stream.LongStream;

/**
 * Seeds of randomized tests: each runs with a fixed seed (the same inputs on every run) and with a random one, which is
 * printed so that a failure can be replayed with {@code -Dboundless.seed=<seed>} (the random case then uses it).
 */
public final class Seeds {
    public static final long FIXED = 20261201L;

    private Seeds() {}

    /** The fixed seed, then a random one (or -Dboundless.seed), printed. */
    public static LongStream fixedAndRandom() {
        return LongStream.of(both());
    }

    public static long[] both() {
        String given = System.getProperty("boundless.seed");
        long random = given != null && !given.isBlank() ? Long.parseLong(given.strip()) : new Random().nextLong();
        StackWalker.StackFrame caller = StackWalker.getInstance().walk(s -> s.filter(f -> !f.getClassName().equals(Seeds.class.getName())
                && !f.getClassName().startsWith("org.junit") && !f.getClassName().startsWith("java.") && !f.getClassName().startsWith("jdk."))
                .findFirst().orElse(null));
        System.out.println("random seed " + random + (caller == null ? "" : " for " + caller.getClassName() + "." + caller.getMethodName())
                + " (replay: -Dboundless.seed=" + random + ")");
        return new long[] {FIXED, random};
    }
}
