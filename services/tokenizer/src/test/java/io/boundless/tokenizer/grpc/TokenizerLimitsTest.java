package io.boundless.tokenizer.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.proto.tokenizer.v1.*;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The tokenizer's documented limits and failures over real gRPC, with small limits (16 ids, 3 messages, 2 decode
 * streams) and a store holding llama3 and a model whose tokenizer.json is corrupt: each error's status and message,
 * and the server serving on after it.
 */
@QuarkusTest
@TestProfile(TokenizerLimitsTest.SmallLimits.class)
class TokenizerLimitsTest extends OverGrpc {

    public static class SmallLimits implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            try {
                Path store = Files.createTempDirectory("tokenizer-store");
                Path llama3 = Files.createDirectories(store.resolve("llama3/1"));
                Path refs = Path.of(System.getProperty("boundless.testdata", "../../testdata")).toAbsolutePath().resolve("store/llama3/1");
                for (String f : List.of("tokenizer.json", "tokenizer_config.json")) {
                    Files.createSymbolicLink(llama3.resolve(f), refs.resolve(f).toRealPath());
                }
                Path broken = Files.createDirectories(store.resolve("broken/1"));
                Files.writeString(broken.resolve("tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [");
                return Map.of("boundless.tokenizer.store", store.toString(), "boundless.tokenizer.preload", "llama3",
                        "boundless.tokenizer.max-ids", "16", "boundless.tokenizer.max-messages", "3", "boundless.tokenizer.max-streams", "2");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }


    @jakarta.inject.Inject
    @io.quarkus.grpc.GrpcService
    TokenizerGrpcService grpc;



    private String hello() {
        return tokenizer.decode(DecodeRequest.newBuilder().setModel("llama3").addIds(15339).build()).getText();
    }

    @Test
    void aCorruptModelIsFailedPreconditionNamingItsFile() {
        assertStatus(() -> tokenizer.encode(EncodeRequest.newBuilder().setModel("broken").setText("x").build()), Status.Code.FAILED_PRECONDITION,
                "tokenizer.json");
        assertStatus(() -> tokenizer.getTokenizerInfo(GetTokenizerInfoRequest.newBuilder().setModel("broken").build()), Status.Code.FAILED_PRECONDITION,
                "broken");
        assertThat(hello()).isEqualTo("hello");
    }

    @Test
    void theIdAndMessageLimitsAreInvalidArgument() {
        DecodeRequest.Builder d = DecodeRequest.newBuilder().setModel("llama3");
        for (int i = 0; i < 17; i++) {
            d.addIds(15339);
        }
        assertStatus(() -> tokenizer.decode(d.build()), Status.Code.INVALID_ARGUMENT, "Decode takes at most 16 ids (boundless.tokenizer.max-ids); got 17");
        ApplyChatTemplateRequest.Builder chat = ApplyChatTemplateRequest.newBuilder().setModel("llama3");
        for (int i = 0; i < 4; i++) {
            chat.addMessages(ChatMessage.newBuilder().setRole(i % 2 == 0 ? "user" : "assistant").setContent("m" + i));
        }
        assertStatus(() -> tokenizer.applyChatTemplate(chat.build()), Status.Code.INVALID_ARGUMENT,
                "a conversation may have at most 3 messages (boundless.tokenizer.max-messages); got 4");
        assertThat(tokenizer.applyChatTemplate(chat.removeMessages(3).build()).getIdsCount()).isPositive();
    }

    /** A stream's messages and their answers. */
    private final class Stream {
        final List<String> texts = new ArrayList<>();
        final CompletableFuture<Void> done = new CompletableFuture<>();
        final StreamObserver<DecodeStreamRequest> in = TokenizerGrpc.newStub(channel).decodeStream(new StreamObserver<>() {
            public void onNext(DecodeStreamResponse r) {
                synchronized (texts) {
                    texts.add(r.getText());
                    texts.notifyAll();
                }
            }

            public void onError(Throwable t) {
                done.completeExceptionally(t);
            }

            public void onCompleted() {
                done.complete(null);
            }
        });

        /** Sends and waits for the answer (one per message). */
        void send(DecodeStreamRequest r) throws InterruptedException {
            int before;
            synchronized (texts) {
                before = texts.size();
            }
            in.onNext(r);
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            synchronized (texts) {
                while (texts.size() == before && !done.isDone() && System.nanoTime() < until) {
                    texts.wait(100);
                }
            }
        }

