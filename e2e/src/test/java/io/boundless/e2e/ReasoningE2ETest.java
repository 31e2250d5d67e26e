package io.boundless.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.boundless.cli.LocalPlatform;
import io.boundless.proto.router.v1.AnswerParser;
import io.boundless.proto.router.v1.AnswerParserKind;
import io.boundless.proto.router.v1.EarlyStopping;
import io.boundless.proto.router.v1.ReasonRequest;
import io.boundless.proto.router.v1.ReasonResponse;
import io.boundless.proto.router.v1.ReasonResult;
import io.boundless.proto.router.v1.ReasoningStage;
import io.boundless.proto.router.v1.ReasoningStrategy;
import io.boundless.proto.router.v1.RouterGrpc;
import io.boundless.proto.router.v1.Sampling;
import io.boundless.proto.router.v1.SubanswerContext;
import io.boundless.train.Corpus;
import io.boundless.train.World;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The reasoning strategies through the running platform (boundless up's processes: tokenizer, two inference replicas
 * and the router) on the trained default model, with its exemplar sets: self-consistency's paths on one replica sharing
 * the prompt's blocks, early stopping, least-to-most's answers passed forward, cancellation of every path, the errors,
 * the OpenAI extension, the metrics and {@code boundless reason}; and, on the same platform, the OpenAI API's sampling extras
 * the trained model makes checkable: best_of, logit_bias, echo with prompt log-probabilities, /tokenize and /detokenize.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ReasoningE2ETest {
    static final int GRPC = 19050;
    static final int HTTP = 18050;
    static final String MODEL = "boundless-world";
    static final AnswerParser NUMBER = AnswerParser.newBuilder().setKind(AnswerParserKind.ANSWER_PARSER_KIND_NUMBER).build();

    private final Path root = Path.of(System.getProperty("boundless.root", "..")).toAbsolutePath().normalize();
    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private LocalPlatform platform;
    private ManagedChannel channel;
    private RouterGrpc.RouterBlockingStub router;
    /** A held-out 1-step problem of the default model's evaluation set, asked step by step. */
    private String problem;

    @BeforeAll
    void start() throws Exception {
        Path work = root.resolve("e2e/target/reasoning-e2e");
        Files.createDirectories(work);
        platform = new LocalPlatform(new LocalPlatform.Options(root, work, root.resolve("models/boundless-world"), 2, GRPC, HTTP, Map.of(
                "BOUNDLESS_ROUTER_HEALTH_INTERVAL", "500ms"), Map.of(), Map.of()));
        platform.start(Duration.ofMinutes(4));
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", GRPC).usePlaintext().build();
        router = RouterGrpc.newBlockingStub(channel);
        problem = new Corpus(World.standard(), Corpus.Mix.standard()).evaluation(5, 7).stream().filter(p -> p.set().equals("arithmetic-cot") && p.size() == 1)
                .findFirst().orElseThrow().question();
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

    record Reasoned(List<ReasonResponse> events, ReasonResult result) {
        List<ReasoningStage> stages() {
            return events.stream().filter(ReasonResponse::hasStage).map(ReasonResponse::getStage).toList();
        }
    }

    Reasoned reason(ReasonRequest.Builder r) {
        List<ReasonResponse> events = new ArrayList<>();
        router.withDeadlineAfter(3, TimeUnit.MINUTES).reason(r.setModel(MODEL).build()).forEachRemaining(events::add);
        assertThat(events.getLast().hasResult()).isTrue();
        return new Reasoned(events, events.getLast().getResult());
    }

    static ReasonRequest.Builder sc(String question, int n) {
        return ReasonRequest.newBuilder().setQuestion(question).setStrategy(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY).setN(n).setParser(NUMBER);
    }

    /** A metric of one process's /q/metrics, summed over its labels (label filter: a substring the line must hold). */
    double metric(int httpPort, String name, String labels) throws Exception {
        String text = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + "/q/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        double sum = 0;
        for (String line : text.split("\n")) {
            if ((line.startsWith(name + " ") || line.startsWith(name + "{")) && (labels == null || line.contains(labels))) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return sum;
    }

    double[] perReplica(String name) throws Exception {
        return new double[] {metric(HTTP + 2, name, null), metric(HTTP + 3, name, null)};
    }

    @Test
    @Order(1)
    void selfConsistencyPathsRunOnOneReplicaAndShareThePromptsBlocks() throws Exception {
        double[] promptBefore = perReplica("boundless_prompt_tokens_total");
        double[] cachedBefore = perReplica("boundless_prompt_cached_tokens_total");
        double[] generatedBefore = perReplica("boundless_generated_tokens_total");
        // 12 paths in generations of 4: each generation's 4 samples share the prompt's blocks; the 2nd and 3rd find the
        // prompt's full blocks in the prefix cache of the same replica
        Reasoned r = reason(sc(problem, 12).setParallel(4).setSampling(Sampling.newBuilder().setSeed(11)));
        ReasonResult res = r.result();
        assertThat(res.getPathsCount()).isEqualTo(12);
        assertThat(res.getSamplesDrawn()).isEqualTo(12);
        assertThat(r.events().stream().filter(ReasonResponse::hasPath).count()).isEqualTo(12);  // each path streamed as it ended
        assertThat(res.getAnswer()).isNotEmpty().isEqualTo(res.getVotes(0).getAnswer());
        assertThat(res.getConfidence()).isEqualTo(res.getVotes(0).getShare());
        int prompt = res.getUsage().getPromptTokens() / 3;
        assertThat(res.getUsage().getPromptTokens()).isEqualTo(3 * prompt);  // three generations of one prompt, not 12 prompts
        assertThat(res.getUsage().getCachedPromptTokens()).isEqualTo(2 * (prompt / 16 * 16));  // the 2nd and 3rd: every full block

        double[] prompts = delta(perReplica("boundless_prompt_tokens_total"), promptBefore);
        double[] cached = delta(perReplica("boundless_prompt_cached_tokens_total"), cachedBefore);
        double[] generated = delta(perReplica("boundless_generated_tokens_total"), generatedBefore);
        int one = prompts[0] > 0 ? 0 : 1;
        assertThat(prompts[one]).isEqualTo(3.0 * prompt);   // the replica counted 3 prompts for 12 paths
        assertThat(prompts[1 - one]).isZero();              // and the other replica saw none of it
        assertThat(cached[one]).isEqualTo(res.getUsage().getCachedPromptTokens());
        assertThat(cached[1 - one]).isZero();
        assertThat(generated[one]).isEqualTo(res.getUsage().getCompletionTokens());
        assertThat(metric(HTTP, "boundless_router_reasoning_cached_prompt_tokens_total", "self_consistency")).isGreaterThanOrEqualTo(cached[one]);
    }

    static double[] delta(double[] after, double[] before) {
        return new double[] {after[0] - before[0], after[1] - before[1]};
    }

    @Test
    @Order(2)
    void earlyStoppingStopsWhenTheLeaderIsDecided() throws Exception {
        double savedBefore = metric(HTTP, "boundless_router_reasoning_samples_saved_total", null);
        // nearly greedy: every path is the same, so after 5 of 9 the 4 left cannot tie the leader
        Reasoned r = reason(sc(problem, 9).setParallel(1).setSampling(Sampling.newBuilder().setTemperature(0.01f).setSeed(3))
                .setEarlyStopping(EarlyStopping.newBuilder().setWhenDecided(true)));
        ReasonResult res = r.result();
        assertThat(res.getVotesCount()).isEqualTo(1);
        assertThat(res.getSamplesDrawn()).isEqualTo(5);
        assertThat(res.getSamplesSaved()).isEqualTo(4);
        assertThat(res.getStoppedBecause()).startsWith("decided: \"" + res.getAnswer() + "\"");
        assertThat(res.getConfidence()).isEqualTo(1.0);
        assertThat(metric(HTTP, "boundless_router_reasoning_samples_saved_total", null) - savedBefore).isEqualTo(4);
        assertThat(metric(HTTP, "boundless_router_reasoning_confidence_count", null)).isGreaterThanOrEqualTo(2);
    }

    @Test
    @Order(3)
    void leastToMostPassesEachAnswerToTheNextSubquestion() {
        String first = "Mia has 12 shells. She finds 5 more. How many shells does Mia have now?";
        String second = "Mia has {1} shells. She gives away 3. How many shells does Mia have now?";
        Reasoned r = reason(ReasonRequest.newBuilder().setQuestion("Mia has 12 shells. She finds 5 more and then gives away 3. How many shells does Mia have now?")
                .setStrategy(ReasoningStrategy.REASONING_STRATEGY_LEAST_TO_MOST).setParser(NUMBER).addSubquestions(first).addSubquestions(second)
                .setTrigger("Let's think step by step.").setSubanswerContext(SubanswerContext.SUBANSWER_CONTEXT_PLACEHOLDERS));
        List<ReasoningStage> stages = r.stages();
        assertThat(stages).hasSize(2);
        String a1 = stages.get(0).getAnswer();
        assertThat(a1).matches("\\d+");
        assertThat(stages.get(0).getText()).contains("The answer is " + a1);
        // the model's own first answer (right or wrong) is what the second sub-question is asked with
        assertThat(stages.get(1).getQuestion()).isEqualTo("Mia has " + a1 + " shells. She gives away 3. How many shells does Mia have now? Let's think step by step.");
        assertThat(stages.get(1).getText()).startsWith("Mia starts with " + a1 + ".");
        assertThat(r.result().getSubanswersList()).containsExactly(a1, stages.get(1).getAnswer());
        assertThat(r.result().getAnswer()).isEqualTo(stages.get(1).getAnswer());
    }

    @Test
    @Order(4)
    void zeroShotAndFewShotRunTheirStages() {
        Reasoned z = reason(ReasonRequest.newBuilder().setQuestion("Anna has 9 coins. She loses 4. How many coins does Anna have now?")
                .setStrategy(ReasoningStrategy.REASONING_STRATEGY_ZERO_SHOT_COT).setParser(NUMBER));
        assertThat(z.stages().getFirst().getQuestion()).endsWith("Let's think step by step.");
        assertThat(z.stages().getFirst().getText()).startsWith("Anna starts with");
        assertThat(z.result().getAnswer()).matches("\\d+");
        Reasoned f = reason(ReasonRequest.newBuilder().setQuestion("Anna has 9 coins. She loses 4. How many coins does Anna have now?")
                .setStrategy(ReasoningStrategy.REASONING_STRATEGY_FEW_SHOT_COT).setExemplarSet("arithmetic"));
        // the set's three worked examples are in the prompt: it is much longer than the question alone
        assertThat(f.stages().getFirst().getUsage().getPromptTokens()).isGreaterThan(3 * z.stages().getFirst().getUsage().getPromptTokens());
        assertThat(f.result().getStrategy()).isEqualTo(ReasoningStrategy.REASONING_STRATEGY_FEW_SHOT_COT);
    }

    @Test
    @Order(5)
    void cancellingTheCallEndsEveryPathOnTheReplicas() throws Exception {
        // 16 paths that would each run for 1500 tokens (ignore_eos): the call is cancelled once they run
        CompletableFuture<Status> ended = new CompletableFuture<>();
        List<ReasonResponse> got = new CopyOnWriteArrayList<>();
        ClientCallStreamObserver<?>[] call = new ClientCallStreamObserver<?>[1];
        RouterGrpc.newStub(channel).withDeadlineAfter(3, TimeUnit.MINUTES).reason(sc(problem, 16).setSampling(Sampling.newBuilder().setIgnoreEos(true)
                .setMaxTokens(1500)).setModel(MODEL).build(), new ClientResponseObserver<ReasonRequest, ReasonResponse>() {
                    @Override
                    public void beforeStart(ClientCallStreamObserver<ReasonRequest> c) {
                        call[0] = c;
                    }

                    @Override
                    public void onNext(ReasonResponse value) {
                        got.add(value);
                    }

                    @Override
                    public void onError(Throwable t) {
                        ended.complete(Status.fromThrowable(t));
                    }

                    @Override
                    public void onCompleted() {
                        ended.complete(Status.OK);
                    }
                });
        await().atMost(Duration.ofSeconds(60)).until(() -> perReplica("boundless_requests_running")[0] + perReplica("boundless_requests_running")[1] >= 16);
        double cancelledBefore = metric(HTTP, "boundless_router_reasoning_requests_total", "outcome=\"cancelled\"");
        call[0].cancel("the client gave up", null);
        assertThat(ended.get(30, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.CANCELLED);
        await().atMost(Duration.ofSeconds(15)).until(() -> perReplica("boundless_requests_running")[0] + perReplica("boundless_requests_running")[1] == 0);
        await().atMost(Duration.ofSeconds(15)).until(() -> metric(HTTP, "boundless_router_reasoning_requests_total", "outcome=\"cancelled\"") == cancelledBefore + 1);
        assertThat(got).noneMatch(ReasonResponse::hasResult);
    }

    @Test
    @Order(6)
    void badRequestsAreRefusedWithTheReason() {
        assertThatThrownBy(() -> reason(ReasonRequest.newBuilder().setQuestion(problem).setStrategy(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY)))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                    assertThat(e.getStatus().getDescription()).contains("needs an answer parser");
                });
        assertThatThrownBy(() -> reason(sc(problem, 65))).hasMessageContaining("INVALID_ARGUMENT: n must be 1 to 64");
        assertThatThrownBy(() -> reason(sc(problem, 64).setSampling(Sampling.newBuilder().setMaxTokens(4096)))).hasMessageContaining("over the budget of 65536");
        assertThatThrownBy(() -> reason(sc(problem, 4).setExemplarSet("gsm8k"))).hasMessageContaining("NOT_FOUND: exemplar set 'gsm8k' is not known to this router;"
                + " known: arithmetic, last-letters");
        assertThatThrownBy(() -> router.reason(ReasonRequest.newBuilder().setModel("other").setQuestion("q").build()).hasNext())
                .hasMessageContaining("NOT_FOUND: model 'other'");
        assertThatThrownBy(() -> reason(ReasonRequest.newBuilder().setQuestion("q").setStrategy(ReasoningStrategy.REASONING_STRATEGY_LEAST_TO_MOST)
                .addSubquestions("uses {1} too early"))).hasMessageContaining("subquestions[0] refers to {1}");
    }

    @Test
    @Order(7)
    void theOpenAiApiTakesTheExtensionField() throws Exception {
        String body = json.writeValueAsString(Map.of("model", MODEL, "messages", List.of(Map.of("role", "user", "content", problem)),
                "boundless_reasoning", Map.of("strategy", "self_consistency", "n", 6, "parser", "number")));
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HTTP + "/v1/chat/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode j = json.readTree(r.body());
        JsonNode ext = j.get("boundless_reasoning");
        assertThat(j.at("/choices/0/message/content").asText()).isEqualTo(ext.get("answer").asText()).isEqualTo(ext.at("/votes/0/answer").asText());
        assertThat(ext.get("paths")).hasSize(6);
        assertThat(ext.get("samples_drawn").asInt()).isEqualTo(6);
        assertThat(j.at("/usage/completion_tokens").asInt()).isPositive();
        // without the field a chat completion is as before: no extension object
        String plain = json.writeValueAsString(Map.of("model", MODEL, "messages", List.of(Map.of("role", "user", "content", "Hello!")), "max_tokens", 8));
        JsonNode p = json.readTree(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HTTP + "/v1/chat/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(plain)).build(), HttpResponse.BodyHandlers.ofString()).body());
        assertThat(p.has("boundless_reasoning")).isFalse();
        // streamed: each path as an event without choices, then the answer as content, then [DONE]
        String streamed = json.writeValueAsString(Map.of("model", MODEL, "stream", true, "messages", List.of(Map.of("role", "user", "content", problem)),
                "boundless_reasoning", Map.of("strategy", "self_consistency", "n", 3, "parser", Map.of("kind", "number"))));
        String sse = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HTTP + "/v1/chat/completions")).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(streamed)).build(), HttpResponse.BodyHandlers.ofString()).body();
        List<JsonNode> events = new ArrayList<>();
        for (String line : sse.split("\n")) {
            if (line.startsWith("data: {")) {
                events.add(json.readTree(line.substring(6)));
            }
        }
        assertThat(sse.strip()).endsWith("data: [DONE]");
        assertThat(events.stream().filter(e -> e.at("/boundless_reasoning/path").isObject()).count()).isEqualTo(3);
        JsonNode last = events.getLast();
        assertThat(last.at("/choices/0/finish_reason").asText()).isEqualTo("stop");
        assertThat(events.get(events.size() - 2).at("/choices/0/delta/content").asText()).isEqualTo(last.at("/boundless_reasoning/answer").asText());
        // a bad field is a 400 that names it
        String bad = json.writeValueAsString(Map.of("model", MODEL, "messages", List.of(Map.of("role", "user", "content", problem)),
                "boundless_reasoning", Map.of("strategy", "tree_of_thought")));
        HttpResponse<String> b = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HTTP + "/v1/chat/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(bad)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(b.statusCode()).isEqualTo(400);
        assertThat(json.readTree(b.body()).at("/error/param").asText()).isEqualTo("boundless_reasoning.strategy");
    }

    @Test
    @Order(8)
    void bestOfReturnsTheMostProbableSamplesAndLogitBiasSteersTheModel() throws Exception {
        String body = json.writeValueAsString(Map.of("model", MODEL, "prompt", "<|user|>" + problem + "<|end|><|assistant|>", "n", 3, "best_of", 6,
                "temperature", 1.0, "max_tokens", 24, "logprobs", 0, "seed", 5));
        JsonNode j = json.readTree(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HTTP + "/v1/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString()).body());
        assertThat(j.get("choices")).hasSize(3);
        double previous = Double.POSITIVE_INFINITY;
        int returned = 0;
        for (JsonNode c : j.get("choices")) {
            double sum = 0;
            for (JsonNode lp : c.at("/logprobs/token_logprobs")) {
                sum += lp.asDouble();
            }
            int tokens = c.at("/logprobs/token_logprobs").size();
            returned += tokens;
            assertThat(sum / tokens).as("best first").isLessThanOrEqualTo(previous);
            previous = sum / tokens;
        }
        assertThat(j.at("/usage/completion_tokens").asInt()).as("all 6 samples are generated and counted").isGreaterThan(returned);
        // logit_bias: +100 on the first token the model would say forces it at every step
        JsonNode first = json.readTree(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HTTP + "/tokenize"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(json.writeValueAsString(Map.of("model", MODEL,
                        "prompt", " Rome", "add_special_tokens", false)))).build(), HttpResponse.BodyHandlers.ofString()).body());
        int rome = first.at("/tokens/0").asInt();
        String biased = json.writeValueAsString(Map.of("model", MODEL, "prompt", "The capital of France is", "max_tokens", 4, "temperature", 0,
                "ignore_eos", true, "logit_bias", Map.of(String.valueOf(rome), 100)));
        JsonNode b = json.readTree(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HTTP + "/v1/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(biased)).build(), HttpResponse.BodyHandlers.ofString()).body());
        JsonNode d = json.readTree(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HTTP + "/detokenize"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(json.writeValueAsString(Map.of("model", MODEL,
                        "tokens", List.of(rome, rome, rome, rome))))).build(), HttpResponse.BodyHandlers.ofString()).body());
        assertThat(b.at("/choices/0/text").asText()).isEqualTo(d.get("prompt").asText());
    }

    @Test
    @Order(9)
    void echoWithLogprobsScoresThePromptAsGenerationWouldHaveSampledIt() throws Exception {
        // the greedy next token after the prompt, and its log-probability as generation reports it
        JsonNode g = post("/v1/completions", Map.of("model", MODEL, "prompt", "The capital of France is", "max_tokens", 1, "temperature", 0, "logprobs", 1));
        String next = g.at("/choices/0/logprobs/tokens/0").asText();
        double generated = g.at("/choices/0/logprobs/token_logprobs/0").asDouble();
        // the prompt with that token, echoed and scored (max_tokens 0: nothing generated)
        JsonNode e = post("/v1/completions", Map.of("model", MODEL, "prompt", "The capital of France is" + next, "max_tokens", 0, "echo", true, "logprobs", 2));
        JsonNode lp = e.at("/choices/0/logprobs");
        assertThat(e.at("/choices/0/text").asText()).isEqualTo("The capital of France is" + next);
        assertThat(lp.at("/token_logprobs/0").isNull()).isTrue();
        assertThat(lp.at("/top_logprobs/0").isNull()).isTrue();
        int last = lp.get("tokens").size() - 1;
        assertThat(lp.at("/tokens/" + last).asText()).isEqualTo(next);
        assertThat(lp.at("/token_logprobs/" + last).asDouble()).isCloseTo(generated, org.assertj.core.data.Offset.offset(1e-3));
        assertThat(lp.at("/top_logprobs/" + last).size()).isEqualTo(2);
        assertThat(e.at("/usage/completion_tokens").asInt()).isZero();
        // echo before a generation: the prompt, then the completion
        JsonNode both = post("/v1/completions", Map.of("model", MODEL, "prompt", "The capital of France is", "max_tokens", 1, "temperature", 0, "echo", true));
        assertThat(both.at("/choices/0/text").asText()).isEqualTo("The capital of France is" + next);
    }

    JsonNode post(String path, Map<String, Object> body) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HTTP + path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json.writeValueAsString(body))).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return json.readTree(r.body());
    }

    @Test
    @Order(10)
    void boundlessReasonPrintsTheAnswerWithItsVotes() throws Exception {
        ProcessBuilder pb = new ProcessBuilder("bash", root.resolve("bin/boundless").toString(), "reason", "--strategy", "self_consistency", "-n", "20", problem)
                .redirectErrorStream(true).directory(root.toFile());
        pb.environment().put("BOUNDLESS_ROUTER", "127.0.0.1:" + GRPC);
        pb.environment().put("JAVA_HOME", Path.of(ProcessHandle.current().info().command().orElseThrow()).getParent().getParent().toString());
        Process p = pb.start();
        List<String> lines = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                lines.add(line);
            }
        }
        assertThat(p.waitFor(2, TimeUnit.MINUTES)).isTrue();
        String out = String.join("\n", lines);
        assertThat(p.exitValue()).as(out).isZero();
        assertThat(lines.stream().filter(l -> l.startsWith("path ")).count()).isEqualTo(20);
        assertThat(out).containsPattern("answer: \\d+\\nconfidence \\d+% \\(\\d+ of \\d+ votes\\)");
        assertThat(out).containsPattern("\\n  \\d+ +█+░* +\\d+ +\\d+\\.\\d%");
        assertThat(out).contains("[20 paths drawn, 0 saved by early stopping;");
    }
}
