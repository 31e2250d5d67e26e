package io.boundless.tokenizer.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import grpc.health.v1.HealthGrpc;
import grpc.health.v1.HealthOuterClass.HealthCheckRequest;
import grpc.health.v1.HealthOuterClass.HealthCheckResponse.ServingStatus;
import io.boundless.proto.tokenizer.v1.*;
import io.boundless.tokenizer.TestData;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The tokenizer service over real gRPC on a real port: every RPC and every bad input. */
@QuarkusTest
class TokenizerGrpcServiceTest extends OverGrpc {


    @jakarta.inject.Inject
    io.boundless.tokenizer.TokenizerService service;


    private static JsonNode goldenCase(String model, String text) {
        for (JsonNode c : TestData.golden(model).get("cases")) {
            if (c.get("text").asText().equals(text)) {
                return c;
            }
        }
        throw new AssertionError("no golden case " + text);
    }

    private static List<Integer> ints(JsonNode arr) {
        List<Integer> out = new ArrayList<>();
        arr.forEach(n -> out.add(n.asInt()));
        return out;
    }

    @Test
    void encodesLikeTheReferenceWithAndWithoutSpecialTokens() {
        String text = "Hello, world!";
        JsonNode golden = goldenCase("llama3", text);
        EncodeResponse plain = tokenizer.encode(EncodeRequest.newBuilder().setModel("llama3").setText(text).build());
        EncodeResponse special = tokenizer.encode(EncodeRequest.newBuilder().setModel("llama3/1").setText(text).setAddSpecialTokens(true).build());
        assertThat(plain.getIdsList()).isEqualTo(ints(golden.get("ids")));
        assertThat(special.getIdsList()).isEqualTo(ints(golden.get("ids_with_special")));
    }

    @Test
    void returnsCodePointOffsetsThatCoverTheText() {
        String text = "a😀中 b";
        for (String model : List.of("qwen3", "cl100k_base")) {
            EncodeResponse r = tokenizer.encode(EncodeRequest.newBuilder().setModel(model).setText(text).setReturnOffsets(true).build());
            assertThat(r.getOffsetsCount()).as(model).isEqualTo(r.getIdsCount());
            assertThat(r.getOffsets(0).getStart()).isZero();
            assertThat(r.getOffsets(r.getOffsetsCount() - 1).getEnd()).as(model).isEqualTo(text.codePointCount(0, text.length()));
            for (int i = 1; i < r.getOffsetsCount(); i++) {
                assertThat(r.getOffsets(i).getStart()).as(model + " token " + i).isGreaterThanOrEqualTo(r.getOffsets(i - 1).getStart());
            }
        }
    }

    @Test
    void batchesKeepOrderAndCountsMatchEncode() {
        List<String> texts = List.of("Hello, world!", "我爱自然语言处理。", "", "😀");
        EncodeBatchResponse batch = tokenizer.encodeBatch(EncodeBatchRequest.newBuilder().setModel("cl100k_base").addAllTexts(texts).build());
        CountTokensBatchResponse counts = tokenizer.countTokensBatch(CountTokensBatchRequest.newBuilder().setModel("cl100k_base").addAllTexts(texts).build());
        assertThat(batch.getResultsCount()).isEqualTo(4);
        for (int i = 0; i < texts.size(); i++) {
            assertThat(batch.getResults(i).getIdsList()).isEqualTo(ints(goldenCase("cl100k_base", texts.get(i)).get("ids")));
            assertThat(counts.getCounts(i)).isEqualTo(batch.getResults(i).getIdsCount());
            assertThat(tokenizer.countTokens(CountTokensRequest.newBuilder().setModel("cl100k_base").setText(texts.get(i)).build()).getCount())
                    .isEqualTo(batch.getResults(i).getIdsCount());
        }
    }

    @Test
    void decodesAndSkipsSpecialTokens() {
        JsonNode golden = goldenCase("llama3", "<|begin_of_text|>Hello<|eot_id|>");
        DecodeRequest.Builder req = DecodeRequest.newBuilder().setModel("llama3").addAllIds(ints(golden.get("ids_with_special")));
        assertThat(tokenizer.decode(req.build()).getText()).isEqualTo(golden.get("decoded").asText());
        assertThat(tokenizer.decode(req.setSkipSpecialTokens(true).build()).getText()).isEqualTo("Hello");
    }

