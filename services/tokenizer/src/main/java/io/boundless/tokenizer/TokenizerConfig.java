package io.boundless.tokenizer;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/** Configuration of the tokenizer service, under {@code boundless.tokenizer}. */
@ConfigMapping(prefix = "boundless.tokenizer")
public interface TokenizerConfig {

    /**
     * The model store root ({@code <store>/<model>/<version>/tokenizer.json}). Unset: {@code ./models}
     * if it exists, else {@code ~/.boundless/models}. In a cluster: the read-only model volume.
     */
    Optional<Path> store();

    /** Models loaded at start, before the service reports ready. */
    @WithDefault("cl100k_base,o200k_base")
    List<String> preload();

    /** Largest text accepted by Encode, CountTokens and each text of a batch, in UTF-8 bytes. */
    @WithDefault("1048576")
    int maxTextBytes();

    /** Most texts in one EncodeBatch or CountTokensBatch request. */
    @WithDefault("1024")
    int maxBatchSize();

    /** Most ids in one Decode request or one DecodeStream. */
    @WithDefault("1048576")
    int maxIds();

    /** Most DecodeStream calls open at once; more are RESOURCE_EXHAUSTED. */
    @WithDefault("10000")
    int maxStreams();

    /** Most messages in one ApplyChatTemplate request. */
    @WithDefault("4096")
    int maxMessages();

    default Path resolvedStore() {
        return store().orElseGet(() -> {
            Path local = Path.of("models");
            return java.nio.file.Files.isDirectory(local) ? local : Path.of(System.getProperty("user.home"), ".boundless", "models");
        });
    }
}
