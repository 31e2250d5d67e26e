package io.boundless.router.reasoning;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.Test;

/** Per-key reasoning limits on a trace of requests and a fake clock. */
class KeyBudgetsTest {
    long now;

    @Test
    void tokensPerMinuteAreReservedAtTheWorstCaseAndTheUnusedOnesComeBack() {
        KeyBudgets b = new KeyBudgets(6000, 0, () -> now);
        b.admit("a", 4000);
        StatusRuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class, () -> b.admit("a", 4000));
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
        assertThat(e.getStatus().getDescription()).contains("has 2000 of its 6000 reasoning tokens per minute left").contains("retry in 20 s");
        assertThat(e.getTrailers().get(Metadata.Key.of("retry-after", Metadata.ASCII_STRING_MARSHALLER))).isEqualTo("20");
        b.admit("b", 4000);  // another key has its own budget
        b.release("a", 4000, 1000);  // 3000 unused come back: 5000 left
        b.admit("a", 5000);
        now += 30_000_000_000L;  // half a minute refills 3000
        b.admit("a", 3000);
        assertThatThrownBy(() -> b.admit("a", 100)).isInstanceOf(StatusRuntimeException.class);
        assertThatThrownBy(() -> b.admit("c", 7000)).hasMessageContaining("more than the per-key reasoning budget of 6000");
    }

    @Test
    void concurrentRequestsPerKeyAreCapped() {
        KeyBudgets b = new KeyBudgets(0, 2, () -> now);
        b.admit("a", 10);
        b.admit("a", 10);
        assertThatThrownBy(() -> b.admit("a", 10)).hasMessageContaining("has 2 reasoning requests running, its limit");
        b.admit("b", 10);
        b.release("a", 10, 10);
        b.admit("a", 10);
    }
}
