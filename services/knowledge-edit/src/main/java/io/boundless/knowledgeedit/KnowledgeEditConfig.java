package io.boundless.knowledgeedit;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.nio.file.Path;
import java.util.Optional;

/** Configuration of the knowledge-edit service, under {@code boundless.knowledge-edit}. */
@ConfigMapping(prefix = "boundless.knowledge-edit")
public interface KnowledgeEditConfig {
    /** The model store: versions at {@code <store>/<model>/<version>}; edits are published beside their base. */
    Path store();

    /** The version a request edits when it names none ({@code <model>/<version>}). */
    Optional<String> defaultVersion();

    /** CPU threads of the forward and backward passes (default: every core). */
    Optional<Integer> threads();

    /** API keys ({@code <name>:<sha256> [scopes]} lines, as the router's); unset: no key is needed (local development). */
    Optional<Path> apiKeys();

    /** How often the API keys file is checked for changes (read again without a restart); 0: never. */
    @io.smallrye.config.WithDefault("5s")
    java.time.Duration keysReloadInterval();

    /** The audit log, one JSON object per line (default {@code <store>/.audit/knowledge-edit.jsonl}). */
    Optional<Path> auditLog();

    /** The router's gRPC address (host:port) that Publish starts canaries through. */
    Optional<String> router();

    /** The tokenizer service's gRPC address, for models whose tokenizer Boundless did not train. */
    Optional<String> tokenizer();

    /** Tokens of the covariance corpus when a request names no count. */
    @WithDefault("100000")
    long corpusTokens();

    /** The most facts one edit may write. */
    @WithDefault("1000")
    int maxFacts();

    /** Edit jobs that may wait behind the running one. */
    @WithDefault("16")
    int maxQueued();
}
