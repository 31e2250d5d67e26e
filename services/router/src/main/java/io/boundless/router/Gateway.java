package io.boundless.router;

import io.boundless.proto.router.v1.Model;
import io.boundless.proto.tokenizer.v1.DecodeRequest;
import io.boundless.proto.tokenizer.v1.TokenizerGrpc;
import io.boundless.proto.ApiKeys;
import io.boundless.proto.ApiKeysFile;
import io.boundless.proto.AuditLog;
import io.boundless.router.auth.Quotas;
import io.boundless.router.endpoints.Replica;
import io.boundless.router.endpoints.ReplicaPool;
import io.boundless.router.routing.ReplicaPicker;
import io.grpc.Deadline;
import io.grpc.ManagedChannel;
import io.boundless.proto.tls.PeerTls;
import io.boundless.router.endpoints.PeerChannels;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * The router's domain entry point, independent of the API a request came through: authentication and
 * rate limits, validation, admission, and starting a {@link Completion}.
 */
public final class Gateway implements AutoCloseable, io.boundless.router.control.Router {
    private static final Logger LOG = Logger.getLogger(Gateway.class);
    /** Trailer that carries a rate limit's wait in seconds (the HTTP API turns it into Retry-After). */
    public static final Metadata.Key<String> RETRY_AFTER = Metadata.Key.of("retry-after", Metadata.ASCII_STRING_MARSHALLER);

    /** Trailers that tell the client to retry after this many seconds. */
    static Metadata retryAfter(long seconds) {
        Metadata trailers = new Metadata();
        trailers.put(RETRY_AFTER, Long.toString(seconds));
        return trailers;
    }

    final RouterConfig config;
    final RouterMetrics metrics;
    final ReplicaPool pool;
    final ReplicaPicker picker;
    final TokenizerGrpc.TokenizerStub tokenizer;
    private final ManagedChannel tokenizerChannel;
    private final Semaphore inFlight;
    /** Batch requests in flight, and how many may be. */
    private final java.util.concurrent.atomic.AtomicInteger batchInFlight = new java.util.concurrent.atomic.AtomicInteger();
    private final int batchMaxInFlight;
    private final ApiKeysFile keys;
    private final Quotas quotas;
    private final AuditLog audit;
    /** The split over model versions during a rollout (null: every replica serves, whatever its version). */
    private volatile io.boundless.router.rollout.VersionSelector versions;
    private volatile String stableVersion;
    /** The request header whose value is a stickiness key, and whether the OpenAI user field is one. */
    private volatile String stickinessHeader = "x-session-id";
    private volatile boolean stickyByUser = true;
    /** Token id -> its text, for logprobs (filled on demand from the tokenizer). */
    private final Map<Integer, String> pieces = new ConcurrentHashMap<>();

