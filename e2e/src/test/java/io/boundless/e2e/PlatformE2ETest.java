package io.boundless.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.boundless.cli.LocalPlatform;
import io.boundless.proto.router.v1.ChatMessage;
import io.boundless.proto.router.v1.ChatRequest;
import io.boundless.proto.router.v1.ChatResponse;
import io.boundless.proto.router.v1.FinishReason;
import io.boundless.proto.router.v1.GenerateRequest;
import io.boundless.proto.router.v1.ListModelsRequest;
import io.boundless.proto.router.v1.RouterGrpc;
import io.boundless.proto.router.v1.Sampling;
import io.boundless.proto.router.v1.TokenIds;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The platform as real processes (the same code as {@code boundless up}: tokenizer, two inference
 * replicas on the default model, router with API keys and a rate limit), driven over gRPC, over
 * HTTP, and with the official openai npm client. The replica-failure test runs last.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PlatformE2ETest {
    private static final String KEY = "sk-e2e-main";
    private static final String BURST_KEY = "sk-e2e-burst";
    private static final String TOOLS_KEY = "sk-e2e-tools";
    /** Every key's rate limit: a slow rate, so that the rate-limit test's count does not depend on this machine's speed. */
    private static final double RATE = 2;
    private static final int BURST = 40;
    private static final int GRPC = 19300;
    private static final int HTTP = 18300;

    private final Path root = Path.of(System.getProperty("boundless.root", "..")).toAbsolutePath().normalize();
    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private LocalPlatform platform;
    private ManagedChannel channel;
    private RouterGrpc.RouterBlockingStub router;
    private RouterGrpc.RouterStub asyncRouter;

    @BeforeAll
    void start() throws Exception {
        Path work = root.resolve("e2e/target/e2e");
        Files.createDirectories(work);
        Path keys = work.resolve("api-keys");
        Files.writeString(keys, "main:" + sha256(KEY) + "\nburst:" + sha256(BURST_KEY) + "\ntools:" + sha256(TOOLS_KEY) + "\n");
        platform = new LocalPlatform(new LocalPlatform.Options(root, work, null, 2, GRPC, HTTP, Map.of(
                "BOUNDLESS_ROUTER_AUTH_KEYS_FILE", keys.toString(),
                "BOUNDLESS_ROUTER_AUTH_REQUESTS_PER_SECOND", String.valueOf(RATE),
                "BOUNDLESS_ROUTER_AUTH_BURST", String.valueOf(BURST),
                "BOUNDLESS_ROUTER_HEALTH_INTERVAL", "300ms",
                "BOUNDLESS_ROUTER_HEALTH_EJECTION", "2s"), Map.of(), Map.of()));
        platform.start(Duration.ofMinutes(4));
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", GRPC).usePlaintext().build();
        Metadata m = new Metadata();
        m.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + KEY);
        router = RouterGrpc.newBlockingStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(m));
        asyncRouter = RouterGrpc.newStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(m));
    }

    @AfterAll
    void stop() {
        if (channel != null) {
            channel.shutdownNow();
        }
        if (platform != null) {
            platform.close();
        }
    }

    private static String sha256(String s) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes()));
    }

    private static ChatRequest chat(String text, int maxTokens) {
        return ChatRequest.newBuilder().setModel("default-random").addMessages(ChatMessage.newBuilder().setRole("user").setContent(text))
                .setSampling(Sampling.newBuilder().setMaxTokens(maxTokens).setTemperature(0)).build();
    }

    @Test
    @Order(1)
    void chatOverGrpcStreamsTextDeltasThenUsage() {
        List<ChatResponse> chunks = new ArrayList<>();
        router.withDeadlineAfter(60, TimeUnit.SECONDS).chat(chat("Hello! How are you today?", 16)).forEachRemaining(chunks::add);
        ChatResponse last = chunks.getLast();
        assertThat(last.hasUsage()).isTrue();
        assertThat(last.getUsage().getCompletionTokens()).isEqualTo(16);
        assertThat(last.getUsage().getPromptTokens()).isGreaterThan(5);
        List<ChatResponse> text = chunks.subList(0, chunks.size() - 1);
        assertThat(text.stream().mapToInt(ChatResponse::getTokensCount).sum()).isEqualTo(16);
        assertThat(text.getLast().getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_LENGTH);
        assertThat(text.size()).as("streamed in several messages").isGreaterThan(4);
        // greedy: the same request gives the same text
        StringBuilder a = new StringBuilder();
        text.forEach(c -> a.append(c.getText()));
        StringBuilder b = new StringBuilder();
        router.withDeadlineAfter(60, TimeUnit.SECONDS).chat(chat("Hello! How are you today?", 16)).forEachRemaining(c -> b.append(c.getText()));
        assertThat(b.toString()).isEqualTo(a.toString()).isNotEmpty();
    }

    @Test
    @Order(2)
    void generateFromTokenIdsAndListModels() {
        var models = router.listModels(ListModelsRequest.getDefaultInstance()).getModelsList();
        assertThat(models).singleElement().satisfies(m -> {
            assertThat(m.getId()).isEqualTo("default-random");
            assertThat(m.getReadyReplicas()).isEqualTo(2);
            assertThat(m.getContextLength()).isEqualTo(2048);
        });
        int tokens = 0;
        var it = router.withDeadlineAfter(60, TimeUnit.SECONDS).generate(GenerateRequest.newBuilder().setModel("default-random")
                .setIds(TokenIds.newBuilder().addAllIds(List.of(510, 72, 449, 262))).setSampling(Sampling.newBuilder().setMaxTokens(5)).build());
        while (it.hasNext()) {
            tokens += it.next().getTokensCount();
        }
        assertThat(tokens).isEqualTo(5);
    }

    @Test
    @Order(3)
    void badInputsGetTheRightCodes() throws Exception {
        assertThatThrownBy(() -> router.chat(ChatRequest.newBuilder(chat("hi", 4)).setModel("nope").build()).hasNext())
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
                    assertThat(e.getStatus().getDescription()).contains("nope");
                });
        assertThatThrownBy(() -> router.chat(ChatRequest.newBuilder(chat("hi", 4)).setSampling(Sampling.newBuilder().setTopP(1.5f)).build()).hasNext())
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                    assertThat(e.getStatus().getDescription()).contains("top_p");
                });
        assertThatThrownBy(() -> RouterGrpc.newBlockingStub(channel).listModels(ListModelsRequest.getDefaultInstance()))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));

        assertError(post("/v1/chat/completions", "{\"model\": \"default-random\", \"messages\": [", KEY), 400, "invalid_request_error", "not valid JSON");
        assertError(post("/v1/chat/completions", "{\"model\": \"gpt-9\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", KEY), 404,
                "invalid_request_error", "gpt-9");
        assertError(post("/v1/completions", "{\"model\": \"default-random\", \"prompt\": \"" + "word ".repeat(3000) + "\"}", KEY), 400,
                "invalid_request_error", "2048");
        assertError(post("/v1/completions", "{\"model\": \"default-random\", \"prompt\": \"hi\", \"temperature\": \"hot\"}", KEY), 400,
                "invalid_request_error", "temperature");
        assertError(post("/v1/completions", "{\"model\": \"default-random\", \"prompt\": \"hi\", \"max_tokens\": 0}", KEY), 400,
                "invalid_request_error", "max_tokens");
        assertError(post("/v1/completions", "{\"model\": \"default-random\", \"prompt\": \"hi\"}", null), 401, "authentication_error", "API key");
        assertError(post("/v1/completions", "{\"model\": \"default-random\", \"prompt\": \"hi\"}", "sk-nope"), 401, "authentication_error", "not valid");
    }

    /** Runs one of the openai-client scripts of testdata/references against the router; its last JSON line. */
    private JsonNode nodeScript(String script, String key) throws Exception {
        Process p = new ProcessBuilder("node", script, "http://127.0.0.1:" + HTTP + "/v1", "default-random", key)
                .directory(root.resolve("testdata/references").toFile()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(180, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        return json.readTree(out.lines().filter(l -> l.startsWith("{")).reduce((a, b) -> b).orElseThrow());
    }

    /**
     * Tool calls and structured outputs through the official openai client: required and named tool choices constrained
     * to the tools' schemas; the Hermes and the Llama 3 JSON formats read from output a grammar forces (the random model
     * cannot call tools by itself); streamed deltas; calls and results going back in; schema-valid JSON; refusals.
     */
    @Test
    @Order(4)
    void theOfficialOpenAiClientGetsToolCallsAndSchemaValidJson() throws Exception {
        JsonNode r = nodeScript("openai-tools-check.mjs", TOOLS_KEY);
        for (String k : List.of("required", "requiredOne", "named", "hermes", "llama")) {
            JsonNode w = r.path(k);
            assertThat(w.path("finish").asText()).as(k).isEqualTo("tool_calls");
            assertThat(w.path("content").isNull()).as(k).isTrue();
            assertThat(w.path("calls")).as(k).isNotEmpty();
            for (JsonNode c : w.path("calls")) {
                assertThat(c.path("id").asText()).as(k).matches("call_[A-Za-z0-9]{24}");
                assertThat(c.path("type").asText()).isEqualTo("function");
                JsonNode args = json.readTree(c.path("arguments").asText());
                if (c.path("name").asText().equals("get_weather")) {
                    assertThat(args.path("city").isTextual()).as(k + " " + args).isTrue();
                    assertThat(args.path("city").asText().length()).isLessThanOrEqualTo(12);
                    assertThat(args.path("unit").asText()).isIn("celsius", "fahrenheit");
                } else {
                    assertThat(c.path("name").asText()).isEqualTo("get_time");
                    assertThat(args.path("zone").isTextual()).as(k + " " + args).isTrue();
                }
            }
        }
        assertThat(r.path("requiredOne").path("calls")).hasSize(1);
        assertThat(r.path("named").path("calls").get(0).path("name").asText()).isEqualTo("get_time");
        assertThat(r.path("hermes").path("calls").get(0).path("name").asText()).isEqualTo("get_weather");
        assertThat(json.readTree(r.path("hermes").path("calls").get(0).path("arguments").asText()).path("city").asText()).matches("[A-Z][a-z]{2,8}");
        assertThat(json.readTree(r.path("llama").path("calls").get(0).path("arguments").asText()).path("zone").asText()).matches("[A-Z]{3}");
        // streamed: the first delta of a call has its id and name, argument fragments add up to the whole answer's
        for (String k : List.of("requiredStream", "hermesStream", "llamaStream")) {
            JsonNode s = r.path(k);
            String whole = k.replace("Stream", "");
            assertThat(s.path("finish").asText()).as(k).isEqualTo("tool_calls");
            assertThat(s.path("firstHasIdAndName").asBoolean()).as(k).isTrue();
            assertThat(s.path("deltas").asInt()).as(k).isGreaterThan(2);
            assertThat(s.path("calls").size()).isEqualTo(r.path(whole).path("calls").size());
            for (int i = 0; i < s.path("calls").size(); i++) {
                assertThat(s.path("calls").get(i).path("name").asText()).isEqualTo(r.path(whole).path("calls").get(i).path("name").asText());
                assertThat(json.readTree(s.path("calls").get(i).path("arguments").asText()))
                        .isEqualTo(json.readTree(r.path(whole).path("calls").get(i).path("arguments").asText()));
            }
        }
        assertThat(r.path("followUp").path("finish").asText()).isIn("stop", "length");
        assertThat(r.path("none").path("calls")).isEmpty();
        assertThat(r.path("none").path("finish").asText()).isIn("stop", "length");
        JsonNode person = json.readTree(r.path("jsonSchema").path("content").asText());
        assertThat(person.path("name").isTextual()).isTrue();
        assertThat(person.path("age").asInt()).isBetween(0, 120);
        assertThat(person.path("age").isIntegralNumber()).isTrue();
        person.path("tags").forEach(t -> assertThat(t.asText()).isIn("a", "b", "c"));
        assertThat(person.size()).isEqualTo(3);
        assertThat(json.readTree(r.path("jsonObject").path("content").asText()).isObject()).isTrue();
        assertThat(r.path("choice").asText()).isIn("positive", "negative");
        assertThat(r.path("regex").asText()).matches("[A-Z]{2}-[0-9]{3}");
        JsonNode errors = r.path("errors");
        assertThat(errors.path("unsupportedSchema").path("status").asInt()).isEqualTo(400);
        assertThat(errors.path("unsupportedSchema").path("param").asText()).isEqualTo("response_format");
        assertThat(errors.path("unsupportedSchema").path("message").asText()).contains("uniqueItems");
        assertThat(errors.path("unknownTool").path("param").asText()).isEqualTo("tool_choice");
        assertThat(errors.path("twoConstraints").path("status").asInt()).isEqualTo(400);
        assertThat(errors.path("badPattern").path("param").asText()).isEqualTo("guided_regex");
        assertThat(errors.path("tooShort").path("message").asText()).contains("too few");
    }

    @Test
    @Order(4)
    void theOfficialOpenAiClientWorksAgainstTheRouter() throws Exception {
        JsonNode r = nodeScript("openai-client-check.mjs", KEY);
        assertThat(r.path("models").get(0).asText()).isEqualTo("default-random");
        assertThat(r.path("chat").path("object").asText()).isEqualTo("chat.completion");
        assertThat(r.path("chat").path("role").asText()).isEqualTo("assistant");
        assertThat(r.path("chat").path("finish").asText()).isEqualTo("length");
        assertThat(r.path("chat").path("usage").path("completion_tokens").asInt()).isEqualTo(12);
        // the same seed streamed gives the same text, in several chunks, with usage at the end
        assertThat(r.path("chatStream").path("content").asText()).isEqualTo(r.path("chat").path("content").asText());
        assertThat(r.path("chatStream").path("chunks").asInt()).isGreaterThan(3);
        assertThat(r.path("chatStream").path("role").asText()).isEqualTo("assistant");
        assertThat(r.path("chatStream").path("finish").asText()).isEqualTo("length");
        assertThat(r.path("chatStream").path("usage").path("total_tokens").asInt())
                .isEqualTo(r.path("chat").path("usage").path("total_tokens").asInt());
        assertThat(r.path("completionN")).hasSize(2);
        for (JsonNode c : r.path("completionN")) {
            assertThat(c.path("tokens").asInt()).isEqualTo(6);
            c.path("top").forEach(t -> assertThat(t.asInt()).isBetween(1, 2));
        }
        assertThat(r.path("completionNUsage").path("completion_tokens").asInt()).isEqualTo(12);
        assertThat(r.path("chatLogprobs")).hasSize(4);
        r.path("chatLogprobs").forEach(e -> {
            assertThat(e.path("top").asInt()).isEqualTo(3);
            assertThat(e.path("logprob").asDouble()).isLessThanOrEqualTo(0);
        });
        String greedy = r.path("greedy").asText();
        String stop = r.path("stop").path("stop").asText();
        assertThat(r.path("stop").path("text").asText()).isEqualTo(greedy.substring(0, greedy.indexOf(stop)));
        assertThat(r.path("stop").path("finish").asText()).isEqualTo("stop");
        JsonNode errors = r.path("errors");
        assertThat(errors.path("unknownModel").path("status").asInt()).isEqualTo(404);
        assertThat(errors.path("unknownModel").path("code").asText()).isEqualTo("model_not_found");
        assertThat(errors.path("badTemperature").path("status").asInt()).isEqualTo(400);
        assertThat(errors.path("tooLong").path("status").asInt()).isEqualTo(400);
        assertThat(errors.path("badKey").path("status").asInt()).isEqualTo(401);
    }

    @Test
    @Order(5)
    void requestsSharingALongPrefixLandOnOneReplicaAndHitItsPrefixCache() {
        String system = "You are a careful assistant for the Boundless platform. Answer in one short sentence, cite the runbook "
                + "section when you can, and never invent numbers that were not measured by a benchmark in the same run.";
        List<Integer> cached = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            ChatRequest req = ChatRequest.newBuilder().setModel("default-random")
                    .addMessages(ChatMessage.newBuilder().setRole("system").setContent(system))
                    .addMessages(ChatMessage.newBuilder().setRole("user").setContent("Question number " + i + ": what is a KV block?"))
                    .setSampling(Sampling.newBuilder().setMaxTokens(2)).build();
            ChatResponse last = null;
            for (var it = router.withDeadlineAfter(60, TimeUnit.SECONDS).chat(req); it.hasNext(); ) {
                last = it.next();
            }
            cached.add(last.getUsage().getCachedPromptTokens());
        }
        assertThat(cached.getFirst()).isZero();
        // the system prompt's full blocks (16 tokens each) come from the cache every time after the first
        cached.subList(1, cached.size()).forEach(c -> assertThat(c).isGreaterThanOrEqualTo(64));
    }

    @Test
    @Order(6)
    void aClientCancelReachesInferenceAndFreesItsBlocks() throws Exception {
        var replicas = List.of(GRPC + 2, GRPC + 3).stream()
                .map(platform::channel).toList();  // replicas: mutual TLS
        try {
            io.grpc.Context.CancellableContext ctx = io.grpc.Context.current().withCancellation();
            AtomicInteger first = new AtomicInteger();
            CompletableFuture<Result> f = ctx.call(() -> {
                ChatRequest story = chat("A story that will be cancelled", 2000);
                return stream(ChatRequest.newBuilder(story).setSampling(Sampling.newBuilder(story.getSampling()).setIgnoreEos(true)).build(), first);
            });
            await().atMost(Duration.ofSeconds(60)).until(() -> first.get() == 1);
            assertThat(running(replicas)).isEqualTo(1);
            ctx.cancel(null);
            assertThat(f.get(30, TimeUnit.SECONDS).error().getCode()).isEqualTo(Status.Code.CANCELLED);
            // the router cancelled its inference call: the sequence is gone and its KV blocks are free
            await().atMost(Duration.ofSeconds(10)).until(() -> running(replicas) == 0);
            for (ManagedChannel c : replicas) {
                var info = io.boundless.proto.inference.v1.InferenceGrpc.newBlockingStub(c)
                        .getModelInfo(io.boundless.proto.inference.v1.GetModelInfoRequest.getDefaultInstance());
                await().atMost(Duration.ofSeconds(10)).until(() -> io.boundless.proto.inference.v1.InferenceGrpc.newBlockingStub(c)
                        .getLoad(io.boundless.proto.inference.v1.GetLoadRequest.getDefaultInstance()).getFreeKvBlocks() == info.getKvBlocks());
            }
        } finally {
            replicas.forEach(ManagedChannel::shutdownNow);
        }
    }

    private static int running(List<ManagedChannel> replicas) {
        int n = 0;
        for (ManagedChannel c : replicas) {
            var load = io.boundless.proto.inference.v1.InferenceGrpc.newBlockingStub(c)
                    .getLoad(io.boundless.proto.inference.v1.GetLoadRequest.getDefaultInstance());
            n += load.getRunning() + load.getQueueDepth();
        }
        return n;
    }

    @Test
    @Order(7)
    void aKeyOverItsRateLimitGets429WithRetryAfter() throws Exception {
        // the burst key's bucket is full: its first BURST requests pass; after them, a request is limited unless the
        // bucket refilled a token meanwhile (RATE per second), so the first 429 comes by request BURST + 1 + RATE × elapsed
        long t0 = System.nanoTime();
        int sent = 0;
        String retryAfter = null;
        while (retryAfter == null) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HTTP + "/v1/models"))
                    .header("Authorization", "Bearer " + BURST_KEY).build(), HttpResponse.BodyHandlers.ofString());
            sent++;
            double elapsed = (System.nanoTime() - t0) / 1e9;
            if (r.statusCode() == 429) {
                retryAfter = r.headers().firstValue("Retry-After").orElse("none");
                JsonNode e = json.readTree(r.body()).path("error");
                assertThat(e.path("type").asText()).isEqualTo("rate_limit_error");
                assertThat(e.path("code").asText()).isEqualTo("rate_limit_exceeded");
                assertThat(sent).as("the burst of %d passes", BURST).isGreaterThan(BURST);
            } else {
                assertThat(r.statusCode()).isEqualTo(200);
                assertThat((double) sent).as("request %d after %.1f s: over the burst and the refill, it must be limited", sent, elapsed)
                        .isLessThanOrEqualTo(BURST + 1 + Math.ceil(RATE * elapsed));
            }
        }
        assertThat(Integer.parseInt(retryAfter)).isPositive();
        // other keys have their own buckets
        assertThat(router.listModels(ListModelsRequest.getDefaultInstance()).getModelsCount()).isEqualTo(1);
    }

    @Test
    @Order(8)
    void aKilledReplicaLosesNoStreamAndEachContinuesAsAnUninterruptedRunWould() throws Exception {
        var replicaChannels = List.of(GRPC + 2, GRPC + 3).stream()
                .map(platform::channel).toList();  // replicas: mutual TLS
        // an HTTP stream first: the replica that serves it is the one killed
        String httpBody = "{\"model\": \"default-random\", \"max_tokens\": 1500, \"ignore_eos\": true, \"temperature\": 0,"
                + " \"messages\": [{\"role\": \"user\", \"content\": \"An HTTP story that a crash will not end\"}]";
        List<String> events = java.util.Collections.synchronizedList(new ArrayList<>());
        CompletableFuture<HttpResponse<Void>> sse = http.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HTTP + "/v1/chat/completions"))
                .header("Content-Type", "application/json").header("Authorization", "Bearer " + KEY)
                .POST(HttpRequest.BodyPublishers.ofString(httpBody + ", \"stream\": true}")).build(),
                HttpResponse.BodyHandlers.fromLineSubscriber(new java.util.concurrent.Flow.Subscriber<String>() {
                    @Override
                    public void onSubscribe(java.util.concurrent.Flow.Subscription s) {
                        s.request(Long.MAX_VALUE);
                    }

                    @Override
                    public void onNext(String line) {
                        if (line.startsWith("data: ")) {
                            events.add(line.substring(6));
                        }
                    }

                    @Override
                    public void onError(Throwable t) {}

                    @Override
                    public void onComplete() {}
                }));
        await().atMost(Duration.ofSeconds(60)).until(() -> events.size() >= 2);
        int victim = running(replicaChannels.subList(0, 1)) > 0 ? 1 : 2;
        String victimName = "inference-" + victim;
        double resumedBefore = routerMetric("boundless_router_resumed_samples_total");
        int streams = 6;
        List<ChatRequest> stories = new ArrayList<>();
        List<CompletableFuture<Result>> running = new ArrayList<>();
        AtomicInteger firstTokens = new AtomicInteger();
        for (int i = 0; i < streams; i++) {
            ChatRequest story = chat(i + " is the number of the long story you tell me now", 1500); // distinct first blocks: spread by load;
            // long enough to be running still when the replica is killed, on any machine; greedy, and one sampled with a seed
            Sampling.Builder sampling = Sampling.newBuilder(story.getSampling()).setIgnoreEos(true);
            if (i == streams - 1) {
                sampling.setTemperature(0.9f).setTopP(0.95f).setSeed(4242);
            }
            story = ChatRequest.newBuilder(story).setSampling(sampling).build();
            stories.add(story);
            running.add(stream(story, firstTokens));
            int started = i + 1;  // one at a time, so that each new prefix sees the others' load: 3 streams per replica
            await().atMost(Duration.ofSeconds(60)).until(() -> firstTokens.get() == started);
        }
        await().atMost(Duration.ofSeconds(60)).until(() -> firstTokens.get() == streams);
        // what the victim carries just before the kill: every stream generates 1,500 tokens, so none ends in between;
        // one of them is the HTTP stream
        int onVictim = running(replicaChannels.subList(victim - 1, victim));
        platform.kill(victimName);
        List<Result> results = new ArrayList<>();
        for (var f : running) {
            results.add(f.get(120, TimeUnit.SECONDS)); // none hangs
        }
        assertThat(results).as("no stream fails: the killed replica's streams continue on the other one").allSatisfy(r -> {
            assertThat(r.error).isNull();
            assertThat(r.tokens).isEqualTo(1500);
        });
        assertThat(onVictim).as("the streams were spread over both replicas, the HTTP one on the victim").isBetween(2, streams);
        assertThat(routerMetric("boundless_router_resumed_samples_total") - resumedBefore).as("every stream the victim carried was resumed")
                .isEqualTo(onVictim);
        // the HTTP stream ends as an uninterrupted one does: a finish reason, then [DONE], no error event
        assertThat(sse.get(60, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
        assertThat(events.getLast()).isEqualTo("[DONE]");
        assertThat(events).noneMatch(e -> e.contains("\"error\""));
        StringBuilder httpText = new StringBuilder();
        for (String e : events.subList(0, events.size() - 1)) {
            httpText.append(json.readTree(e).at("/choices/0/delta/content").asText(""));
        }
        replicaChannels.forEach(ManagedChannel::shutdownNow);

        // the same requests again, uninterrupted on the surviving replica: token for token what the resumed streams gave
        // (greedy and seeded sampling), and the same text for the HTTP stream
        CompletableFuture<HttpResponse<String>> httpAgain = http.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HTTP + "/v1/chat/completions"))
                .header("Content-Type", "application/json").header("Authorization", "Bearer " + KEY)
                .POST(HttpRequest.BodyPublishers.ofString(httpBody + "}")).build(), HttpResponse.BodyHandlers.ofString());
        List<CompletableFuture<Result>> again = stories.stream().map(story -> stream(story, new AtomicInteger())).toList();
        for (int i = 0; i < streams; i++) {
            Result r = again.get(i).get(180, TimeUnit.SECONDS);
            assertThat(r.error).isNull();
            assertThat(results.get(i).ids).as("stream %d: resumed or not, it equals the uninterrupted run", i).isEqualTo(r.ids);
        }
        HttpResponse<String> whole = httpAgain.get(180, TimeUnit.SECONDS);
        assertThat(whole.statusCode()).as(whole.body()).isEqualTo(200);
        assertThat(httpText.toString()).as("the HTTP stream's text").isEqualTo(json.readTree(whole.body()).at("/choices/0/message/content").asText());

        // new requests all succeed on the surviving replica (retried there if they first went to the dead one)
        List<CompletableFuture<Result>> after = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            after.add(stream(chat("After the crash, request " + i, 4), new AtomicInteger()));
        }
        for (var f : after) {
            Result r = f.get(60, TimeUnit.SECONDS);
            assertThat(r.error).as("a request before its first token is retried on a healthy replica").isNull();
            assertThat(r.tokens).isEqualTo(4);
        }
        assertThat(router.listModels(ListModelsRequest.getDefaultInstance()).getModels(0).getReadyReplicas()).isEqualTo(1);
        platform.restart(victimName);
        platform.awaitReady(victimName, Duration.ofMinutes(2));
        // polled once a second: the main key is under the same slow rate limit as every key (RATE)
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofSeconds(1))
                .until(() -> router.listModels(ListModelsRequest.getDefaultInstance()).getModels(0).getReadyReplicas() == 2);
    }

    /** A counter of the router's /q/metrics (summed over its labels). */
    private double routerMetric(String name) throws Exception {
        String text = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HTTP + "/q/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        double sum = 0;
        for (String line : text.split("\n")) {
            if (line.startsWith(name + " ") || line.startsWith(name + "{")) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return sum;
    }

    private record Result(int tokens, List<Integer> ids, Status error) {}

    private CompletableFuture<Result> stream(ChatRequest req, AtomicInteger firstTokens) {
        CompletableFuture<Result> done = new CompletableFuture<>();
        asyncRouter.withDeadlineAfter(180, TimeUnit.SECONDS).chat(req, new StreamObserver<>() {
            int tokens;
            final List<Integer> ids = new ArrayList<>();

            @Override
            public void onNext(ChatResponse value) {
                if (tokens == 0 && value.getTokensCount() > 0) {
                    firstTokens.incrementAndGet();
                }
                tokens += value.getTokensCount();
                value.getTokensList().forEach(t -> ids.add(t.getTokenId()));
            }

            @Override
            public void onError(Throwable t) {
                done.complete(new Result(tokens, ids, Status.fromThrowable(t)));
            }

            @Override
            public void onCompleted() {
                done.complete(new Result(tokens, ids, null));
            }
        });
        return done;
    }

    private HttpResponse<String> post(String path, String body, String key) throws Exception {
        var b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HTTP + path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).timeout(Duration.ofSeconds(60));
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private void assertError(HttpResponse<String> r, int status, String type, String messagePart) throws Exception {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        JsonNode e = json.readTree(r.body()).path("error");
        assertThat(e.path("type").asText()).as(r.body()).isEqualTo(type);
        assertThat(e.path("message").asText()).as(r.body()).contains(messagePart);
        assertThat(e.has("param")).isTrue();
        assertThat(e.has("code")).isTrue();
    }
}
