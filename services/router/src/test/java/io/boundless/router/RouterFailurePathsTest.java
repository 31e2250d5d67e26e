package io.boundless.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.boundless.proto.router.v1.GenerateRequest;
import io.boundless.proto.router.v1.GenerateResponse;
import io.boundless.proto.router.v1.RouterGrpc;
import io.boundless.proto.router.v1.Sampling;
import io.boundless.router.fake.FakeBackends;
import io.boundless.router.fake.FakeReplica;
import io.boundless.router.fake.FakeReplica.Mode;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The router's request path against fake tokenizer and inference servers (real gRPC on loopback, {@link FakeBackends}):
 * retries before the first token and their cap, what happens after tokens, and every documented HTTP and gRPC error,
 * each made to happen and its status and message asserted.
 */
@QuarkusTest
@QuarkusTestResource(value = FakeBackends.class, restrictToAnnotatedClass = true)
class RouterFailurePathsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @Inject
    RouterLifecycle lifecycle;

    @TestHTTPResource("/")
    URL base;

    Gateway gw;

    @BeforeEach
    void allReplicasAnswer() {
        gw = lifecycle.gateway();
        FakeReplica.failNext.set(0);
        FakeReplica.failAfterTwoNext.set(0);
        FakeReplica.resumes.clear();
        FakeBackends.REPLICAS.forEach(FakeReplica::reset);
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            gw.pool.checkAll();
            return gw.pool.admitted().size() == FakeBackends.REPLICAS.size();
        });
    }

    @AfterEach
    void nothingLeftInFlight() {
        FakeBackends.REPLICAS.forEach(r -> r.mode = Mode.ANSWER);
        // every request released its admission: the whole in-flight limit can be taken again
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            java.util.concurrent.Semaphore s = inFlight();
            return s.availablePermits() == FakeBackends.MAX_IN_FLIGHT;
        });
    }

    private java.util.concurrent.Semaphore inFlight() throws ReflectiveOperationException {
        var f = Gateway.class.getDeclaredField("inFlight");
        f.setAccessible(true);
        return (java.util.concurrent.Semaphore) f.get(gw);
    }

    static int calls() {
        return FakeBackends.REPLICAS.stream().mapToInt(r -> r.calls.get()).sum();
    }

    static int cancelled() {
        return FakeBackends.REPLICAS.stream().mapToInt(r -> r.cancelled.get()).sum();
    }

    static void all(Mode m) {
        FakeBackends.REPLICAS.forEach(r -> r.mode = m);
    }

    HttpResponse<String> post(String path, String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(base.toString()).resolve(path)).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode error(HttpResponse<String> r) throws Exception {
        JsonNode e = JSON.readTree(r.body()).get("error");
        assertThat(e).as(r.body()).isNotNull();
        return e;
    }

    // ---------------------------------------------------------------- retries

    @Test
    void tokenizeAndDetokenizeHaveVllmsShapes() throws Exception {
        JsonNode t = JSON.readTree(post("tokenize", "{\"model\":\"fake\",\"prompt\":\"hi!\",\"return_token_strs\":true}").body());
        assertThat(t.get("count").asInt()).isEqualTo(3);
        assertThat(t.get("tokens")).extracting(JsonNode::asInt).containsExactly((int) 'h', (int) 'i', (int) '!');
        assertThat(t.get("token_strs")).extracting(JsonNode::asText).containsExactly("h", "i", "!");
        assertThat(t.get("max_model_len").asInt()).isEqualTo(FakeReplica.CONTEXT);
        JsonNode chat = JSON.readTree(post("tokenize", "{\"model\":\"fake\",\"messages\":[{\"role\":\"user\",\"content\":\"yo\"}]}").body());
        assertThat(chat.get("count").asInt()).isEqualTo("user: yo\n".length());  // the fake template: "role: content\n"
        assertThat(chat.get("token_strs").isNull()).isTrue();
        JsonNode d = JSON.readTree(post("detokenize", "{\"model\":\"fake\",\"tokens\":[104,105]}").body());
        assertThat(d.get("prompt").asText()).isEqualTo("hi");
        var bad = post("detokenize", "{\"model\":\"fake\",\"tokens\":[1,-2]}");
        assertThat(bad.statusCode()).isEqualTo(400);
        assertThat(error(bad).get("param").asText()).isEqualTo("tokens");
        assertThat(post("tokenize", "{\"model\":\"other\",\"prompt\":\"x\"}").statusCode()).isEqualTo(404);
        assertThat(post("tokenize", "{\"model\":\"fake\"}").statusCode()).isEqualTo(400);
    }

    @Test
    void echoPutsThePromptBeforeTheCompletionAndMaxTokensZeroScoresOnly() throws Exception {
        JsonNode r = JSON.readTree(post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"echo\":true,\"max_tokens\":3}").body());
        assertThat(r.at("/choices/0/text").asText()).isEqualTo("helloabc");  // the fake replica answers a, b, c, ...
        JsonNode only = JSON.readTree(post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"echo\":true,\"max_tokens\":0}").body());
        assertThat(only.at("/choices/0/text").asText()).isEqualTo("hello");
        assertThat(only.at("/usage/completion_tokens").asInt()).isZero();
        assertThat(only.at("/usage/prompt_tokens").asInt()).isEqualTo(5);
        String sse = post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"echo\":true,\"max_tokens\":2,\"stream\":true}").body();
        assertThat(text(events(sse), 0)).isEqualTo("helloab");
        assertThat(post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"max_tokens\":0}").statusCode()).as("0 only with echo").isEqualTo(400);
    }

    @Test
    void logitBiasReachesTheReplicaAndABadOneIsA400() throws Exception {
        var r = post("v1/chat/completions", "{\"model\":\"fake\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":3,"
                + "\"logit_bias\":{\"7\":100,\"12\":-100,\"3\":0.5}}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(FakeReplica.last.getSampling().getLogitBiasMap()).containsExactlyInAnyOrderEntriesOf(java.util.Map.of(7, 100f, 12, -100f, 3, 0.5f));
        for (String bad : new String[] {"{\"x\":1}", "{\"5\":101}", "{\"-1\":1}", "[1]", "{\"5\":\"big\"}"}) {
            var b = post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"logit_bias\":" + bad + "}");
            assertThat(b.statusCode()).as(bad).isEqualTo(400);
            assertThat(error(b).get("param").asText()).isEqualTo("logit_bias");
        }
    }

    @Test
    void aFailureBeforeTheFirstTokenIsRetriedOnAnotherReplica() throws Exception {
        double retries = gw.metrics.retries.count();
        double ejections = gw.metrics.ejections.count();
        FakeReplica.failNext.set(2);
        var r = post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"max_tokens\":3}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(JSON.readTree(r.body()).at("/choices/0/text").asText()).isEqualTo("abc");
        assertThat(calls()).isEqualTo(3);
        assertThat(FakeBackends.REPLICAS.stream().filter(x -> x.calls.get() > 0).count()).as("three different replicas").isEqualTo(3);
        assertThat(gw.metrics.retries.count() - retries).isEqualTo(2);
        assertThat(gw.metrics.ejections.count() - ejections).isEqualTo(2);
    }

    @Test
    void retriesStopAtTheAttemptCap() throws Exception {
        double retries = gw.metrics.retries.count();
        FakeReplica.failNext.set(100);
        var r = post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\"}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(503);
        assertThat(error(r).get("message").asText()).contains("no inference replica of model 'fake' is available (4 configured, 3 tried",
                "the last one failed with UNAVAILABLE", "fails before its first token");
        assertThat(error(r).get("type").asText()).isEqualTo("service_unavailable");
        assertThat(calls()).isEqualTo(3);
        assertThat(gw.metrics.retries.count() - retries).isEqualTo(2);
    }

    @Test
    void aFailureAfterTokensContinuesOnAnotherReplicaInOneStream() throws Exception {
        FakeReplica.failAfterTwoNext.set(1);
        var r = post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"stream\":true,\"max_tokens\":6}");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(text(events(r.body()), 0)).as("one unbroken stream").isEqualTo("abcdef");
        assertThat(r.body()).doesNotContain("\"error\"");
        assertThat(calls()).isEqualTo(2);
        assertThat(FakeReplica.resumes).singleElement().satisfies(q -> {
            assertThat(q.getResume().getGeneratedIdsList()).containsExactly((int) 'a', (int) 'b');
            assertThat(q.getResume().getSampleIndex()).isZero();
            assertThat(q.getSampling().hasSeed()).as("the router seeds every request, so a resume is exact").isTrue();
        });

        // n = 2: both samples continue, each in its own call, and the first call's seed is kept
        FakeReplica.resumes.clear();
        FakeReplica.failAfterTwoNext.set(1);
        var two = post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"n\":2,\"max_tokens\":5,\"seed\":7}");
        assertThat(two.statusCode()).as(two.body()).isEqualTo(200);
        JsonNode body = JSON.readTree(two.body());
        assertThat(body.at("/choices/0/text").asText()).isEqualTo("abcde");
        assertThat(body.at("/choices/1/text").asText()).isEqualTo("abcde");
        assertThat(body.at("/usage/completion_tokens").asInt()).isEqualTo(10);
        assertThat(FakeReplica.resumes).hasSize(2).allSatisfy(q -> {
            assertThat(q.getSampling().getSeed()).isEqualTo(7);
            assertThat(q.getResume().getSamples()).isEqualTo(2);
        });
        assertThat(FakeReplica.resumes.stream().map(q -> q.getResume().getSampleIndex())).containsExactlyInAnyOrder(0, 1);
    }

    /** A replica that stops answering mid-stream (frozen) fails its health checks; its streams then continue elsewhere, not at their deadline. */
    @Test
    void aFrozenReplicasStreamContinuesElsewhereOnceItsHealthChecksFail() throws Exception {
        FakeReplica.resumes.clear();
        all(Mode.TWO_TOKENS_THEN_HANG);
        long t0 = System.nanoTime();
        var pending = HTTP.sendAsync(HttpRequest.newBuilder(URI.create(base.toString()).resolve("v1/completions")).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"fake\",\"prompt\":\"hello\",\"max_tokens\":5}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        await().atMost(Duration.ofSeconds(10)).until(() -> FakeBackends.REPLICAS.stream().anyMatch(r -> r.running.get() > 0));
        FakeReplica frozen = FakeBackends.REPLICAS.stream().filter(r -> r.running.get() > 0).findFirst().orElseThrow();
        FakeBackends.REPLICAS.stream().filter(r -> r != frozen).forEach(r -> r.mode = Mode.ANSWER);
        frozen.healthy = false;  // its GetLoad fails from now on, as a stopped process's times out
        var r = pending.get(30, TimeUnit.SECONDS);
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(JSON.readTree(r.body()).at("/choices/0/text").asText()).isEqualTo("abcde");
        assertThat(seconds).as("well before the 3 s request timeout").isLessThan(2.5);
        assertThat(FakeReplica.resumes).singleElement().satisfies(q -> assertThat(q.getResume().getGeneratedIdsList()).containsExactly((int) 'a', (int) 'b'));
        await().atMost(Duration.ofSeconds(5)).until(() -> frozen.cancelled.get() == 1);  // the stalled call was cancelled
    }

    @Test
    void whenNoReplicaCanContinueTheTextSoFarIsSentThenTheError() throws Exception {
        all(Mode.FAIL_AFTER_TWO_TOKENS);  // every replica fails after two tokens: the stream moves on until none is left
        var r = post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"stream\":true,\"max_tokens\":20}");
        assertThat(r.statusCode()).isEqualTo(200);
        List<JsonNode> events = events(r.body());
        String text = text(events, 0);
        assertThat(text).as("2 tokens per replica, each resumed from the last").startsWith("abcdef").hasSize(2 * calls());
        JsonNode last = events.getLast();
        assertThat(last.at("/error/message").asText()).contains("tokens of sample 0 had been streamed", "crashed after two tokens",
                "the text sent so far is all there is");
        assertThat(r.body().strip()).as("the error event, then [DONE] (as vLLM ends a failed stream)").endsWith("}\n\ndata: [DONE]");

        // not streamed: nothing was sent yet, so it is a plain 503 with the same story (once the ejected replicas are back)
        allReplicasAnswer();
        all(Mode.FAIL_AFTER_TWO_TOKENS);
        var whole = post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"max_tokens\":20}");
        assertThat(whole.statusCode()).isEqualTo(503);
        assertThat(error(whole).get("message").asText()).contains("had been streamed", "the text sent so far is all there is");
    }

    @Test
    void theStickinessKeyIsTheSessionHeaderElseTheUserField() {
        assertThat(gw.stickinessKey(h -> h.equals("x-session-id") ? "s-1" : null, "alice")).isEqualTo("s-1");
        assertThat(gw.stickinessKey(h -> null, "alice")).isEqualTo("alice");
        assertThat(gw.stickinessKey(h -> "  ", null)).isNull();
        gw.stickiness("X-Conversation", false);
        try {
            assertThat(gw.stickinessKey(h -> h.equals("x-conversation") ? "c-9" : null, "alice")).isEqualTo("c-9");
            assertThat(gw.stickinessKey(h -> null, "alice")).as("the user field is not a key when the deployment says so").isNull();
        } finally {
            gw.stickiness("x-session-id", true);
        }
    }

    static String text(List<JsonNode> events, int index) {
        StringBuilder text = new StringBuilder();
        events.stream().filter(e -> e.has("choices") && e.at("/choices/0/index").asInt() == index)
                .forEach(e -> text.append(e.at("/choices/0/text").asText()));
        return text.toString();
    }

    static List<JsonNode> events(String sse) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (String line : sse.split("\n")) {
            if (line.startsWith("data: ") && !line.equals("data: [DONE]")) {
                out.add(JSON.readTree(line.substring(6)));
            }
        }
        return out;
    }

    // ---------------------------------------------------------------- capacity

    @Test
    void everyReplicaQueueFullIs429WithRetryAfter() throws Exception {
        double ejections = gw.metrics.ejections.count();
        all(Mode.QUEUE_FULL);
        var r = post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\"}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(429);
        assertThat(r.headers().firstValue("Retry-After")).hasValue("1");
        assertThat(error(r).get("message").asText()).contains("every inference replica of model 'fake' is at its queue limit", "queue is full");
        assertThat(error(r).get("code").asText()).isEqualTo("rate_limit_exceeded");
        assertThat(calls()).isEqualTo(3);
        assertThat(gw.metrics.ejections.count()).as("a full queue is no fault: nothing is ejected").isEqualTo(ejections);
    }

    @Test
    void noAdmittedReplicaIs503() throws Exception {
        FakeBackends.REPLICAS.forEach(r -> r.healthy = false);
        await().atMost(Duration.ofSeconds(10)).until(() -> gw.pool.admitted().isEmpty());
        var r = post("v1/chat/completions", "{\"model\":\"fake\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(503);
        assertThat(error(r).get("message").asText()).isEqualTo("no inference replica of model 'fake' is available (4 configured, 0 tried)");
        assertThat(calls()).isZero();
    }

    /** The in-flight limit answers 429 at once; clients that disconnect cancel their inference streams and free their places. */
    @Test
    void theInFlightLimitIs429AndADisconnectCancelsTheStream() throws Exception {
        all(Mode.HANG);
        List<Socket> clients = new ArrayList<>();
        for (int i = 0; i < FakeBackends.MAX_IN_FLIGHT; i++) {
            clients.add(rawPost("/v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"stream\":true}"));
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> calls() == FakeBackends.MAX_IN_FLIGHT);
        var r = post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\"}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(429);
        assertThat(r.headers().firstValue("Retry-After")).hasValue("1");
        assertThat(error(r).get("message").asText()).contains("model 'fake' has 4 requests in flight, its limit (boundless.router.max-in-flight)");
        for (Socket s : clients) {
            s.close();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> cancelled() == FakeBackends.MAX_IN_FLIGHT);
        await().atMost(Duration.ofSeconds(10)).until(() -> inFlight().availablePermits() == FakeBackends.MAX_IN_FLIGHT);
        all(Mode.ANSWER);
        assertThat(post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\"}").statusCode()).isEqualTo(200);
    }

    /** Batch requests may hold only half the places; interactive ones take the rest, and replicas see batch at a lower priority. */
    @Test
    void batchRequestsHoldAtMostTheirShareAndInteractiveOnesStillGetIn() throws Exception {
        all(Mode.HANG);
        List<Socket> clients = new ArrayList<>();
        for (int i = 0; i < FakeBackends.MAX_IN_FLIGHT / 2; i++) {
            clients.add(rawPost("/v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"stream\":true,\"priority\":\"batch\"}"));
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> calls() == FakeBackends.MAX_IN_FLIGHT / 2);
        assertThat(FakeReplica.last.getPriority()).as("batch runs after interactive on the replica").isEqualTo(-1);
        var r = post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"service_tier\":\"flex\"}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(429);
        assertThat(r.headers().firstValue("Retry-After")).hasValue("1");
        assertThat(error(r).get("message").asText()).contains("model 'fake' has 2 batch requests in flight, their share of its capacity");
        clients.add(rawPost("/v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"stream\":true}"));
        await().atMost(Duration.ofSeconds(10)).until(() -> calls() == FakeBackends.MAX_IN_FLIGHT / 2 + 1);
        assertThat(FakeReplica.last.getPriority()).isZero();
        var bad = post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"priority\":3}");
        assertThat(bad.statusCode()).isEqualTo(400);
        assertThat(error(bad).get("param").asText()).isEqualTo("priority");
        for (Socket c : clients) {
            c.close();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> inFlight().availablePermits() == FakeBackends.MAX_IN_FLIGHT);
        all(Mode.ANSWER);
        assertThat(post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"priority\":\"batch\"}").statusCode()).isEqualTo(200);
    }

    /** An HTTP/1.1 request on a socket of its own, left open (closing the socket is the client going away). */
    Socket rawPost(String path, String body) throws Exception {
        Socket s = new Socket(base.getHost(), base.getPort());
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        OutputStream out = s.getOutputStream();
        out.write(("POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: " + b.length + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        out.write(b);
        out.flush();
        return s;
    }

    // ---------------------------------------------------------------- deadlines

    @Test
    void aPassedDeadlineIs504AndCancelsTheInferenceCall() throws Exception {
        all(Mode.HANG);
        long t0 = System.nanoTime();
        var r = post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\"}"); // request-timeout is 3 s here
        assertThat(r.statusCode()).as(r.body()).isEqualTo(504);
        assertThat(error(r).get("type").asText()).isEqualTo("service_unavailable");
        assertThat(System.nanoTime() - t0).isGreaterThanOrEqualTo(TimeUnit.SECONDS.toNanos(3) - TimeUnit.MILLISECONDS.toNanos(100));
        assertThat(calls()).as("a deadline is no replica's fault: not retried").isEqualTo(1);
        await().atMost(Duration.ofSeconds(5)).until(() -> cancelled() == 1);
    }

    // ---------------------------------------------------------------- bad requests

    @Test
    void eachUnsupportedFieldIs400NamingIt() throws Exception {
        Map<String, String> fields = Map.of("suffix", "\"x\"", "tools", "[]", "functions", "[]", "tool_choice", "\"auto\"");
        for (var f : fields.entrySet()) {
            var r = post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"" + f.getKey() + "\":" + f.getValue() + "}");
            assertThat(r.statusCode()).as(f.getKey()).isEqualTo(400);
            assertThat(error(r).get("message").asText()).isEqualTo(f.getKey() + " is not supported by this server");
            assertThat(error(r).get("param").asText()).isEqualTo(f.getKey());
        }
        var functions = post("v1/chat/completions", "{\"model\":\"fake\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"functions\":[]}");
        assertThat(functions.statusCode()).isEqualTo(400);
        assertThat(error(functions).get("message").asText()).isEqualTo("functions and function_call are deprecated: use tools and tool_choice");
        var echo = post("v1/chat/completions", "{\"model\":\"fake\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"echo\":true}");
        assertThat(echo.statusCode()).isEqualTo(400);
        assertThat(error(echo).get("message").asText()).isEqualTo("echo is a parameter of /v1/completions");
        assertThat(post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"best_of\":1}").statusCode()).as("best_of 1 is plain sampling").isEqualTo(200);
        var fewer = post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"n\":3,\"best_of\":2}");
        assertThat(fewer.statusCode()).isEqualTo(400);
        assertThat(error(fewer).get("message").asText()).isEqualTo("best_of (2) must be at least n (3)");
        var streamed = post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"best_of\":3,\"stream\":true}");
        assertThat(streamed.statusCode()).isEqualTo(400);
        assertThat(error(streamed).get("param").asText()).isEqualTo("best_of");
        assertThat(calls()).isEqualTo(1);
    }

    @Test
    void theLimitsOnStopStringsAndSamplesAre400() throws Exception {
        String nine = "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]";
        String[][] cases = {
            {"\"stop\":" + nine, "at most 8 stop strings, not 9"},
            {"\"stop\":\"\"", "a stop string must have 1 to 256 characters, not 0"},
            {"\"stop\":\"" + "x".repeat(257) + "\"", "a stop string must have 1 to 256 characters, not 257"},
            {"\"stop\":5", "stop must be a string or an array of strings"},
            {"\"n\":17", "n must be 1 to 16, not 17"},
            {"\"n\":0", "n must be an integer from 1 up, not 0"},
            {"\"max_tokens\":0", "max_tokens must be an integer from 1 up, not 0"},
            {"\"temperature\":\"hot\"", "temperature must be a number"},
        };
        for (String[] c : cases) {
            var r = post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\"," + c[0] + "}");
            assertThat(r.statusCode()).as(c[0]).isEqualTo(400);
            assertThat(error(r).get("message").asText()).as(c[0]).isEqualTo(c[1]);
            assertThat(error(r).get("type").asText()).isEqualTo("invalid_request_error");
        }
        var eight = post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"hello\",\"n\":16,\"stop\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\"]}");
        assertThat(eight.statusCode()).as("at the limits: %s", eight.body()).isEqualTo(200);
        assertThat(JSON.readTree(eight.body()).get("choices")).hasSize(16);
        assertThat(calls()).isEqualTo(1);
    }

    @Test
    void otherDocumentedErrors() throws Exception {
        var unknown = post("v1/completions", "{\"model\":\"gpt-9\",\"prompt\":\"hello\"}");
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(error(unknown).get("code").asText()).isEqualTo("model_not_found");
        assertThat(error(unknown).get("message").asText()).isEqualTo("model 'gpt-9' is not served here; served: fake");

        var malformed = post("v1/completions", "{\"model\":");
        assertThat(malformed.statusCode()).isEqualTo(400);
        assertThat(error(malformed).get("message").asText()).startsWith("the request body is not valid JSON");

        var tooLong = post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"too-long\"}");
        assertThat(tooLong.statusCode()).isEqualTo(400);
        assertThat(error(tooLong).get("message").asText()).isEqualTo("the prompt has 5000 tokens; model 'fake' takes fewer than " + FakeReplica.CONTEXT);

        var tokenizer = post("v1/completions", "{\"model\":\"fake\",\"prompt\":\"tokenizer-fails\"}");
        assertThat(tokenizer.statusCode()).isEqualTo(503);
        assertThat(error(tokenizer).get("message").asText()).isEqualTo("the tokenizer service failed: UNAVAILABLE the fake tokenizer was told to fail");

        var noMessages = post("v1/chat/completions", "{\"model\":\"fake\",\"messages\":[]}");
        assertThat(noMessages.statusCode()).isEqualTo(400);
        assertThat(error(noMessages).get("param").asText()).isEqualTo("messages");
        assertThat(calls()).isZero();
    }

    // ---------------------------------------------------------------- gRPC

    @Test
    void theGrpcApiRetriesAndReportsTheSameErrors() throws Exception {
        int port = org.eclipse.microprofile.config.ConfigProvider.getConfig().getValue("quarkus.grpc.server.test-port", Integer.class);
        ManagedChannel ch = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        try {
            var stub = RouterGrpc.newBlockingStub(ch);
            GenerateRequest ok = GenerateRequest.newBuilder().setModel("fake").setText("hello").setSampling(Sampling.newBuilder().setMaxTokens(2)).build();
            double retries = gw.metrics.retries.count();
            FakeReplica.failNext.set(1);
            StringBuilder text = new StringBuilder();
            for (Iterator<GenerateResponse> it = stub.withDeadlineAfter(10, TimeUnit.SECONDS).generate(ok); it.hasNext(); ) {
                text.append(it.next().getText());
            }
            assertThat(text.toString()).isEqualTo("ab");
            assertThat(gw.metrics.retries.count() - retries).isEqualTo(1);

            assertThat(status(() -> stub.generate(ok.toBuilder().setModel("gpt-9").build()).next()).getCode()).isEqualTo(Status.Code.NOT_FOUND);
            Status n = status(() -> stub.generate(ok.toBuilder().setN(17).build()).next());
            assertThat(n.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(n.getDescription()).contains("n must be 1 to 16, not 17");

            all(Mode.HANG);
            int before = calls();
            Status late = status(() -> stub.withDeadlineAfter(500, TimeUnit.MILLISECONDS).generate(ok).next());
            assertThat(late.getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
            await().atMost(Duration.ofSeconds(5)).until(() -> cancelled() == 1);
            assertThat(calls() - before).isEqualTo(1);
        } finally {
            ch.shutdownNow();
        }
    }

    static Status status(Runnable call) {
        try {
            call.run();
        } catch (StatusRuntimeException e) {
            return e.getStatus();
        }
        throw new AssertionError("the call succeeded");
    }
}