    public Gateway(RouterConfig config, RouterMetrics metrics) {
        this.config = config;
        this.metrics = metrics;
        this.pool = new ReplicaPool(config.kubernetes().enabled() ? List.of() : config.replicas().orElse(List.of()), config.health().interval(), config.health().ejection(), config.health().timeout(),
                config.health().failuresToEject(), new io.boundless.router.endpoints.LatencyOutliers.Settings(config.health().latencyFactor(),
                        config.health().latencyMinExcess().toNanos(), config.health().latencyMinSamples(), config.health().latencyMaxEjectedShare()));
        ReplicaPicker.Policy policy = switch (config.routing().policy().toLowerCase(Locale.ROOT)) {
            case "prefix" -> ReplicaPicker.Policy.PREFIX;
            case "round-robin" -> ReplicaPicker.Policy.ROUND_ROBIN;
            default -> throw new IllegalArgumentException("boundless.router.routing.policy is 'prefix' or 'round-robin', not '"
                    + config.routing().policy() + "'");
        };
        this.picker = new ReplicaPicker(policy, config.routing().blockSize(), config.routing().affinityBlocks(), config.routing().loadFactor(),
                config.routing().rememberedPrefixes());
        int colon = config.tokenizer().lastIndexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("boundless.router.tokenizer is host:port, not '" + config.tokenizer() + "'");
        }
        this.tokenizerChannel = PeerTls.channelBuilder(PeerChannels.tls(), config.tokenizer().substring(0, colon),
                Integer.parseInt(config.tokenizer().substring(colon + 1))).maxInboundMessageSize(64 << 20)
                .intercept(io.boundless.proto.tracing.TracingInterceptor.client()).build();
        this.tokenizer = TokenizerGrpc.newStub(tokenizerChannel);
        this.inFlight = new Semaphore(config.maxInFlight());
        this.batchMaxInFlight = Math.max(1, Math.min(config.maxInFlight(), config.batchMaxInFlight().orElse(config.maxInFlight() / 2)));
        this.audit = new AuditLog(config.auditLog().orElse(null), "router", io.boundless.engine.format.Json::write);
        this.keys = config.auth().keysFile().map(f -> new ApiKeysFile(f, audit)).orElse(null);
        var a = config.auth();
        this.quotas = new Quotas(new Quotas.Defaults(a.requestsPerSecond(), a.burst(), a.tokensPerMinute(), a.maxStreams()), System::nanoTime);
    }

    public void start() {
        if (pool.all().isEmpty() && config.deployment().isEmpty() && !config.kubernetes().enabled()) {
            throw new IllegalArgumentException("no inference replicas configured (boundless.router.replicas) and no deployment"
                    + " (boundless.router.deployment) to start them, and not on Kubernetes (boundless.router.kubernetes.enabled)");
        }
        pool.start();
        if (keys == null) {
            LOG.warn("authentication is OFF: no API keys file is configured (boundless.router.auth.keys-file); every caller is served");
        } else {
            LOG.infof("authentication is on: %d API keys from %s, checked for changes every %s", keys.current().size(), keys.file(),
                    config.auth().reloadInterval());
            keys.watch(config.auth().reloadInterval());
        }
        LOG.infof("serving model %s through tokenizer %s and inference replicas %s (routing: %s)", config.model(), config.tokenizer(),
                pool.all(), config.routing().policy());
    }

    /**
     * Checks the caller's credentials ("Bearer <key>" or the bare key) and takes one request from its
     * rate-limit bucket. Returns the key's name ("anonymous" without authentication).
     */
    public String authorize(String authorization) {
        return authorize(authorization, "inference");
    }

    /**
     * As {@link #authorize(String)}, for the admin API: the key needs the admin scope (PERMISSION_DENIED without it).
     * Without authentication every caller is admitted, as for inference.
     */
    public String authorizeAdmin(String authorization) {
        return authorize(authorization, "admin");
    }

    private String authorize(String authorization, String scope) {
        ApiKeys.Limits limits = ApiKeys.Limits.DEFAULT;
        String name = "anonymous";
        if (keys != null) {
            ApiKeys.Key k = keys.current().check(authorization, scope);
            name = k.name();
            limits = k.limits();
        }
        try {
            quotas.takeRequest(name, limits);
        } catch (Quotas.Exceeded e) {
            metrics.refused("rate-limit");
            throw e.status().getStatus().asRuntimeException(retryAfter(e.retryAfterSeconds));
        }
        return name;
    }

    /** The audit log of admin actions. */
    public AuditLog audit() {
        return audit;
    }

    /** The API keys file (null: no authentication). */
    public ApiKeysFile keys() {
        return keys;
    }

    /**
     * Routes by version from now on: each request draws its version from selector (sticky by its key), and falls
     * back to the stable version when the drawn one has no admitted replica.
     */
    @Override
    public void route(io.boundless.router.rollout.VersionSelector selector, String stable) {
        this.versions = selector;
        this.stableVersion = stable;
    }

    /** What makes a request sticky to a version: the value of this header, and (user) the OpenAI user field. */
    @Override
    public void stickiness(String header, boolean user) {
        this.stickinessHeader = header.toLowerCase(Locale.ROOT);
        this.stickyByUser = user;
    }

    /** The stickiness key of a request with these headers and this OpenAI user field (null: none). */
    public String stickinessKey(java.util.function.Function<String, String> header, String user) {
        String h = header.apply(stickinessHeader);
        if (h != null && !h.isBlank()) {
            return h.strip();
        }
        return stickyByUser && user != null && !user.isBlank() ? user : null;
    }

    /** The version a request goes to (null: any replica). */
    String versionFor(TextRequest req) {
        var v = versions;
        return v == null ? null : v.select(req.stickinessKey());
    }

    /** Where a request whose version has no admitted replica goes: the stable version, or null (any) without a rollout. */
    String fallbackVersion(String version) {
        String stable = stableVersion;
        return stable == null || stable.equals(version) ? null : stable;
    }

    /** The served models. */
    public List<Model> models() {
        int ready = pool.admitted().size();
        int context = pool.all().stream().mapToInt(Replica::contextLength).max().orElse(0);
        return List.of(Model.newBuilder().setId(config.model()).setReadyReplicas(ready).setContextLength(context).build());
    }

    /**
     * Validates the request and starts it; output goes to sink. Returns the request's handle, to
     * cancel it when the client goes away.
     */
    public Completion start(TextRequest req, Deadline deadline, CompletionSink sink) {
        if (stopping) {
            throw Status.UNAVAILABLE.withDescription("the router is shutting down: retry (another router replica, or this one once restarted, serves it)")
                    .asRuntimeException(retryAfter(1));
        }
        validate(req);
        String caller = req.caller() == null ? "anonymous" : req.caller();
        Quotas.Lease lease;
        try {
            lease = quotas.admit(caller, keys == null ? ApiKeys.Limits.DEFAULT : keys.current().limitsOf(caller));
        } catch (Quotas.Exceeded e) {
            metrics.refused("key-quota");
            throw e.status().getStatus().asRuntimeException(retryAfter(e.retryAfterSeconds));
        }
        if (req.batch() && batchInFlight.incrementAndGet() > batchMaxInFlight) {
            batchInFlight.decrementAndGet();
            lease.release(0);
            metrics.refused("overload-batch");
            throw Status.RESOURCE_EXHAUSTED.withDescription("model '" + req.model() + "' has " + batchMaxInFlight
                    + " batch requests in flight, their share of its capacity (boundless.router.batch-max-in-flight); retry later")
                    .asRuntimeException(retryAfter(1));
        }
        if (!inFlight.tryAcquire()) {
            if (req.batch()) {
                batchInFlight.decrementAndGet();
            }
            lease.release(0);
            metrics.refused("overload");
            throw Status.RESOURCE_EXHAUSTED.withDescription("model '" + req.model() + "' has " + config.maxInFlight()
                    + " requests in flight, its limit (boundless.router.max-in-flight); retry later").asRuntimeException(retryAfter(1));
        }
        Completion c = new Completion(this, req, deadline == null ? Deadline.after(config.requestTimeout().toMillis(), TimeUnit.MILLISECONDS) : deadline, sink,
                lease);
        live.add(c);
        c.start();
        return c;
    }

    /** The requests admitted and not yet ended. */
    private final java.util.Set<Completion> live = ConcurrentHashMap.newKeySet();
    private volatile boolean stopping;

    /** Whether the router is stopping (not ready: new requests are refused). */
    public boolean stopping() {
        return stopping;
    }

    /**
     * The router is stopping: new requests are refused from now on (UNAVAILABLE with Retry-After), the ones in flight
     * may finish within grace, and those still running then end with UNAVAILABLE and Retry-After. Returns how many
     * had to be ended.
     */
    public int shutDown(Duration grace) {
        stopping = true;
        long until = System.nanoTime() + grace.toNanos();
        synchronized (live) {
            while (!live.isEmpty() && until - System.nanoTime() > 0) {
                try {
                    live.wait(Math.max(1, Math.min(100, (until - System.nanoTime()) / 1_000_000)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        List<Completion> left = List.copyOf(live);
        if (!left.isEmpty()) {
            LOG.warnf("the router is stopping: %d requests still running after %s end with UNAVAILABLE and Retry-After", left.size(), grace);
        }
        left.forEach(Completion::shutDown);
        return left.size();
    }

    void releaseAdmission(Completion c, TextRequest req, Quotas.Lease lease, long tokens) {
        if (live.remove(c)) {
            synchronized (live) {
                live.notifyAll();
            }
        }
        if (req.batch()) {
            batchInFlight.decrementAndGet();
        }
        inFlight.release();
        lease.release(tokens);
    }

    private void validate(TextRequest req) {
        checkModel(req.model());
        if (req.n() < 1 || req.n() > config.maxSamples()) {
            throw invalid("n must be 1 to " + config.maxSamples() + ", not " + req.n());
        }
        var s = req.sampling();
        checkConstraint(s);
        if (s.getStopCount() > config.maxStopStrings()) {
            throw invalid("at most " + config.maxStopStrings() + " stop strings, not " + s.getStopCount());
        }
        for (String stop : s.getStopList()) {
            if (stop.isEmpty() || stop.length() > 256) {
                throw invalid("a stop string must have 1 to 256 characters, not " + stop.length());
            }
        }
        if (req.text() != null) {
            int bytes = req.text().getBytes(StandardCharsets.UTF_8).length;
            if (bytes > config.maxPromptBytes()) {
                throw invalid("the prompt has " + bytes + " bytes; the limit is " + config.maxPromptBytes());
            }
            if (req.text().isEmpty()) {
                throw invalid("the prompt is empty");
            }
        } else if (req.ids() != null) {
            if (req.ids().length == 0) {
                throw invalid("the prompt has no token ids");
            }
        } else if (req.messages() == null || req.messages().isEmpty()) {
            throw invalid("messages must hold at least one message");
        } else {
            long bytes = 0;
            for (var m : req.messages()) {
                if (m.getRole().isEmpty()) {
                    throw invalid("every message needs a role (system, user, assistant or tool)");
                }
                bytes += m.getContent().length();
            }
            if (bytes > config.maxPromptBytes()) {
                throw invalid("the messages hold " + bytes + " characters; the limit is " + config.maxPromptBytes());
            }
            if (req.chatTemplate() != null && req.chatTemplate().length() > config.maxPromptBytes()) {
                throw invalid("chat_template has " + req.chatTemplate().length() + " characters; the limit is " + config.maxPromptBytes());
            }
        }
    }

    /**
     * A message as chat templates take it (transformers' form): tool calls as {id, type: "function", function: {name,
     * arguments}} with the arguments as an object, not the JSON text OpenAI clients send.
     */
    static io.boundless.proto.tokenizer.v1.ChatMessage templateMessage(io.boundless.proto.router.v1.ChatMessage m) {
        var b = io.boundless.proto.tokenizer.v1.ChatMessage.newBuilder().setRole(m.getRole()).setContent(m.getContent())
                .setToolCallId(m.getToolCallId()).setName(m.getName());
        if (m.hasReasoningContent()) {
            b.setReasoningContent(m.getReasoningContent());
        }
        for (var c : m.getToolCallsList()) {
            var fn = com.google.protobuf.Struct.newBuilder().putFields("name", str(c.getName()))
                    .putFields("arguments", com.google.protobuf.Value.newBuilder().setStructValue(struct(c.getArguments())).build());
            b.addToolCalls(com.google.protobuf.Struct.newBuilder().putFields("id", str(c.getId())).putFields("type", str("function"))
                    .putFields("function", com.google.protobuf.Value.newBuilder().setStructValue(fn).build()));
        }
        return b.build();
    }

    /** A tool as templates take it: {type: "function", function: {name, description, parameters}}. */
    static com.google.protobuf.Struct templateTool(io.boundless.proto.router.v1.Tool t) {
        var fn = com.google.protobuf.Struct.newBuilder().putFields("name", str(t.getName()));
        if (!t.getDescription().isEmpty()) {
            fn.putFields("description", str(t.getDescription()));
        }
        fn.putFields("parameters", com.google.protobuf.Value.newBuilder().setStructValue(struct(t.getParameters().isEmpty()
                ? "{\"type\": \"object\", \"properties\": {}}" : t.getParameters())).build());
        return com.google.protobuf.Struct.newBuilder().putFields("type", str("function"))
                .putFields("function", com.google.protobuf.Value.newBuilder().setStructValue(fn).build()).build();
    }

    private static com.google.protobuf.Value str(String s) {
        return com.google.protobuf.Value.newBuilder().setStringValue(s).build();
    }

    /** A JSON object's text as a Struct (the caller checked it is an object). */
    static com.google.protobuf.Struct struct(String json) {
        com.fasterxml.jackson.databind.JsonNode n;
        try {
            n = JSON.readTree(json.isBlank() ? "{}" : json);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw invalid("not JSON: " + e.getOriginalMessage());
        }
        if (n == null || !n.isObject()) {
            throw invalid("not a JSON object: " + json);
        }
        return value(n).getStructValue();
    }

    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

    static com.google.protobuf.Value value(com.fasterxml.jackson.databind.JsonNode n) {
        var v = com.google.protobuf.Value.newBuilder();
        if (n.isObject()) {
            var s = com.google.protobuf.Struct.newBuilder();
            n.properties().forEach(e -> s.putFields(e.getKey(), value(e.getValue())));
            v.setStructValue(s);
        } else if (n.isArray()) {
            var l = com.google.protobuf.ListValue.newBuilder();
            n.forEach(x -> l.addValues(value(x)));
            v.setListValue(l);
        } else if (n.isTextual()) {
            v.setStringValue(n.asText());
        } else if (n.isNumber()) {
            v.setNumberValue(n.asDouble());
        } else if (n.isBoolean()) {
            v.setBoolValue(n.asBoolean());
        } else {
            v.setNullValue(com.google.protobuf.NullValue.NULL_VALUE);
        }
        return v.build();
    }

    /**
     * The tool-call format of this model's outputs: the configured one (boundless.router.tool-call-parser), else the one
     * its chat template implies (asked of the tokenizer once), else hermes.
     */
    public String toolCallFormat(Deadline deadline) {
        String f = toolCallFormat;
        if (f == null) {
            f = config.toolCallParser().orElse("");
            if (f.isEmpty()) {
                f = TokenizerGrpc.newBlockingStub(tokenizerChannel).withDeadline(deadline)
                        .getTokenizerInfo(io.boundless.proto.tokenizer.v1.GetTokenizerInfoRequest.newBuilder().setModel(tokenizerModel()).build())
                        .getToolCallFormat();
            }
            if (f.isEmpty()) {
                f = "hermes";
            }
            toolCallFormat = f;
        }
        return f;
    }

    private volatile String toolCallFormat;

    /** The engine's descriptor of a request's constraint (the same value the replicas compile). */
    static io.boundless.engine.grammar.Constraint engineConstraint(io.boundless.proto.router.v1.Constraint c) {
        return io.boundless.engine.grammar.Constraint.of(c.getKindCase().name(), c.getJsonSchema(), c.getRegex(), c.getGrammar(),
                c.getChoice().getChoicesList());
    }

    static io.boundless.proto.inference.v1.Constraint toInference(io.boundless.proto.router.v1.Constraint c) {
        var b = io.boundless.proto.inference.v1.Constraint.newBuilder();
        switch (c.getKindCase()) {
            case JSON_SCHEMA -> b.setJsonSchema(c.getJsonSchema());
            case JSON_OBJECT -> b.setJsonObject(true);
            case REGEX -> b.setRegex(c.getRegex());
            case CHOICE -> b.setChoice(io.boundless.proto.inference.v1.ChoiceList.newBuilder().addAllChoices(c.getChoice().getChoicesList()));
            case GRAMMAR -> b.setGrammar(c.getGrammar());
            case KIND_NOT_SET -> { }
        }
        return b.build();
    }

    /**
     * Compiles a request's constraint here (cached per constraint), so that what cannot be compiled is refused before
     * the request is routed, with the compiler's reason; the replicas compile the same value again for their masks.
     */
    public static void checkConstraint(io.boundless.proto.router.v1.Sampling s) {
        if (!s.hasConstraint()) {
            return;
        }
        try {
            var start = constraints.matcher(engineConstraint(s.getConstraint())).initial;
            if (s.hasMaxTokens() && start.minBytes > s.getMaxTokens()) {
                throw invalid("max_tokens " + s.getMaxTokens() + " is too few for the constraint: its shortest output takes " + start.minBytes
                        + " tokens");
            }
        } catch (io.boundless.engine.grammar.GrammarException e) {
            throw invalid(e.getMessage());
        } catch (StackOverflowError e) {
            throw invalid("the constraint nests too deeply to compile");
        }
    }

    private static final io.boundless.engine.grammar.Constraint.Cache constraints = new io.boundless.engine.grammar.Constraint.Cache(256);

    static StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }

    String tokenizerModel() {
        return config.tokenizerModel().orElse(config.model());
    }

    /** The text of each id (for logprobs), asking the tokenizer for those not seen before. */
    public String[] pieces(int[] ids, Deadline deadline) {
        String[] out = new String[ids.length];
        List<Integer> missing = new ArrayList<>();
        for (int i = 0; i < ids.length; i++) {
            out[i] = pieces.get(ids[i]);
            if (out[i] == null) {
                missing.add(i);
            }
        }
        if (!missing.isEmpty()) {
            var stub = TokenizerGrpc.newBlockingStub(tokenizerChannel).withDeadline(deadline);
            for (int i : missing) {
                String text = stub.decode(DecodeRequest.newBuilder().setModel(tokenizerModel()).addIds(ids[i]).build()).getText();
                pieces.put(ids[i], text);
                out[i] = text;
            }
        }
        return out;
    }

    /**
     * The conversation rendered with the model's chat template for the assistant's turn (text and ids), for
     * prompts a strategy builds of several turns. Blocks until the tokenizer answers; errors are mapped as a
     * chat's are (a model without a template says so).
     */
    public io.boundless.proto.tokenizer.v1.ApplyChatTemplateResponse renderChat(List<io.boundless.proto.router.v1.ChatMessage> messages, Deadline deadline) {
        return renderChat(messages, true, deadline);
    }

    /** As {@link #renderChat(List, Deadline)}, with or without the assistant's generation prompt at the end. */
    public io.boundless.proto.tokenizer.v1.ApplyChatTemplateResponse renderChat(List<io.boundless.proto.router.v1.ChatMessage> messages,
            boolean addGenerationPrompt, Deadline deadline) {
        var b = io.boundless.proto.tokenizer.v1.ApplyChatTemplateRequest.newBuilder().setModel(tokenizerModel()).setAddGenerationPrompt(addGenerationPrompt);
        for (var m : messages) {
            b.addMessages(templateMessage(m));
        }
        try {
            return TokenizerGrpc.newBlockingStub(tokenizerChannel).withDeadline(deadline).applyChatTemplate(b.build());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.INVALID_ARGUMENT) {
                boolean template = TokenizerGrpc.newBlockingStub(tokenizerChannel).withDeadline(deadline)
                        .getTokenizerInfo(io.boundless.proto.tokenizer.v1.GetTokenizerInfoRequest.newBuilder().setModel(tokenizerModel()).build())
                        .getHasChatTemplate();
                throw template ? e : invalid(Completion.noChatTemplate(config.model()));
            }
            throw tokenizerFailure(e);
        }
    }

    /** The ids of text as the model's tokenizer encodes it, adding no special tokens (those written in text are read as such). Blocks. */
    public int[] encode(String text, Deadline deadline) {
        return encode(text, false, deadline);
    }

    /** The ids of text, with the model's special tokens added (a BOS, say) when addSpecialTokens. Blocks. */
    public int[] encode(String text, boolean addSpecialTokens, Deadline deadline) {
        if (text.getBytes(StandardCharsets.UTF_8).length > config.maxPromptBytes()) {
            throw invalid("the text has more than " + config.maxPromptBytes() + " bytes, the limit");
        }
        try {
            var ids = TokenizerGrpc.newBlockingStub(tokenizerChannel).withDeadline(deadline).encode(io.boundless.proto.tokenizer.v1.EncodeRequest.newBuilder()
                    .setModel(tokenizerModel()).setText(text).setAddSpecialTokens(addSpecialTokens).build()).getIdsList();
            return ids.stream().mapToInt(Integer::intValue).toArray();
        } catch (StatusRuntimeException e) {
            throw tokenizerFailure(e);
        }
    }

    private StatusRuntimeException tokenizerFailure(StatusRuntimeException e) {
        return tokenizerStatus(e.getStatus()).asRuntimeException();
    }

    /** What a client is told when the tokenizer service refused or failed a call (its own INVALID_ARGUMENT, deadline and cancel pass through). */
    Status tokenizerStatus(Status s) {
        return switch (s.getCode()) {
            case INVALID_ARGUMENT, DEADLINE_EXCEEDED, CANCELLED -> s;
            case NOT_FOUND -> Status.FAILED_PRECONDITION.withDescription("the tokenizer service has no tokenizer for model '" + tokenizerModel() + "': "
                    + s.getDescription());
            default -> Status.UNAVAILABLE.withDescription("the tokenizer service failed: " + s.getCode() + " " + s.getDescription());
        };
    }

    /** The text of ids as the model's tokenizer decodes them, special tokens included. Blocks. */
    public String decode(int[] ids, Deadline deadline) {
        var b = DecodeRequest.newBuilder().setModel(tokenizerModel());
        for (int id : ids) {
            b.addIds(id);
        }
        try {
            return TokenizerGrpc.newBlockingStub(tokenizerChannel).withDeadline(deadline).decode(b.build()).getText();
        } catch (StatusRuntimeException e) {
            throw tokenizerFailure(e);
        }
    }

    /**
     * The log-probability of each prompt token after the tokens before it (and top alternatives), from the replica the prompt
     * would be routed to (prefix affinity: a generation of the same prompt next finds it cached there), on the version the
     * request's stickiness key draws. Blocks. For OpenAI's echo with logprobs.
     */
    public io.boundless.proto.inference.v1.ScoreResponse scorePrompt(int[] ids, int topLogprobs, String stickinessKey, Deadline deadline) {
        String version = versionFor(TextRequest.ofIds(config.model(), ids, io.boundless.proto.router.v1.Sampling.getDefaultInstance(), 1, "score")
                .withStickinessKey(stickinessKey));
        if (version != null && pool.admitted(version).isEmpty()) {
            version = fallbackVersion(version);
        }
        Replica r = picker.pick(ids, new ArrayList<>(pool.admitted(version)));
        if (r == null) {
            throw Status.UNAVAILABLE.withDescription("no inference replica of model '" + config.model() + "' is available to score the prompt").asRuntimeException();
        }
        var b = io.boundless.proto.inference.v1.ScoreRequest.newBuilder().addPromptIds(ids[0]).setTopLogprobs(topLogprobs).setVersion(pool.deltaSource(version));
        for (int i = 1; i < ids.length; i++) {
            b.addContinuationIds(ids[i]);
        }
        r.acquire();
        try {
            return io.boundless.proto.inference.v1.InferenceGrpc.newBlockingStub(r.channel()).withDeadline(deadline).score(b.build());
        } catch (StatusRuntimeException e) {
            throw switch (e.getStatus().getCode()) {
                case INVALID_ARGUMENT, DEADLINE_EXCEEDED, CANCELLED, RESOURCE_EXHAUSTED -> e;
                default -> Status.UNAVAILABLE.withDescription("inference replica " + r + " failed to score the prompt: " + e.getStatus().getCode() + " "
                        + e.getStatus().getDescription()).asRuntimeException();
            };
        } finally {
            r.release();
        }
    }

    /** The model this router serves, and whether name is it (NOT_FOUND when not, as for every other request). */
    public void checkModel(String name) {
        if (name == null || name.isEmpty()) {
            throw invalid("model is required; served: " + config.model());
        }
        if (!name.equals(config.model())) {
            throw Status.NOT_FOUND.withDescription("model '" + name + "' is not served here; served: " + config.model()).asRuntimeException();
        }
    }

    /** The router's configuration. */
    public RouterConfig config() {
        return config;
    }

    @Override
    public void close() {
        if (keys != null) {
            keys.close();
        }
        pool.close();
        tokenizerChannel.shutdownNow();
    }
}
