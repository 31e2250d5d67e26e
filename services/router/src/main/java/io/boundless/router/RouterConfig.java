package io.boundless.router;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/** Configuration of the router, under {@code boundless.router}. */
@ConfigMapping(prefix = "boundless.router")
public interface RouterConfig {

    /** The served model's name, as clients name it (ListModels, /v1/models). */
    String model();

    /** The tokenizer's name for the model (a tokenizer-service model name). Default: the model's name. */
    Optional<String> tokenizerModel();

    /**
     * How tool calls are read from the model's output: hermes, llama3_json, mistral, granite or functionary. Default: the
     * format the model's chat template implies, else hermes.
     */
    Optional<String> toolCallParser();

    /** The tokenizer service, host:port. */
    String tokenizer();

    /** Inference replicas serving the model, host:port each (none when a deployment starts them). */
    Optional<List<String>> replicas();

    /** Deadline of a request that brings none of its own (gRPC deadline, HTTP request). */
    @WithDefault("300s")
    Duration requestTimeout();

    /**
     * One INFO line per request as it ends (the router's access log): its id and trace id, outcome, tokens, time to
     * first token and in all. Never the prompt or the text.
     */
    @WithDefault("false")
    boolean accessLog();

    /**
     * How long a stopping router (SIGTERM) lets the requests in flight finish: new ones are refused at once with
     * UNAVAILABLE / 503 and Retry-After, and what still runs after this ends the same way, after the text sent so far.
     * Below quarkus.shutdown.timeout (20s) and the Pod's termination grace.
     */
    @WithDefault("15s")
    Duration shutdownGrace();

    /**
     * Time-to-first-token thresholds the TTFT histogram has a bucket at exactly (besides its exponential ones), so that
     * an SLO alert's {@code le} selects a real bucket: the chart adds its ttftSloSeconds.
     */
    @WithDefault("0.5s,1s,2s,5s")
    List<Duration> ttftSlos();

    /** Requests of the model in flight at once (tokenizing, waiting on or streaming from inference); more get RESOURCE_EXHAUSTED / 429. */
    @WithDefault("256")
    int maxInFlight();

    /**
     * Of those, how many batch requests (priority batch) may hold at once; more batch requests get RESOURCE_EXHAUSTED /
     * 429 while interactive ones still have the rest. Default: half of max-in-flight.
     */
    Optional<Integer> batchMaxInFlight();

    /** Most samples per request (n). */
    @WithDefault("16")
    int maxSamples();

    /** Most stop strings per request, and their longest length in characters. */
    @WithDefault("8")
    int maxStopStrings();

    /** Prompt text longer than this many bytes is INVALID_ARGUMENT before it is tokenized. */
    @WithDefault("1048576")
    int maxPromptBytes();

    /**
     * A ModelDeployment file (boundless.io/v1alpha1): the router runs its versions and pools as local inference
     * processes (see {@code local}), scales them and rolls versions out. Unset: the static replicas.
     */
    Optional<java.nio.file.Path> deployment();

    /** Replicas tried for one request when they fail before the first token. */
    @WithDefault("3")
    int maxAttempts();

    /** Routing settings. */
    Routing routing();

    /** Server-side reasoning strategies (Reason, and chat completions' boundless_reasoning). */
    Reasoning reasoning();

    interface Reasoning {
        /** Most paths (n) of one reasoning request. */
        @WithDefault("64")
        int maxSamples();

        /** Most tokens one reasoning request may generate over all its stages and paths (checked up front, worst case). */
        @WithDefault("65536")
        int maxTokens();

        /** Tokens each API key's reasoning requests may generate per minute (reserved at the worst case, unused ones returned); 0: no limit. */
        @WithDefault("1000000")
        long keyTokensPerMinute();

        /** Reasoning requests of one API key running at once; 0: no limit. */
        @WithDefault("8")
        int keyConcurrent();

        /** Most exemplars a request may bring. */
        @WithDefault("16")
        int maxExemplars();

        /** A directory of named exemplar sets, {@code <name>.json} each (boundless up: the model's reasoning/ directory). */
        Optional<Path> exemplars();
    }

    /** Health checking and outlier ejection. */
    Health health();

    /** API keys and rate limits. */
    Auth auth();

    /** The audit log of admin actions and key changes, one JSON object per line (also logged as boundless.audit). Unset: the log only. */
    Optional<Path> auditLog();

    /** How a deployment's replicas run on this machine (boundless up sets these). */
    Local local();

    /** The deployment controller. */
    Control control();

    /** The operator and EndpointSlice discovery on Kubernetes (the Helm chart turns it on). */
    Kubernetes kubernetes();

    interface Kubernetes {
        /** Whether this router runs on Kubernetes: it discovers replicas through EndpointSlices and, as leader, reconciles. */
        @WithDefault("false")
        boolean enabled();

        /** The namespace (default: the Pod's own, from its service account). */
        Optional<String> namespace();

        /** The ModelDeployment this router serves and reconciles. */
        Optional<String> deployment();

        /** The Lease of leader election (default boundless-router-&lt;deployment&gt;). */
        Optional<String> lease();

        /** This replica's identity in the Lease (default: the Pod's name, $HOSTNAME). */
        Optional<String> identity();

        @WithDefault("15s")
        Duration leaseDuration();

        @WithDefault("10s")
        Duration renewDeadline();

        @WithDefault("2s")
        Duration retryPeriod();

