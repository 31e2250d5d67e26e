package io.boundless.engine.backend;

import java.util.Locale;

/** Which backend an engine asks for. */
public enum BackendKind {
    /** CUDA when a device and its driver are present, else the CPU. */
    AUTO,
    CPU,
    /** CUDA or a startup error that says why not. */
    CUDA;

    /** From configuration text: auto, cpu or cuda (any case). */
    public static BackendKind parse(String s) {
        if (s.trim().equalsIgnoreCase("hip")) {
            throw new IllegalArgumentException("backend hip (AMD GPUs: MI300) is not built in this release; an amd pool's replicas cannot"
                    + " serve until it is (docs/OPERATIONS.md, MI300)");
        }
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("backend must be auto, cpu or cuda, got '" + s + "'");
        }
    }
}