    @Test
    void decodeStreamDeltasAddUpToDecode() throws Exception {
        String text = "emoji 👨‍👩‍👧‍👦 and 中文, then ✌🏿 done";
        for (String model : List.of("llama2", "qwen3", "o200k_base")) {
            List<Integer> ids = tokenizer.encode(EncodeRequest.newBuilder().setModel(model).setText(text).setAddSpecialTokens(true).build()).getIdsList();
            List<String> deltas = new ArrayList<>();
            CompletableFuture<Void> done = new CompletableFuture<>();
            StreamObserver<DecodeStreamRequest> in = TokenizerGrpc.newStub(channel).decodeStream(new StreamObserver<>() {
                @Override
                public void onNext(DecodeStreamResponse r) {
                    deltas.add(r.getText());
                }

                @Override
                public void onError(Throwable t) {
                    done.completeExceptionally(t);
                }

                @Override
                public void onCompleted() {
                    done.complete(null);
                }
            });
            for (int i = 0; i < ids.size(); i++) {
                DecodeStreamRequest.Builder b = DecodeStreamRequest.newBuilder().addIds(ids.get(i));
                if (i == 0) {
                    b.setModel(model);
                }
                in.onNext(b.build());
            }
            in.onCompleted();
            done.get(30, TimeUnit.SECONDS);
            String full = tokenizer.decode(DecodeRequest.newBuilder().setModel(model).addAllIds(ids).build()).getText();
            assertThat(deltas).as(model + ": one response per request plus the final one").hasSize(ids.size() + 1);
            assertThat(String.join("", deltas)).as(model).isEqualTo(full);
        }
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() -> service.openStreams() == 0);
    }

    @Test
    void aCancelledDecodeStreamGivesItsSlotBack() {
        var call = channel.newCall(TokenizerGrpc.getDecodeStreamMethod(), CallOptions.DEFAULT);
        call.start(new io.grpc.ClientCall.Listener<>() {}, new io.grpc.Metadata());
        call.request(1);
        call.sendMessage(DecodeStreamRequest.newBuilder().setModel("cl100k_base").addIds(15339).build());
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() -> service.openStreams() == 1);
        call.cancel("client gave up", null);
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() -> service.openStreams() == 0);
    }

    @Test
    void rendersChatTemplatesWithVariablesAndEncodesThePrompt() {
        JsonNode golden = TestData.golden("chat_qwen3").get("cases").get(1); // system+user, enable_thinking=false
        assertThat(golden.get("variables").get("enable_thinking").asBoolean()).isFalse();
        ApplyChatTemplateRequest.Builder req = ApplyChatTemplateRequest.newBuilder().setModel("qwen3").setAddGenerationPrompt(true)
                .putTemplateVariables("enable_thinking", Value.newBuilder().setBoolValue(false).build());
        golden.get("messages").forEach(m -> req.addMessages(ChatMessage.newBuilder().setRole(m.get("role").asText()).setContent(m.get("content").asText())));
        ApplyChatTemplateResponse r = tokenizer.applyChatTemplate(req.build());
        assertThat(r.getText()).isEqualTo(golden.get("text").asText());
        assertThat(r.getIdsList()).isEqualTo(tokenizer.encode(EncodeRequest.newBuilder().setModel("qwen3").setText(r.getText()).build()).getIdsList());
    }

    @Test
    void passesToolCallsAsObjects() {
        Struct call = Struct.newBuilder().putFields("function", Value.newBuilder().setStructValue(Struct.newBuilder()
                .putFields("name", Value.newBuilder().setStringValue("lookup").build())
                .putFields("arguments", Value.newBuilder().setStructValue(Struct.newBuilder()
                        .putFields("n", Value.newBuilder().setNumberValue(2).build())).build())).build()).build();
        ApplyChatTemplateResponse r = tokenizer.applyChatTemplate(ApplyChatTemplateRequest.newBuilder().setModel("qwen3")
                .addMessages(ChatMessage.newBuilder().setRole("user").setContent("go"))
                .addMessages(ChatMessage.newBuilder().setRole("assistant").setContent("").addToolCalls(call)).build());
        assertThat(r.getText()).contains("{\"name\": \"lookup\", \"arguments\": {\"n\": 2}}");
    }

    @Test
    void describesTokenizers() {
        GetTokenizerInfoResponse llama = tokenizer.getTokenizerInfo(GetTokenizerInfoRequest.newBuilder().setModel("llama3").build());
        assertThat(llama.getModel()).isEqualTo("llama3/1");
        assertThat(llama.getKind()).isEqualTo(TokenizerKind.TOKENIZER_KIND_HUGGING_FACE);
        assertThat(llama.getVocabSize()).isEqualTo(128256);
        assertThat(llama.getBosTokenId()).isEqualTo(128000);
        assertThat(llama.getEosTokenId()).isEqualTo(128001);
        assertThat(llama.getHasChatTemplate()).isTrue();
        assertThat(llama.getSpecialTokensList()).contains(SpecialToken.newBuilder().setContent("<|eot_id|>").setId(128009).build());

        GetTokenizerInfoResponse cl = tokenizer.getTokenizerInfo(GetTokenizerInfoRequest.newBuilder().setModel("cl100k_base").build());
        assertThat(cl.getKind()).isEqualTo(TokenizerKind.TOKENIZER_KIND_TIKTOKEN);
        assertThat(cl.getVocabSize()).isEqualTo(100277);
        assertThat(cl.hasBosTokenId()).isFalse();
        assertThat(cl.getEosTokenId()).isEqualTo(100257);
    }

    // ---- bad input -------------------------------------------------------------------------------


    @Test
    void unknownModelIsNotFound() {
        assertStatus(() -> tokenizer.encode(EncodeRequest.newBuilder().setModel("no-such-model").setText("x").build()),
                Status.Code.NOT_FOUND, "no-such-model");
        assertStatus(() -> tokenizer.encode(EncodeRequest.newBuilder().setModel("llama3/9").setText("x").build()),
                Status.Code.NOT_FOUND, "llama3/9");
        assertStatus(() -> tokenizer.getTokenizerInfo(GetTokenizerInfoRequest.newBuilder().setModel("../etc").build()),
                Status.Code.INVALID_ARGUMENT, "../etc");
        assertStatus(() -> tokenizer.encode(EncodeRequest.newBuilder().setText("x").build()), Status.Code.INVALID_ARGUMENT, "model is required");
    }

    @Test
    void idOutsideTheVocabularyIsInvalidArgumentNamingTheId() {
        assertStatus(() -> tokenizer.decode(DecodeRequest.newBuilder().setModel("llama3").addIds(15339).addIds(128256).build()),
                Status.Code.INVALID_ARGUMENT, "128256", "position 1", "128256)");
        assertStatus(() -> tokenizer.decode(DecodeRequest.newBuilder().setModel("cl100k_base").addIds(100261).build()),
                Status.Code.INVALID_ARGUMENT, "100261");
        assertStatus(() -> tokenizer.decode(DecodeRequest.newBuilder().setModel("cl100k_base").addIds(-1).build()),
                Status.Code.INVALID_ARGUMENT, "4294967295");
    }

    @Test
    void textOverTheLimitIsInvalidArgumentNamingTheLimit() {
        String big = "a".repeat(1048577);
        assertStatus(() -> tokenizer.encode(EncodeRequest.newBuilder().setModel("cl100k_base").setText(big).build()),
                Status.Code.INVALID_ARGUMENT, "1048577", "1048576");
        assertStatus(() -> tokenizer.countTokensBatch(CountTokensBatchRequest.newBuilder().setModel("cl100k_base").addTexts("ok").addTexts(big).build()),
                Status.Code.INVALID_ARGUMENT, "text 1", "1048576");
        // exactly at the limit is fine
        assertThat(tokenizer.countTokens(CountTokensRequest.newBuilder().setModel("cl100k_base").setText(big.substring(1)).build()).getCount()).isPositive();
    }

    @Test
    void batchOverTheLimitIsInvalidArgument() {
        EncodeBatchRequest.Builder b = EncodeBatchRequest.newBuilder().setModel("cl100k_base");
        for (int i = 0; i < 9; i++) {
            b.addTexts("t" + i);
        }
        assertStatus(() -> tokenizer.encodeBatch(b.build()), Status.Code.INVALID_ARGUMENT, "at most 8", "got 9");
    }

    @Test
    void templateErrorsAreInvalidArgumentWithTheTemplatesMessage() {
        String alternating = "{% for m in messages %}{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}"
                + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{{ m.content }}{% endfor %}";
        assertStatus(() -> tokenizer.applyChatTemplate(ApplyChatTemplateRequest.newBuilder().setModel("llama3").setChatTemplate(alternating)
                        .addMessages(ChatMessage.newBuilder().setRole("user").setContent("a"))
                        .addMessages(ChatMessage.newBuilder().setRole("user").setContent("b")).build()),
                Status.Code.INVALID_ARGUMENT, "Conversation roles must alternate user/assistant/user/assistant/...");
        assertStatus(() -> tokenizer.applyChatTemplate(ApplyChatTemplateRequest.newBuilder().setModel("llama3").setChatTemplate("{% if %}").build()),
                Status.Code.INVALID_ARGUMENT, "syntax error");
        assertStatus(() -> tokenizer.applyChatTemplate(ApplyChatTemplateRequest.newBuilder().setModel("llama2")
                        .addMessages(ChatMessage.newBuilder().setRole("user").setContent("a")).build()),
                Status.Code.INVALID_ARGUMENT, "has no chat template (no chat_template in its tokenizer_config.json and no chat_template.jinja)");
    }

    @Test
    void decodeStreamRejectsABadIdAndTheServerCarriesOn() throws Exception {
        CompletableFuture<Void> done = new CompletableFuture<>();
        List<String> deltas = new ArrayList<>();
        StreamObserver<DecodeStreamRequest> in = TokenizerGrpc.newStub(channel).decodeStream(new StreamObserver<>() {
            public void onNext(DecodeStreamResponse r) {
                deltas.add(r.getText());
            }

            public void onError(Throwable t) {
                done.completeExceptionally(t);
            }

            public void onCompleted() {
                done.complete(null);
            }
        });
        in.onNext(DecodeStreamRequest.newBuilder().setModel("llama3").addIds(15339).build());
        in.onNext(DecodeStreamRequest.newBuilder().addIds(999999).build());
        assertThatThrownBy(() -> done.get(30, TimeUnit.SECONDS)).cause().isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(e.getStatus().getDescription()).contains("999999");
        });
        assertThat(deltas).containsExactly("hello");
        assertThat(tokenizer.decode(DecodeRequest.newBuilder().setModel("llama3").addIds(15339).build()).getText()).isEqualTo("hello");
    }

    /** A client that sends bytes that are not UTF-8 in a string field (protobuf-java cannot build one). */
    @Test
    void invalidUtf8OnTheWireIsRejectedAsInvalidArgument() {
        ByteArrayOutputStream msg = new ByteArrayOutputStream();
        byte[] model = "cl100k_base".getBytes(StandardCharsets.UTF_8);
        msg.write(0x0A); // field 1, length-delimited
        msg.write(model.length);
        msg.writeBytes(model);
        byte[] bad = {'o', 'k', (byte) 0xFF, (byte) 0xC3};
        msg.write(0x12); // field 2
        msg.write(bad.length);
        msg.writeBytes(bad);
        MethodDescriptor<byte[], byte[]> raw = TokenizerGrpc.getEncodeMethod().toBuilder(BYTES, BYTES).build();
        assertThatThrownBy(() -> ClientCalls.blockingUnaryCall(channel, raw, CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS), msg.toByteArray()))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).as(e.getStatus().toString()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                    assertThat(e.getStatus().getDescription()).contains("UTF-8");
                });
        // and the server is fine
        assertThat(tokenizer.countTokens(CountTokensRequest.newBuilder().setModel("cl100k_base").setText("ok").build()).getCount()).isEqualTo(1);
    }

    private static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    };

    // ---- operations ------------------------------------------------------------------------------

    @Test
    void reportsHealthAndMetrics() {
        var health = HealthGrpc.newBlockingStub(channel);
        assertThat(health.check(HealthCheckRequest.newBuilder().setService("boundless.tokenizer.v1.Tokenizer").build()).getStatus())
                .isEqualTo(ServingStatus.SERVING);
        RestAssured.get("/q/health/ready").then().statusCode(200);
        RestAssured.get("/q/health/live").then().statusCode(200);

        tokenizer.encode(EncodeRequest.newBuilder().setModel("cl100k_base").setText("count me").build());
        String metrics = RestAssured.get("/q/metrics").asString();
        assertThat(metrics).contains("boundless_tokenizer_tokens_total{model=\"cl100k_base\",operation=\"encode\"}");
        assertThat(metrics).contains("grpc_server_processing_duration_seconds").contains("method=\"Encode\"");
    }
}
