package io.boundless.router.auth;

import io.boundless.proto.ApiKeys;
import io.boundless.proto.ApiKeysFile;
import io.boundless.proto.AuditLog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AuthTest {

    @Test
    void keysAreCheckedAgainstTheirHashes(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("keys");
        Files.writeString(file, "# team keys\nalice:" + ApiKeys.sha256("sk-alice-1") + "\n\nbob:" + ApiKeys.sha256("sk-bob-2").toUpperCase() + "\n");
        ApiKeys keys = ApiKeys.load(file);
        assertThat(keys.nameOf("sk-alice-1")).isEqualTo("alice");
        assertThat(keys.nameOf("sk-bob-2")).isEqualTo("bob");
        assertThat(keys.nameOf("sk-alice-2")).isNull();
        assertThat(Files.readString(file)).doesNotContain("sk-alice-1");
    }

    @Test
    void aKeyHasTheScopesItsLineNamesAndInferenceWithoutThem(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("keys");
        Files.writeString(file, "alice:" + ApiKeys.sha256("a") + "\nops:" + ApiKeys.sha256("o") + "  admin,inference\nbot:" + ApiKeys.sha256("b")
                + " admin\n");
        ApiKeys keys = ApiKeys.load(file);
        assertThat(keys.scopesOf("a")).containsExactly("inference");
        assertThat(keys.scopesOf("o")).containsExactlyInAnyOrder("admin", "inference");
        assertThat(keys.scopesOf("b")).containsExactly("admin");
        assertThat(keys.scopesOf("nope")).isEmpty();
        Files.writeString(file, "alice:" + ApiKeys.sha256("a") + " root\n");
        assertThatThrownBy(() -> ApiKeys.load(file)).hasMessageContaining("line 1").hasMessageContaining("inference or admin, not 'root'");
    }

    @Test
    void aMalformedLineIsAClearError(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("keys");
        Files.writeString(file, "alice:not-a-hash\n");
        assertThatThrownBy(() -> ApiKeys.load(file)).hasMessageContaining("line 1").hasMessageContaining("sha256");
    }

    @Test
    void requestsHaveABurstThenTheRate() {
        AtomicLong now = new AtomicLong(0);
        Quotas q = new Quotas(new Quotas.Defaults(2, 3, 0, 0), now::get);
        for (int i = 0; i < 3; i++) {
            q.takeRequest("k", ApiKeys.Limits.DEFAULT);
        }
        assertThatThrownBy(() -> q.takeRequest("k", ApiKeys.Limits.DEFAULT)).isInstanceOfSatisfying(Quotas.Exceeded.class,
                e -> assertThat(e.retryAfterSeconds).isEqualTo(1));  // empty: a request in 0.5 s, reported as 1 s
        q.takeRequest("other", ApiKeys.Limits.DEFAULT);              // buckets are per key
        now.addAndGet(500_000_000L);
        q.takeRequest("k", ApiKeys.Limits.DEFAULT);
        assertThatThrownBy(() -> q.takeRequest("k", ApiKeys.Limits.DEFAULT)).isInstanceOf(Quotas.Exceeded.class);
        now.addAndGet(10_000_000_000L);                              // idle: refills to the burst, no more
        for (int i = 0; i < 3; i++) {
            q.takeRequest("k", ApiKeys.Limits.DEFAULT);
        }
        assertThatThrownBy(() -> q.takeRequest("k", ApiKeys.Limits.DEFAULT)).isInstanceOf(Quotas.Exceeded.class);
    }

    @Test
    void aKeysOwnRequestsPerMinuteReplaceTheDefault() {
        AtomicLong now = new AtomicLong(0);
        Quotas q = new Quotas(new Quotas.Defaults(0, 2, 0, 0), now::get);  // no default limit
        var sixPerMinute = new ApiKeys.Limits(6, -1, -1);
        q.takeRequest("slow", sixPerMinute);
        q.takeRequest("slow", sixPerMinute);
        assertThatThrownBy(() -> q.takeRequest("slow", sixPerMinute)).isInstanceOfSatisfying(Quotas.Exceeded.class, e -> {
            assertThat(e.retryAfterSeconds).isEqualTo(10);
            assertThat(e.getMessage()).startsWith("rate limit of 6 requests/min (burst 2) reached for key 'slow'; retry in 10 s");
        });
        for (int i = 0; i < 100; i++) {
            q.takeRequest("free", ApiKeys.Limits.DEFAULT);
        }
        now.addAndGet(10_000_000_000L);
        q.takeRequest("slow", sixPerMinute);
    }

    @Test
    void tokensAreChargedWhenARequestEndsAndADebtWaitsForTheRate() {
        AtomicLong now = new AtomicLong(0);
        Quotas q = new Quotas(new Quotas.Defaults(0, 10, 600, 0), now::get);  // 600 tokens/min: 10 per second
        q.admit("k", ApiKeys.Limits.DEFAULT).release(500);
        var second = q.admit("k", ApiKeys.Limits.DEFAULT);                  // 100 left: admitted, then over
        second.release(250);
        second.release(250);                                                 // once only
        assertThatThrownBy(() -> q.admit("k", ApiKeys.Limits.DEFAULT)).isInstanceOfSatisfying(Quotas.Exceeded.class, e -> {
            assertThat(e.retryAfterSeconds).isEqualTo(16);                   // 150 over, +1, at 10/s
            assertThat(e.getMessage()).contains("token limit of 600 tokens/min reached for key 'k' (150 tokens over)");
        });
        q.admit("other", ApiKeys.Limits.DEFAULT).release(0);
        now.addAndGet(15_000_000_000L);
        assertThatThrownBy(() -> q.admit("k", ApiKeys.Limits.DEFAULT)).isInstanceOf(Quotas.Exceeded.class);
        now.addAndGet(1_000_000_000L);
        q.admit("k", ApiKeys.Limits.DEFAULT).release(1);
        q.admit("unlimited", new ApiKeys.Limits(-1, 0, -1)).release(1_000_000);  // a key's tpm=0: no limit
        q.admit("unlimited", new ApiKeys.Limits(-1, 0, -1)).release(0);
    }

    @Test
    void concurrentRequestsAreCountedPerKeyAndFreedOnce() {
        Quotas q = new Quotas(new Quotas.Defaults(0, 10, 0, 2), () -> 0);
        var a = q.admit("k", ApiKeys.Limits.DEFAULT);
        var b = q.admit("k", ApiKeys.Limits.DEFAULT);
        assertThatThrownBy(() -> q.admit("k", ApiKeys.Limits.DEFAULT)).isInstanceOfSatisfying(Quotas.Exceeded.class,
                e -> assertThat(e.getMessage()).contains("key 'k' has 2 requests in flight"));
        var one = new ApiKeys.Limits(-1, -1, 1);
        q.admit("solo", one);
        assertThatThrownBy(() -> q.admit("solo", one)).isInstanceOf(Quotas.Exceeded.class);
        a.release(0);
        a.release(0);
        assertThat(q.inFlight("k")).isEqualTo(1);
        q.admit("k", ApiKeys.Limits.DEFAULT);
        assertThatThrownBy(() -> q.admit("k", ApiKeys.Limits.DEFAULT)).isInstanceOf(Quotas.Exceeded.class);
        b.release(3);
        assertThat(q.inFlight("k")).isEqualTo(1);
    }

    @Test
    void aKeysLineCarriesItsLimits(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("keys");
        Files.writeString(file, "batch:" + ApiKeys.sha256("b") + " inference rpm=600 tpm=100000 streams=8\nops:" + ApiKeys.sha256("o")
                + " admin streams=1\n");
        ApiKeys keys = ApiKeys.load(file);
        assertThat(keys.limitsOf("batch")).isEqualTo(new ApiKeys.Limits(600, 100000, 8));
        assertThat(keys.limitsOf("ops")).isEqualTo(new ApiKeys.Limits(-1, -1, 1));
        assertThat(keys.scopesOf("o")).containsExactly("admin");
        assertThat(keys.limitsOf("nobody")).isEqualTo(ApiKeys.Limits.DEFAULT);
        for (String bad : new String[] {"rpm=-1", "tpm=lots", "burst=3", "streams=1.5"}) {
            Files.writeString(file, "x:" + ApiKeys.sha256("x") + " " + bad + "\n");
            assertThatThrownBy(() -> ApiKeys.load(file)).as(bad).hasMessageContaining("line 1").isInstanceOf(IllegalArgumentException.class);
        }
        Files.writeString(file, "x:" + ApiKeys.sha256("x") + "\nx:" + ApiKeys.sha256("y") + "\n");
        assertThatThrownBy(() -> ApiKeys.load(file)).hasMessageContaining("line 2: the name 'x' is given twice");
        Files.writeString(file, "x:" + ApiKeys.sha256("x") + "\ny:" + ApiKeys.sha256("x") + "\n");
        assertThatThrownBy(() -> ApiKeys.load(file)).hasMessageContaining("line 2: the key of 'y' is also the key of 'x'");
    }

    @Test
    void aChangedKeysFileIsReadAgainAndABrokenOneKeepsTheKeysInForce(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("keys");
        Path log = dir.resolve("audit.jsonl");
        Files.writeString(file, "alice:" + ApiKeys.sha256("sk-a") + "\nbob:" + ApiKeys.sha256("sk-b") + "\n");
        AuditLog audit = new AuditLog(log, "test", io.boundless.engine.format.Json::write);
        try (ApiKeysFile keys = new ApiKeysFile(file, audit)) {
            assertThat(keys.reload()).as("unchanged").isFalse();
            Files.writeString(file, "alice:" + ApiKeys.sha256("sk-a2") + " admin,inference\ncarol:" + ApiKeys.sha256("sk-c") + " tpm=50\n");
            assertThat(keys.reload()).isTrue();
            assertThat(keys.current().nameOf("sk-a")).isNull();
            assertThat(keys.current().nameOf("sk-a2")).isEqualTo("alice");
            assertThat(keys.current().nameOf("sk-c")).isEqualTo("carol");
            assertThat(keys.current().nameOf("sk-b")).isNull();
            Files.writeString(file, "alice:nothex\n");
            assertThat(keys.reload()).isFalse();
            assertThat(keys.lastError()).contains("line 1");
            assertThat(keys.current().nameOf("sk-c")).as("the keys in force stay").isEqualTo("carol");
            assertThat(keys.reload()).as("the same broken file is reported once").isFalse();
            Files.delete(file);
            assertThat(keys.reload()).isFalse();
            assertThat(keys.current().nameOf("sk-a2")).isEqualTo("alice");
            assertThat(keys.failedReloads()).isEqualTo(2);
        }
        List<String> lines = Files.readAllLines(log);
        assertThat(lines).hasSize(3);
        assertThat(lines.get(0)).contains("\"service\":\"test\"", "\"action\":\"reload-keys\"", "\"outcome\":\"ok\"", "\"added\":[\"carol\"]",
                "\"removed\":[\"bob\"]", "\"rotated\":[\"alice\"]", "\"changed\":[\"alice (admin,inference)\"]");
        assertThat(lines.get(1)).contains("\"outcome\":\"refused: ");
        assertThat(lines.get(2)).contains("cannot read the API keys file", "no such file");
        for (String secret : List.of("sk-a", "sk-b", "sk-c", ApiKeys.sha256("sk-a2"), ApiKeys.sha256("sk-c"), ApiKeys.sha256("sk-b"))) {
            assertThat(String.join("\n", lines)).doesNotContain(secret);
        }
    }

    @Test
    void auditEntriesAreOneJsonObjectPerLine(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("a/audit.jsonl");
        AuditLog audit = new AuditLog(log, "router", io.boundless.engine.format.Json::write);
        audit.write("ops", "promote", "chat", "ok", Map.of("weight", 20, "score", "none"));
        audit.write("ops \"quoted\"\n", "abort", "chat", "FAILED_PRECONDITION: no rollout", Map.of("list", List.of("a\u0001", true)));
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        List<String> lines = Files.readAllLines(log);
        assertThat(lines).hasSize(2);
        var first = json.readTree(lines.get(0));
        assertThat(first.get("who").asText()).isEqualTo("ops");
        assertThat(first.get("service").asText()).isEqualTo("router");
        assertThat(first.get("weight").asInt()).isEqualTo(20);
        assertThat(first.get("score").asText()).isEqualTo("none");
        assertThat(java.time.Instant.parse(first.get("time").asText())).isNotNull();
        var second = json.readTree(lines.get(1));
        assertThat(second.get("who").asText()).isEqualTo("ops \"quoted\"\n");
        assertThat(second.get("list").get(0).asText()).isEqualTo("a\u0001");
        assertThat(second.get("outcome").asText()).isEqualTo("FAILED_PRECONDITION: no rollout");
    }
}
