package io.boundless.router.fake;

import io.boundless.proto.inference.v1.FinishReason;
import io.boundless.proto.inference.v1.GenerateRequest;
import io.boundless.proto.inference.v1.GenerateResponse;
import io.boundless.proto.inference.v1.GeneratedToken;
import io.boundless.proto.inference.v1.GetLoadRequest;
import io.boundless.proto.inference.v1.GetLoadResponse;
import io.boundless.proto.inference.v1.GetModelInfoRequest;
import io.boundless.proto.inference.v1.GetModelInfoResponse;
import io.boundless.proto.inference.v1.InferenceGrpc;
import io.boundless.proto.inference.v1.Usage;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An inference replica told what to do with each Generate: answer (each sample "abcd..." one token per message, up to
 * max_new_tokens, default 4, then LENGTH), fail at once, fail after two tokens, refuse for a full queue, or never answer.
 * It counts its calls and the calls the router cancelled; {@link #failNext} and {@link #failAfterTwoNext} are shared by
 * all replicas, so a test can say "the next k Generate calls fail before their first token (or after two tokens),
 * wherever they land". A resumed call (GenerateRequest.resume) continues the letters after the tokens it names, as one
 * sample; the resumed calls are kept in {@link #resumes}.
 */
public final class FakeReplica extends InferenceGrpc.InferenceImplBase {
    public enum Mode { ANSWER, FAIL_AT_ONCE, FAIL_AFTER_TWO_TOKENS, QUEUE_FULL, HANG, TWO_TOKENS_THEN_HANG }

    public static final int CONTEXT = 4096;
    public static final AtomicInteger failNext = new AtomicInteger();
    public static final AtomicInteger failAfterTwoNext = new AtomicInteger();
    public static final java.util.List<GenerateRequest> resumes = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** The last GenerateRequest any fake replica received. */
    public static volatile GenerateRequest last;

    public final String name;
    public volatile Mode mode = Mode.ANSWER;
    public volatile boolean healthy = true;
    public final AtomicInteger calls = new AtomicInteger();
    public final AtomicInteger cancelled = new AtomicInteger();
    public final AtomicInteger running = new AtomicInteger();
    /** The GPU utilization its GetLoad reports (as NVML would); 0: none reported. */
    public volatile double gpuUtilization;

    public FakeReplica(String name) {
        this.name = name;
    }

    public void reset() {
        mode = Mode.ANSWER;
        healthy = true;
        calls.set(0);
        cancelled.set(0);
    }

    @Override
    public void getModelInfo(GetModelInfoRequest req, StreamObserver<GetModelInfoResponse> out) {
        out.onNext(GetModelInfoResponse.newBuilder().setModel("fake").setContextLength(CONTEXT).setVocabSize(128).build());
        out.onCompleted();
    }

    @Override
    public void getLoad(GetLoadRequest req, StreamObserver<GetLoadResponse> out) {
        if (!healthy) {
            out.onError(Status.UNAVAILABLE.withDescription(name + " is told to fail its health checks").asRuntimeException());
            return;
        }
        var load = GetLoadResponse.newBuilder().setRunning(running.get());
        if (gpuUtilization > 0) {
            load.setGpuUtilization(gpuUtilization);
        }
        out.onNext(load.build());
        out.onCompleted();
    }

    @Override
    public void generate(GenerateRequest req, StreamObserver<GenerateResponse> out) {
        calls.incrementAndGet();
        last = req;
        ServerCallStreamObserver<GenerateResponse> call = (ServerCallStreamObserver<GenerateResponse>) out;
        running.incrementAndGet();
        boolean[] ended = {false};
        call.setOnCancelHandler(() -> {
            cancelled.incrementAndGet();
            running.decrementAndGet();
        });
        if (failNext.getAndUpdate(k -> Math.max(0, k - 1)) > 0) {
            end(out, ended, Status.UNAVAILABLE.withDescription(name + " fails before its first token"));
            return;
        }
        if (req.hasResume()) {
            resumes.add(req);
        }
        int from = req.hasResume() ? req.getResume().getGeneratedIdsCount() : 0;
        Mode m = failAfterTwoNext.getAndUpdate(k -> Math.max(0, k - 1)) > 0 ? Mode.FAIL_AFTER_TWO_TOKENS : mode;
        switch (m) {
            case FAIL_AT_ONCE -> end(out, ended, Status.UNAVAILABLE.withDescription(name + " fails before its first token"));
            case QUEUE_FULL -> end(out, ended, Status.RESOURCE_EXHAUSTED.withDescription(name + "'s queue is full"));
            case HANG -> { }
            case TWO_TOKENS_THEN_HANG -> {  // a process frozen mid-stream (SIGSTOP): its connection stays open, nothing more comes
                for (int t = from; t < from + 2; t++) {
                    out.onNext(token(0, t, false));
                }
            }
            case FAIL_AFTER_TWO_TOKENS -> {
                int n = req.hasResume() ? 1 : Math.max(1, req.getN());
                for (int t = from; t < from + 2; t++) {
                    for (int k = 0; k < n; k++) {
                        out.onNext(token(k, t, false));
                    }
                }
                end(out, ended, Status.INTERNAL.withDescription(name + " crashed after two tokens"));
            }
            case ANSWER -> {
                int max = req.getSampling().hasMaxNewTokens() ? req.getSampling().getMaxNewTokens() : 4;
                int n = req.hasResume() ? 1 : Math.max(1, req.getN());
                for (int s = 0; s < n; s++) {
                    for (int t = from; t < max; t++) {
                        out.onNext(token(s, t, t == max - 1));
                    }
                }
                out.onNext(GenerateResponse.newBuilder().setUsage(Usage.newBuilder().setPromptTokens(req.getPromptIdsCount())
                        .setCompletionTokens(n * (max - from))).build());
                running.decrementAndGet();
                ended[0] = true;
                out.onCompleted();
            }
        }
    }

    private void end(StreamObserver<GenerateResponse> out, boolean[] ended, Status s) {
        running.decrementAndGet();
        ended[0] = true;
        out.onError(s.asRuntimeException());
    }

    private static GenerateResponse token(int sample, int t, boolean last) {
        var b = GenerateResponse.newBuilder().setSampleIndex(sample)
                .addTokens(GeneratedToken.newBuilder().setTokenId('a' + t % 26).setLogprob(-0.5f));
        if (last) {
            b.setFinishReason(FinishReason.FINISH_REASON_LENGTH);
        }
        return b.build();
    }
}
