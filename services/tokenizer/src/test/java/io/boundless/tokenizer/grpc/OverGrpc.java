package io.boundless.tokenizer.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.proto.tokenizer.v1.TokenizerGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/** A Quarkus test of the tokenizer service through a real channel to its test port, one channel per test. */
abstract class OverGrpc {

    @ConfigProperty(name = "quarkus.grpc.server.test-port")
    int port;

    ManagedChannel channel;
    TokenizerGrpc.TokenizerBlockingStub tokenizer;

    @BeforeEach
    void connect() {
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().maxInboundMessageSize(64 << 20).build();
        tokenizer = TokenizerGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    @AfterEach
    void disconnect() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    /** The call fails with this code and a message holding these parts, and no stack trace. */
    static void assertStatus(Runnable call, Status.Code code, String... messageParts) {
        assertThatThrownBy(call::run).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).as(e.getStatus().toString()).isEqualTo(code);
            assertThat(e.getStatus().getDescription()).contains(messageParts).doesNotContain("\tat ");
        });
    }
}
