package io.boundless.tokenizer.hf;

/**
 * DJL contacts a cloud metadata address for usage tracking unless told not to. We set both of its
 * switches as system properties (it reads each from the environment or the system properties)
 * before any DJL class loads, so no deployment depends on remembering the environment variables.
 */
final class DjlEnvironment {
    static synchronized void ensureOffline() {
        System.setProperty("offline", "true");
        System.setProperty("OPT_OUT_TRACKING", "true");
    }

    private DjlEnvironment() {}
}