        Status failure() {
            try {
                done.get(10, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                return Status.fromThrowable(e.getCause());
            } catch (Exception e) {
                throw new AssertionError(e);
            }
            throw new AssertionError("the stream completed");
        }
    }

    @Test
    void aDecodeStreamKeepsItsModelAndItsIdLimit() throws Exception {
        Stream s = new Stream();
        s.send(DecodeStreamRequest.newBuilder().setModel("llama3").addIds(15339).build());
        s.send(DecodeStreamRequest.newBuilder().setModel("llama3").addIds(15339).build()); // the same model again is fine
        s.send(DecodeStreamRequest.newBuilder().setModel("broken").addIds(15339).build());
        Status switched = s.failure();
        assertThat(switched.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(switched.getDescription()).isEqualTo("a decode stream keeps its model: it started with 'llama3', this message names 'broken'");
        assertThat(s.texts).containsExactly("hello", "hello");

        Stream t = new Stream();
        DecodeStreamRequest.Builder many = DecodeStreamRequest.newBuilder().setModel("llama3");
        for (int i = 0; i < 10; i++) {
            many.addIds(15339);
        }
        t.send(many.build());
        t.send(many.clearModel().build()); // 20 ids in all
        Status over = t.failure();
        assertThat(over.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(over.getDescription()).contains("16");
        assertThat(hello()).isEqualTo("hello");
    }

    @Test
    void moreOpenDecodeStreamsThanTheLimitIsResourceExhausted() throws Exception {
        Stream a = new Stream();
        Stream b = new Stream();
        a.send(DecodeStreamRequest.newBuilder().setModel("llama3").addIds(15339).build());
        b.send(DecodeStreamRequest.newBuilder().setModel("llama3").addIds(15339).build());
        Stream c = new Stream();
        c.send(DecodeStreamRequest.newBuilder().setModel("llama3").addIds(15339).build());
        Status full = c.failure();
        assertThat(full.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
        assertThat(full.getDescription()).isEqualTo("2 decode streams are open, the most this server takes (boundless.tokenizer.max-streams); retry later or on another replica");
        a.in.onCompleted();
        a.done.get(10, TimeUnit.SECONDS);
        Stream d = new Stream();
        d.send(DecodeStreamRequest.newBuilder().setModel("llama3").addIds(15339).build());
        assertThat(d.texts).containsExactly("hello");
        b.in.onCompleted();
        d.in.onCompleted();
        b.done.get(10, TimeUnit.SECONDS);
        d.done.get(10, TimeUnit.SECONDS);
    }

    /** With every worker busy and the queue full, a large request is RESOURCE_EXHAUSTED at once; small ones run inline. */
    @Test
    void aFullWorkerQueueIsResourceExhausted() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch busy = new CountDownLatch(grpc.workers.getMaximumPoolSize());
        try {
            for (int i = 0; i < grpc.workers.getMaximumPoolSize(); i++) {
                grpc.workers.execute(() -> {
                    busy.countDown();
                    await(release);
                });
            }
            assertThat(busy.await(10, TimeUnit.SECONDS)).isTrue();
            for (int i = 0; i < TokenizerGrpcService.WORKER_QUEUE; i++) {
                grpc.workers.execute(() -> await(release));
            }
            String large = "hello ".repeat(TokenizerGrpcService.INLINE_LIMIT_BYTES / 6 + 1);
            assertStatus(() -> tokenizer.countTokens(CountTokensRequest.newBuilder().setModel("llama3").setText(large).build()),
                    Status.Code.RESOURCE_EXHAUSTED, "the tokenizer is overloaded: 256 large requests are already queued; retry with backoff");
            assertThat(hello()).as("a small request runs inline").isEqualTo("hello");
        } finally {
            release.countDown();
        }
        String large = "hello ".repeat(TokenizerGrpcService.INLINE_LIMIT_BYTES / 6 + 1);
        assertThat(tokenizer.countTokens(CountTokensRequest.newBuilder().setModel("llama3").setText(large).build()).getCount()).isPositive();
    }

    private static void await(CountDownLatch l) {
        try {
            l.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
