package io.boundless.fuzz;

import java.util.Set;

/**
 * What counts as a finding: a parser may refuse bad input only with one of its documented exceptions, carrying a
 * message, and not caused by a programming error (a null dereference, a bad cast, an index out of range, an
 * arithmetic fault) that a wrapper turned into a format error. Anything else — another exception, an Error such as
 * OutOfMemoryError or StackOverflowError, a hang — is a finding.
 */
public final class Findings {
    private static final Set<Class<? extends Throwable>> BUGS = Set.of(NullPointerException.class, ClassCastException.class,
            IndexOutOfBoundsException.class, ArrayIndexOutOfBoundsException.class, StringIndexOutOfBoundsException.class,
            NegativeArraySizeException.class, ArithmeticException.class, UnsupportedOperationException.class, IllegalStateException.class,
            java.util.NoSuchElementException.class, java.util.ConcurrentModificationException.class);

    private Findings() {}

    /** Rethrows t unless it is an allowed refusal. */
    @SafeVarargs
    public static void allow(Throwable t, Class<? extends Throwable>... allowed) {
        boolean ok = false;
        for (Class<? extends Throwable> c : allowed) {
            ok |= c.isInstance(t);
        }
        if (!ok || t.getMessage() == null || t.getMessage().isBlank()) {
            throw new AssertionError("not a clear refusal: " + t, t);
        }
        for (Throwable c = t.getCause(); c != null; c = c.getCause()) {
            for (Class<? extends Throwable> bug : BUGS) {
                if (bug.isInstance(c)) {
                    throw new AssertionError("a refusal caused by a programming error: " + t, t);
                }
            }
        }
    }

    /** A temporary directory per fuzzing process, reused by every input. */
    static java.nio.file.Path scratch(String name) {
        try {
            java.nio.file.Path d = java.nio.file.Files.createTempDirectory("fuzz-" + name);
            d.toFile().deleteOnExit();
            return d;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
