package io.boundless.router;

import static org.assertj.core.api.Assertions.assertThat;

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
import java.util.Map;
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

    public static class Keys implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            try {
                Path file = Files.createTempFile("router-keys", ".txt");
                Files.writeString(file, "alice:" + ApiKeys.sha256("sk-alice") + "\nbob:" + ApiKeys.sha256("sk-bob") + "\n");
                file.toFile().deleteOnExit();
                return Map.of("boundless.router.auth.keys-file", file.toString(), "boundless.router.auth.requests-per-second", "0.01",
                        "boundless.router.auth.burst", "2");
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
}
