package io.boundless.inference.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.proto.inference.v1.FinishReason;
import io.boundless.proto.inference.v1.GenerateRequest;
import io.boundless.proto.inference.v1.GenerateResponse;
import io.boundless.proto.inference.v1.InferenceGrpc;
import io.boundless.proto.inference.v1.SamplingParameters;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

/**
 * The preStop drain: {@code GET /drain} answers only once the running streams have finished, and from its call on the
 * replica is not ready and refuses new requests; without the token it refuses.
 */
@QuarkusTest
@TestProfile(DrainTest.WithToken.class)
class DrainTest {
    public static final class WithToken implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("boundless.inference.drain-token", "s3cret", "boundless.inference.drain-timeout", "60s");
        }
    }

    @ConfigProperty(name = "quarkus.grpc.server.test-port")
    int port;

    @TestHTTPResource("/drain")
    URI drain;

    @TestHTTPResource("/q/health/ready")
    URI ready;

    @Test
    void aDrainAnswersWhenTheRunningStreamHasFinishedAndRefusesNewRequests() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        assertThat(http.send(HttpRequest.newBuilder(drain).header("X-Boundless-Drain-Token", "wrong").build(), HttpResponse.BodyHandlers.ofString())
                .statusCode()).isEqualTo(403);
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        try {
            GenerateRequest.Builder req = GenerateRequest.newBuilder().setSampling(SamplingParameters.newBuilder().setMaxNewTokens(300).setTemperature(0).setIgnoreEos(true));
            for (int i = 0; i < 8; i++) {
                req.addPromptIds(i + 5);
            }
            AtomicInteger tokens = new AtomicInteger();
            CountDownLatch first = new CountDownLatch(1);
            CompletableFuture<FinishReason> finished = new CompletableFuture<>();
            InferenceGrpc.newStub(channel).generate(req.build(), new StreamObserver<>() {
                @Override
                public void onNext(GenerateResponse r) {
                    tokens.addAndGet(r.getTokensCount());
                    first.countDown();
                    if (r.getFinishReason() != FinishReason.FINISH_REASON_UNSPECIFIED) {
                        finished.complete(r.getFinishReason());
                    }
                }

                @Override
                public void onError(Throwable t) {
                    finished.completeExceptionally(t);
                }

                @Override
                public void onCompleted() {}
            });
            assertThat(first.await(30, TimeUnit.SECONDS)).isTrue();
            var answer = http.send(HttpRequest.newBuilder(drain).header("X-Boundless-Drain-Token", "s3cret").build(), HttpResponse.BodyHandlers.ofString());
            assertThat(answer.statusCode()).isEqualTo(200);
            assertThat(answer.body()).contains("\"drained\":true");
            assertThat(finished).as("the stream ended before the drain answered").isCompleted();
            assertThat(finished.get()).isEqualTo(FinishReason.FINISH_REASON_LENGTH);
            assertThat(tokens.get()).isEqualTo(300);
            assertThat(http.send(HttpRequest.newBuilder(ready).build(), HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(503);
            assertThatThrownBy(() -> InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS).generate(req.build()).hasNext())
                    .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
                        assertThat(e.getStatus().getDescription()).contains("draining");
                    });
        } finally {
            channel.shutdownNow();
        }
    }
}
