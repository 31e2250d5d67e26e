package io.boundless.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.boundless.proto.ApiKeys;
import io.boundless.router.fake.FakeBackends;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import io.boundless.proto.router.v1.AdminGrpc;
import io.boundless.proto.router.v1.SetCanaryWeightRequest;
import io.boundless.router.fake.FakeReplica;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/**
 * API keys and the per-key rate limit through the HTTP API: 401 without a key or with a wrong one, and 429 with
 * Retry-After once a key's burst is spent. The rate is slow (one request per 100 s, burst 2), so the test does not
 * depend on how fast this machine answers: the third request of a key in a row is over its limit, whenever it comes.
 */
@QuarkusTest
@TestProfile(RouterAuthTest.Keys.class)
@QuarkusTestResource(value = FakeBackends.class, restrictToAnnotatedClass = true)
class RouterAuthTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    static Path KEYS;
    static Path AUDIT;

    /** The keys: alice and bob at the default rate; carol one request at a time, dave 10 tokens a minute, ops admin. */
    static String keys(String more) {
        return "alice:" + ApiKeys.sha256("sk-alice") + "\nbob:" + ApiKeys.sha256("sk-bob") + "\ncarol:" + ApiKeys.sha256("sk-carol")
                + " rpm=6000 streams=1\ndave:" + ApiKeys.sha256("sk-dave") + " rpm=6000 tpm=10\nops:" + ApiKeys.sha256("sk-ops") + " admin rpm=6000\n" + more;
    }

    public static class Keys implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            try {
                KEYS = Files.createTempFile("router-keys", ".txt");
                AUDIT = Files.createTempFile("router-audit", ".jsonl");
                Files.writeString(KEYS, keys(""));
                KEYS.toFile().deleteOnExit();
                AUDIT.toFile().deleteOnExit();
                return Map.of("boundless.router.auth.keys-file", KEYS.toString(), "boundless.router.auth.requests-per-second", "0.01",
                        "boundless.router.auth.burst", "2", "boundless.router.auth.reload-interval", "100ms", "boundless.router.audit-log", AUDIT.toString());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    @TestHTTPResource("/")
    URL base;

    HttpResponse<String> models(String authorization) throws Exception {
        var b = HttpRequest.newBuilder(URI.create(base.toString()).resolve("v1/models")).GET();
        if (authorization != null) {
            b.header("Authorization", authorization);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> complete(String authorization, String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(base.toString()).resolve("v1/completions")).header("Authorization", authorization)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode error(HttpResponse<String> r) throws Exception {
        return JSON.readTree(r.body()).get("error");
    }

    @Test
    void keysAndRateLimits() throws Exception {
        var none = models(null);
        assertThat(none.statusCode()).isEqualTo(401);
        assertThat(error(none).get("message").asText()).isEqualTo("an API key is required: send 'Authorization: Bearer <key>'");
        assertThat(error(none).get("code").asText()).isEqualTo("invalid_api_key");
        var wrong = models("Bearer sk-mallory");
        assertThat(wrong.statusCode()).isEqualTo(401);
        assertThat(error(wrong).get("message").asText()).isEqualTo("the API key is not valid");

        assertThat(models("Bearer sk-alice").statusCode()).isEqualTo(200);
        assertThat(models("sk-alice").statusCode()).as("the bare key works too").isEqualTo(200);
        var over = models("Bearer sk-alice");
        assertThat(over.statusCode()).isEqualTo(429);
        assertThat(Long.parseLong(over.headers().firstValue("Retry-After").orElseThrow())).isBetween(1L, 100L);
        assertThat(error(over).get("message").asText()).startsWith("rate limit of 0.01 requests/s (burst 2) reached for key 'alice'; retry in ");
        assertThat(error(over).get("type").asText()).isEqualTo("rate_limit_error");
        // each key has its own bucket
        assertThat(models("Bearer sk-bob").statusCode()).isEqualTo(200);
    }

    @Test
    void aKeyHasItsOwnLimitOfConcurrentRequests() throws Exception {
        FakeBackends.REPLICAS.forEach(r -> r.mode = FakeReplica.Mode.HANG);
        try {
            var hanging = HTTP.sendAsync(HttpRequest.newBuilder(URI.create(base.toString()).resolve("v1/completions")).header("Authorization", "Bearer sk-carol")
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"fake\",\"prompt\":\"hi\",\"max_tokens\":2}"))
                    .build(), HttpResponse.BodyHandlers.ofString());
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> FakeBackends.REPLICAS.stream().mapToInt(r -> r.running.get()).sum() > 0);
            var second = complete("Bearer sk-carol", "{\"model\":\"fake\",\"prompt\":\"hi\",\"max_tokens\":2}");
            assertThat(second.statusCode()).isEqualTo(429);
            assertThat(second.headers().firstValue("Retry-After")).hasValue("1");
            assertThat(error(second).get("message").asText()).isEqualTo("key 'carol' has 1 requests in flight, its limit of concurrent requests; retry when one ends");
            FakeBackends.REPLICAS.forEach(r -> r.mode = FakeReplica.Mode.ANSWER);
            assertThat(hanging.get(30, java.util.concurrent.TimeUnit.SECONDS).statusCode()).as("the hanging request ends at its deadline").isEqualTo(504);
            assertThat(complete("Bearer sk-carol", "{\"model\":\"fake\",\"prompt\":\"hi\",\"max_tokens\":2}").statusCode()).as("its slot is free again")
                    .isEqualTo(200);
        } finally {
            FakeBackends.REPLICAS.forEach(r -> r.mode = FakeReplica.Mode.ANSWER);
        }
    }

    @Test
    void aKeyOverItsTokensPerMinuteWaitsForThem() throws Exception {
        var first = complete("Bearer sk-dave", "{\"model\":\"fake\",\"prompt\":\"hello\",\"max_tokens\":12}");
        assertThat(first.statusCode()).as(first.body()).isEqualTo(200);
        long used = JSON.readTree(first.body()).get("usage").get("total_tokens").asLong();
        assertThat(used).isGreaterThan(10);
        var over = complete("Bearer sk-dave", "{\"model\":\"fake\",\"prompt\":\"hello\",\"max_tokens\":1}");
        assertThat(over.statusCode()).isEqualTo(429);
        assertThat(error(over).get("message").asText()).startsWith("token limit of 10 tokens/min reached for key 'dave' (" + (used - 10) + " tokens over); retry in ");
        long retry = Long.parseLong(over.headers().firstValue("Retry-After").orElseThrow());
        assertThat(retry).isBetween((used - 10) * 6 - 6, (used - 10) * 6 + 6);  // the debt at 10 tokens a minute
        assertThat(complete("Bearer sk-carol", "{\"model\":\"fake\",\"prompt\":\"hello\",\"max_tokens\":1}").statusCode()).as("other keys go on")
                .isNotEqualTo(429);
    }

    @Test
    void theKeysFileIsReadAgainWithoutARestartAndEveryChangeAndAdminActionIsAudited() throws Exception {
        String erin = "sk-erin-" + System.nanoTime();
        assertThat(models("Bearer " + erin).statusCode()).isEqualTo(401);
        Files.writeString(KEYS, keys("erin:" + ApiKeys.sha256(erin) + " rpm=6000\n"));
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> models("Bearer " + erin).statusCode() == 200);
        Files.writeString(KEYS, "erin:broken\n");
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> Files.readString(AUDIT).contains("refused: "));
        assertThat(models("Bearer " + erin).statusCode()).as("a broken file leaves the keys in force").isEqualTo(200);
        Files.writeString(KEYS, keys(""));
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> models("Bearer " + erin).statusCode() == 401);

        int port = org.eclipse.microprofile.config.ConfigProvider.getConfig().getValue("quarkus.grpc.server.test-port", Integer.class);
        ManagedChannel ch = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        try {
            for (String key : new String[] {"sk-ops", "sk-alice"}) {
                Metadata auth = new Metadata();
                auth.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
                var admin = AdminGrpc.newBlockingStub(ch).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(auth));
                assertThatThrownBy(() -> admin.setCanaryWeight(SetCanaryWeightRequest.newBuilder().setWeight(20).build()))
                        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> assertThat(e.getStatus().getCode())
                                .isEqualTo(key.equals("sk-ops") ? Status.Code.FAILED_PRECONDITION : Status.Code.PERMISSION_DENIED));
            }
        } finally {
            ch.shutdownNow();
        }
        List<JsonNode> entries = new java.util.ArrayList<>();
        for (String line : Files.readAllLines(AUDIT)) {
            entries.add(JSON.readTree(line));
        }
        List<JsonNode> reloads = entries.stream().filter(e -> e.get("action").asText().equals("reload-keys")).toList();
        assertThat(reloads).hasSize(3);
        assertThat(reloads.get(0).get("changes").get("added").toString()).isEqualTo("[\"erin\"]");
        assertThat(reloads.get(1).get("outcome").asText()).startsWith("refused: ").contains("line 1");
        assertThat(reloads.get(2).get("changes").get("removed").toString()).isEqualTo("[\"erin\"]");
        List<JsonNode> weights = entries.stream().filter(e -> e.get("action").asText().equals("set canary weight 20")).toList();
        assertThat(weights).hasSize(2);
        assertThat(weights.get(0).get("who").asText()).isEqualTo("ops");
        assertThat(weights.get(0).get("outcome").asText()).startsWith("FAILED_PRECONDITION: this router runs no deployment");
        assertThat(weights.get(1).get("who").asText()).isEqualTo("unauthorized");
        assertThat(weights.get(1).get("outcome").asText()).startsWith("PERMISSION_DENIED: the API key 'alice' has no admin scope");
        String all = Files.readString(AUDIT);
        for (String secret : List.of(erin, ApiKeys.sha256(erin), "sk-ops", ApiKeys.sha256("sk-ops"), "sk-alice")) {
            assertThat(all).doesNotContain(secret);
        }
    }
}
