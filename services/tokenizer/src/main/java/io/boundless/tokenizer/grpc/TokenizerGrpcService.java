package io.boundless.tokenizer.grpc;

import com.google.protobuf.ListValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.boundless.proto.MalformedRequests;
import io.boundless.proto.tokenizer.v1.*;
import io.boundless.tokenizer.InvalidRequestException;
import io.boundless.tokenizer.StreamingDetokenizer;
import io.boundless.tokenizer.TextTokenizer.Encoding;
import io.boundless.tokenizer.TokenizerInfo;
import io.boundless.tokenizer.TokenizerService;
import io.grpc.BindableService;
import io.grpc.ServerServiceDefinition;
import io.grpc.stub.StreamObserver;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.grpc.GrpcService;
import jakarta.inject.Inject;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * gRPC adapter of {@link TokenizerService}: maps messages, counts tokens, maps errors to status.
 *
 * <p>Threading: a typical request (a prompt, a chat) takes tens of microseconds, less than a hop to a
 * worker thread costs, so it runs on the gRPC event loop. A request larger than
 * {@link #INLINE_LIMIT_BYTES} (up to a 1 MiB text: tens of milliseconds) goes to a bounded worker
 * pool so it cannot stall the event loop; when that pool's queue is full the request is
 * RESOURCE_EXHAUSTED at once.
 */
@GrpcService
public class TokenizerGrpcService implements TokenizerGrpc.AsyncService, BindableService {

    @Inject
    TokenizerService service;

    @Inject
    MeterRegistry meters;

    static final int INLINE_LIMIT_BYTES = 32 * 1024;
    private static final int WORKERS = Math.max(1, Runtime.getRuntime().availableProcessors());
    static final int WORKER_QUEUE = 256;
    final ThreadPoolExecutor workers = new ThreadPoolExecutor(WORKERS, WORKERS, 60, TimeUnit.SECONDS, // package-private for its test
            new ArrayBlockingQueue<>(WORKER_QUEUE), Thread.ofPlatform().name("tokenizer-worker-", 0).daemon().factory());

    private final Map<String, Counter> tokenCounters = new ConcurrentHashMap<>();

    @jakarta.annotation.PreDestroy
    void stopWorkers() throws InterruptedException {
        workers.shutdown();
        workers.awaitTermination(10, TimeUnit.SECONDS);
    }

    /** Requests that do not parse (invalid UTF-8 in a string) get INVALID_ARGUMENT, not UNKNOWN. */
    @Override
    public ServerServiceDefinition bindService() {
        return MalformedRequests.guard(TokenizerGrpc.bindService(this));
    }

    @Override
    public void encode(EncodeRequest req, StreamObserver<EncodeResponse> out) {
        unary(req, out, () -> {
            Encoding e = service.encode(req.getModel(), req.getText(), req.getTextBytes().size(), req.getAddSpecialTokens(), req.getReturnOffsets());
            count(req.getModel(), "encode", e.ids().length);
            return toResponse(e);
        });
    }

    @Override
    public void encodeBatch(EncodeBatchRequest req, StreamObserver<EncodeBatchResponse> out) {
        unary(req, out, () -> {
            List<Encoding> results = service.encodeBatch(req.getModel(), req.getTextsList(), utf8Sizes(req.getTextsList().size(), req::getTextsBytes),
                    req.getAddSpecialTokens(), req.getReturnOffsets());
            EncodeBatchResponse.Builder b = EncodeBatchResponse.newBuilder();
            long tokens = 0;
            for (Encoding e : results) {
                b.addResults(toResponse(e));
                tokens += e.ids().length;
            }
            count(req.getModel(), "encode", tokens);
            return b.build();
        });
    }

    @Override
    public void countTokens(CountTokensRequest req, StreamObserver<CountTokensResponse> out) {
        unary(req, out, () -> {
            int n = service.count(req.getModel(), req.getText(), req.getTextBytes().size(), req.getAddSpecialTokens());
            count(req.getModel(), "count", n);
            return CountTokensResponse.newBuilder().setCount(n).build();
        });
    }

    @Override
    public void countTokensBatch(CountTokensBatchRequest req, StreamObserver<CountTokensBatchResponse> out) {
        unary(req, out, () -> {
            int[] counts = service.countBatch(req.getModel(), req.getTextsList(), utf8Sizes(req.getTextsList().size(), req::getTextsBytes),
                    req.getAddSpecialTokens());
            CountTokensBatchResponse.Builder b = CountTokensBatchResponse.newBuilder();
            long tokens = 0;
            for (int c : counts) {
                b.addCounts(c);
                tokens += c;
            }
            count(req.getModel(), "count", tokens);
            return b.build();
        });
    }

    @Override
    public void decode(DecodeRequest req, StreamObserver<DecodeResponse> out) {
        unary(req, out, () -> {
            int[] ids = toInts(req.getIdsList());
            String text = service.decode(req.getModel(), ids, req.getSkipSpecialTokens());
            count(req.getModel(), "decode", ids.length);
            return DecodeResponse.newBuilder().setText(text).build();
        });
    }

    @Override
    public StreamObserver<DecodeStreamRequest> decodeStream(StreamObserver<DecodeStreamResponse> out) {
        return new StreamObserver<>() {
            private StreamingDetokenizer stream;
            private String model;
            private boolean skipSpecial;
            private boolean closed;

            @Override
            public synchronized void onNext(DecodeStreamRequest req) {
                if (closed) {
                    return;
                }
                try {
                    if (stream == null) {
                        model = req.getModel();
                        skipSpecial = req.getSkipSpecialTokens();
                        stream = service.openStream(model, skipSpecial);
                    } else if (!req.getModel().isEmpty() && !req.getModel().equals(model)) {
                        throw new InvalidRequestException("a decode stream keeps its model: it started with '" + model + "', this message names '" + req.getModel() + "'");
                    } else if (req.getSkipSpecialTokens() && !skipSpecial) {
                        throw new InvalidRequestException("a decode stream keeps skip_special_tokens from its first message (false)");
                    }
                    int[] ids = toInts(req.getIdsList());
                    String text = stream.add(ids);
                    count(model, "decode", ids.length);
                    out.onNext(DecodeStreamResponse.newBuilder().setText(text).build());
                } catch (Throwable t) {
                    end();
                    out.onError(GrpcErrors.toStatus(t));
                }
            }

            @Override
            public synchronized void onError(Throwable t) {
                end(); // the client went away; nothing to send
            }

            @Override
            public synchronized void onCompleted() {
                if (closed) {
                    return;
                }
                try {
                    String rest = stream == null ? "" : stream.finish();
                    end();
                    out.onNext(DecodeStreamResponse.newBuilder().setText(rest).build());
                    out.onCompleted();
                } catch (Throwable t) {
                    end();
                    out.onError(GrpcErrors.toStatus(t));
                }
            }

            /** Marks the stream done and gives back its slot, once. */
            private void end() {
                if (!closed) {
                    closed = true;
                    if (stream != null) {
                        service.closeStream();
                    }
                }
            }
        };
    }

    @Override
    public void applyChatTemplate(ApplyChatTemplateRequest req, StreamObserver<ApplyChatTemplateResponse> out) {
        unary(req, out, () -> {
            List<Map<String, Object>> messages = new ArrayList<>(req.getMessagesCount());
            for (ChatMessage m : req.getMessagesList()) {
                Map<String, Object> msg = new LinkedHashMap<>();
                msg.put("role", m.getRole());
                msg.put("content", m.getContent());
                if (m.hasReasoningContent()) {
                    msg.put("reasoning_content", m.getReasoningContent());
                }
                if (m.getToolCallsCount() > 0) {
                    List<Object> calls = new ArrayList<>();
                    m.getToolCallsList().forEach(s -> calls.add(fromStruct(s)));
                    msg.put("tool_calls", calls);
                }
                if (!m.getToolCallId().isEmpty()) {
                    msg.put("tool_call_id", m.getToolCallId());
                }
                if (!m.getName().isEmpty()) {
                    msg.put("name", m.getName());
                }
                messages.add(msg);
            }
            List<Map<String, Object>> tools = new ArrayList<>();
            req.getToolsList().forEach(s -> tools.add(fromStruct(s)));
            Map<String, Object> vars = new LinkedHashMap<>();
            req.getTemplateVariablesMap().forEach((k, v) -> vars.put(k, fromValue(v)));
            TokenizerService.ChatPrompt p = service.applyChatTemplate(req.getModel(), messages, req.getAddGenerationPrompt(), tools, vars,
                    req.getChatTemplate());
            count(req.getModel(), "chat_template", p.ids().length);
            ApplyChatTemplateResponse.Builder b = ApplyChatTemplateResponse.newBuilder().setText(p.text());
            for (int id : p.ids()) {
                b.addIds(id);
            }
            return b.build();
        });
    }

    @Override
    public void getTokenizerInfo(GetTokenizerInfoRequest req, StreamObserver<GetTokenizerInfoResponse> out) {
        unary(req, out, () -> {
            TokenizerInfo info = service.info(req.getModel());
            GetTokenizerInfoResponse.Builder b = GetTokenizerInfoResponse.newBuilder()
                    .setModel(info.model())
                    .setKind(info.kind() == TokenizerInfo.Kind.TIKTOKEN ? TokenizerKind.TOKENIZER_KIND_TIKTOKEN : TokenizerKind.TOKENIZER_KIND_HUGGING_FACE)
                    .setVocabSize(info.vocabSize())
                    .setModelMaxLength(info.modelMaxLength())
                    .setHasChatTemplate(info.hasChatTemplate())
                    .setToolCallFormat(service.toolCallFormat(req.getModel()));
            info.specialTokens().forEach(t -> b.addSpecialTokens(SpecialToken.newBuilder().setContent(t.content()).setId(t.id())));
            if (info.bosTokenId() != null) {
                b.setBosTokenId(info.bosTokenId());
            }
            if (info.eosTokenId() != null) {
                b.setEosTokenId(info.eosTokenId());
            }
            return b.build();
        });
    }

    // ---- helpers -------------------------------------------------------------------------------

    /** Runs a unary call inline when small, on the worker pool when large; errors become status. */
    private <T> void unary(com.google.protobuf.MessageLite request, StreamObserver<T> out, Supplier<T> call) {
        if (request.getSerializedSize() <= INLINE_LIMIT_BYTES) {
            complete(out, call);
            return;
        }
        try {
            workers.execute(() -> complete(out, call));
        } catch (RejectedExecutionException e) {
            out.onError(io.grpc.Status.RESOURCE_EXHAUSTED.withDescription("the tokenizer is overloaded: " + WORKER_QUEUE
                    + " large requests are already queued; retry with backoff").asRuntimeException());
        }
    }

    private static <T> void complete(StreamObserver<T> out, Supplier<T> call) {
        T response;
        try {
            response = call.get();
        } catch (Throwable t) {
            out.onError(GrpcErrors.toStatus(t));
            return;
        }
        out.onNext(response);
        out.onCompleted();
    }

    private void count(String model, String operation, long tokens) {
        tokenCounters.computeIfAbsent(model + '\0' + operation, k -> Counter.builder("boundless.tokenizer.tokens")
                .description("Tokens processed by the tokenizer service")
                .tag("model", model).tag("operation", operation).register(meters)).increment(tokens);
    }

    private static int[] utf8Sizes(int n, java.util.function.IntFunction<com.google.protobuf.ByteString> bytes) {
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = bytes.apply(i).size();
        }
        return out;
    }

    private static int[] toInts(List<Integer> ids) {
        int[] out = new int[ids.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ids.get(i);
        }
        return out;
    }

    private static EncodeResponse toResponse(Encoding e) {
        EncodeResponse.Builder b = EncodeResponse.newBuilder();
        for (int id : e.ids()) {
            b.addIds(id);
        }
        if (e.starts() != null) {
            for (int i = 0; i < e.ids().length; i++) {
                b.addOffsets(TokenOffset.newBuilder().setStart(e.starts()[i]).setEnd(e.ends()[i]));
            }
        }
        return b.build();
    }

    static Map<String, Object> fromStruct(Struct s) {
        Map<String, Object> out = new LinkedHashMap<>();
        s.getFieldsMap().forEach((k, v) -> out.put(k, fromValue(v)));
        return out;
    }

    /** JSON values to template values; whole numbers become integers so "2" renders as 2, not 2.0. */
    static Object fromValue(Value v) {
        return switch (v.getKindCase()) {
            case NULL_VALUE, KIND_NOT_SET -> null;
            case BOOL_VALUE -> v.getBoolValue();
            case NUMBER_VALUE -> {
                double d = v.getNumberValue();
                yield d == Math.rint(d) && Math.abs(d) < 9.007199254740992E15 ? (Object) (long) d : (Object) d;
            }
            case STRING_VALUE -> v.getStringValue();
            case STRUCT_VALUE -> fromStruct(v.getStructValue());
            case LIST_VALUE -> {
                ListValue l = v.getListValue();
                List<Object> out = new ArrayList<>(l.getValuesCount());
                l.getValuesList().forEach(x -> out.add(fromValue(x)));
                yield out;
            }
        };
    }
}
