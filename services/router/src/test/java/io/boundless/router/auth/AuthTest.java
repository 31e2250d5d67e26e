package io.boundless.router.auth;

import io.boundless.proto.ApiKeys;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
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
    void tokenBucketAllowsTheBurstThenTheRate() {
        AtomicLong now = new AtomicLong(0);
        RateLimiter limiter = new RateLimiter(2, 3, now::get);
        assertThat(limiter.tryAcquire("k")).isZero();
        assertThat(limiter.tryAcquire("k")).isZero();
        assertThat(limiter.tryAcquire("k")).isZero();
        assertThat(limiter.tryAcquire("k")).isEqualTo(1);  // empty: a token in 0.5 s, reported as 1 s
        assertThat(limiter.tryAcquire("other")).isZero();   // buckets are per key
        now.addAndGet(500_000_000L);
        assertThat(limiter.tryAcquire("k")).isZero();
        assertThat(limiter.tryAcquire("k")).isPositive();
        now.addAndGet(10_000_000_000L);                     // idle: refills to the burst, no more
        for (int i = 0; i < 3; i++) {
            assertThat(limiter.tryAcquire("k")).isZero();
        }
        assertThat(limiter.tryAcquire("k")).isPositive();
    }
}