        /** The inference image per accelerator: cpu, nvidia, amd. */
        java.util.Map<String, String> images();

        /** The PersistentVolumeClaim of the model store. */
        @WithDefault("boundless-models")
        String modelStoreClaim();

        @WithDefault("9102")
        int grpcPort();

        @WithDefault("8102")
        int httpPort();

        /** Also a KEDA ScaledObject per (version, pool), which then owns the replica counts. */
        @WithDefault("false")
        boolean keda();

        /** The Prometheus server KEDA's triggers query. */
        Optional<String> prometheus();

        /** Labels on every inference Pod (the chart's NetworkPolicies select on them). */
        java.util.Map<String, String> podLabels();

        /**
         * The Secret of the inference replicas' certificate (tls.crt, tls.key, ca.crt), mounted into every Pod; needed
         * unless the router itself is on plaintext ({@code boundless.tls.plaintext=true}), whose replicas then are too.
         */
        Optional<String> tlsSecret();
    }

    /** Local inference processes, one per replica, started and stopped by the deployment controller. */
    interface Local {
        /** The java executable. Default: the router's own. */
        Optional<String> java();

        /** JVM options of an inference process (the heap, the vector module, native access). */
        @WithDefault("--enable-native-access=ALL-UNNAMED,--sun-misc-unsafe-memory-access=allow,--add-modules,jdk.incubator.vector,-XX:+UseG1GC,-Xmx256m")
        List<String> javaOptions();

        /** The inference service's quarkus-run.jar. */
        Optional<Path> inferenceJar();

        /** The model store: a version's source is a directory {@code <store>/<source>}. */
        Optional<Path> store();

        /** Where each replica's log goes ({@code <logs>/<version>-<pool>-<n>.log}). */
        Optional<Path> logs();

        /** gRPC ports for replicas, "first-last"; a replica's HTTP port is its gRPC port plus http-offset. */
        @WithDefault("19402-19499")
        String grpcPorts();

        @WithDefault("-1000")
        int httpOffset();
    }

    interface Control {
        /** How often the controller runs its loop. */
        @WithDefault("1s")
        Duration interval();

        /** How long a draining replica's streams may take before it is stopped anyway. */
        @WithDefault("60s")
        Duration drainGrace();
    }

    /** Routing: prefix affinity with bounded load. */
    interface Routing {
        /** Tokens per prefix block hashed for affinity (the replicas' KV block size). */
        @WithDefault("16")
        int blockSize();

        /** Leading full blocks of a prompt that are remembered and matched for affinity (64 × 16 = the first 1,024 tokens). */
        @WithDefault("64")
        int affinityBlocks();

        /** Prefix hashes the router remembers (least recently used forgotten first; about 100 bytes each). */
        @WithDefault("200000")
        int rememberedPrefixes();

        /** Bounded load: a replica takes a request for a prefix it holds only while its outstanding requests stay within this factor of the average. */
        @WithDefault("2")
        double loadFactor();

        /** "prefix" (the replica sent the longest matching prefix, within the load bound; else the fewest outstanding) or "round-robin". */
        @WithDefault("prefix")
        String policy();
    }

    /** Active health checks and passive outlier ejection. */
    interface Health {
        /** How often each replica's GetLoad is called. */
        @WithDefault("1s")
        Duration interval();

        /** A replica that fails a request, or failures-to-eject health checks in a row, is ejected for this long (and until a check passes). */
        @WithDefault("5s")
        Duration ejection();

        /** A health check's deadline (a busy replica answers late: that alone is no reason to eject it). */
        @WithDefault("2s")
        Duration timeout();

        /** Failed health checks in a row that eject a replica. */
        @WithDefault("2")
        int failuresToEject();

        /**
         * Outlier ejection by latency: a replica whose inter-token latency (as the router sees it: the mean of its last 64 gaps, the slowest 5% left out) is this many
         * times its peers' (same version and pool) is ejected, its streams continuing elsewhere.
         */
        @WithDefault("3.0")
        double latencyFactor();

        /** And above the peers' median by at least this much. */
        @WithDefault("20ms")
        Duration latencyMinExcess();

        /** Inter-token gaps a replica's window needs (of its last 64) before it is judged. */
        @WithDefault("32")
        int latencyMinSamples();

        /** The share of a version and pool's replicas that may be out for latency at once (never the last one); 0: off. */
        @WithDefault("0.5")
        double latencyMaxEjectedShare();
    }

    /** Authentication and per-key rate limits. */
    interface Auth {
        /**
         * File of API keys, one per line: {@code <name>:<sha256 hex of the key>} (# comments allowed).
         * Unset: no authentication (the router says so at start).
         */
        Optional<Path> keysFile();

        /** Requests per second per key (the token bucket's rate); 0: no limit. */
        @WithDefault("0")
        double requestsPerSecond();

        /** The bucket's size: requests a key may make at once after being idle. */
        @WithDefault("10")
        int burst();

        /** Prompt and generated tokens per minute per key (charged as requests end); 0: no limit. A key's tpm= replaces it. */
        @WithDefault("0")
        long tokensPerMinute();

        /** Requests of one key in flight at once; 0: no limit. A key's streams= replaces it. */
        @WithDefault("0")
        int maxStreams();

        /** How often the keys file is checked for changes (read again without a restart); 0: never. */
        @WithDefault("5s")
        Duration reloadInterval();
    }
}
