package io.boundless.inference.grpc;

import io.boundless.engine.model.ModelConfig;
import io.boundless.engine.sample.Sampler;
import io.boundless.engine.sample.SamplingParams;
import io.boundless.engine.model.Overlay;
import io.boundless.engine.sched.Engine;
import io.boundless.engine.sched.Sequence;
import io.boundless.engine.sched.SequenceListener;
import io.boundless.inference.InferenceLifecycle;
import io.boundless.inference.InferenceMetrics;
import io.boundless.proto.MalformedRequests;
import io.boundless.proto.inference.v1.*;
import io.grpc.BindableService;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import jakarta.inject.Inject;
import java.util.ArrayList;
import java.util.List;

/**
 * gRPC adapter of the engine. Calls return at once; tokens are written to the stream by the engine
 * thread as they are sampled. Cancelling a Generate call aborts its samples, which frees their KV
 * blocks at the next step boundary.
 */
@GrpcService
public class InferenceGrpcService implements InferenceGrpc.AsyncService, BindableService {

    @Inject
    InferenceLifecycle lifecycle;

    @Inject
    InferenceMetrics metrics;

    @Override
    public ServerServiceDefinition bindService() {
        return MalformedRequests.guard(InferenceGrpc.bindService(this));
    }

    private Engine engine() {
        Engine e = lifecycle.engine();
        if (lifecycle.draining()) {
            throw Status.UNAVAILABLE.withDescription("this replica is draining (it is stopping): no new requests").asRuntimeException();
        }
        if (e == null || !lifecycle.isReady()) {
            throw Status.UNAVAILABLE.withDescription("the model is not loaded and warmed up yet").asRuntimeException();
        }
        return e;
    }

    @Override
    public void generate(GenerateRequest req, StreamObserver<GenerateResponse> out) {
        ServerCallStreamObserver<GenerateResponse> call = (ServerCallStreamObserver<GenerateResponse>) out;
        try {
            Engine engine = engine();
            SamplingParams params = toParams(req.getSampling());
            int n = req.getN() == 0 ? 1 : req.getN();
            if (req.hasResume() && n != 1) {
                throw new IllegalArgumentException("a resumed request continues one sample: n must be 0 or 1, not " + n);
            }
            int[] prompt = ids(req.getPromptIdsList());
            String version = req.getVersion().isEmpty() ? lifecycle.defaultVersion() : req.getVersion();
            Overlay overlay = overlay(version);
            Stream stream = new Stream(call, n, prompt.length, System.nanoTime(), version);
            // The handler is in place before the engine can write the first token from its thread.
            java.util.concurrent.atomic.AtomicReference<long[]> submitted = new java.util.concurrent.atomic.AtomicReference<>();
            call.setOnCancelHandler(() -> {
                long[] ids = submitted.get();
                if (ids != null) {
                    for (long id : ids) {
                        engine.abort(id);
                    }
                }
            });
            if (req.hasResume()) {
                Resume r = req.getResume();
                submitted.set(new long[] {engine.resume(prompt, ids(r.getGeneratedIdsList()), params, r.getSampleIndex(),
                        r.getSamples() == 0 ? 1 : r.getSamples(), req.getPriority(), stream, overlay)});
                metrics.resumed();
            } else {
                submitted.set(engine.submit(prompt, params, n, req.getPriority(), stream, overlay));
            }
            metrics.promptLength(prompt.length);
            if (call.isCancelled()) { // cancelled between the handler and the submit
                for (long id : submitted.get()) {
                    engine.abort(id);
                }
            }
        } catch (RuntimeException e) {
            out.onError(GrpcErrors.toStatus(e));
        }
    }

    /** Writes one request's tokens to its call; runs on the engine thread. */
    private final class Stream implements SequenceListener {
        private final ServerCallStreamObserver<GenerateResponse> call;
        private final int samples;
        private final int promptTokens;
        private final long start;
        private final long[] lastTokenAt;
        private int finished;
        private int completionTokens;
        private int cachedTokens;
        private boolean first = true;
        private boolean gone;
        private final String version;

        Stream(ServerCallStreamObserver<GenerateResponse> call, int samples, int promptTokens, long start, String version) {
            this.version = version;
            this.call = call;
            this.samples = samples;
            this.promptTokens = promptTokens;
            this.start = start;
            this.lastTokenAt = new long[samples];
        }

        @Override
        public void onToken(Sequence seq, Sampler.Sample s) {
            long now = System.nanoTime();
            int i = seq.sampleIndex();
            if (first) {
                first = false;
                cachedTokens = seq.cachedPromptTokens();
                metrics.firstToken(now - start, promptTokens, cachedTokens, version);
            } else if (lastTokenAt[i] != 0) {
                metrics.interToken(now - lastTokenAt[i], version);
            }
            lastTokenAt[i] = now;
            completionTokens++;
            metrics.generatedToken();
            GeneratedToken.Builder t = GeneratedToken.newBuilder().setTokenId(s.token()).setLogprob(s.logprob());
            for (int k = 0; k < s.topIds().length; k++) {
                t.addTopLogprobs(TopLogprob.newBuilder().setTokenId(s.topIds()[k]).setLogprob(s.topLogprobs()[k]));
            }
            send(GenerateResponse.newBuilder().setSampleIndex(i).addTokens(t).build());
        }

        @Override
        public void onFinish(Sequence seq, Sequence.FinishReason reason) {
            finished++;
            GenerateResponse.Builder b = GenerateResponse.newBuilder().setSampleIndex(seq.sampleIndex()).setFinishReason(switch (reason) {
                case STOP -> FinishReason.FINISH_REASON_STOP;
                case LENGTH -> FinishReason.FINISH_REASON_LENGTH;
                case ABORTED -> FinishReason.FINISH_REASON_ABORTED;
            });
            boolean last = finished == samples || (reason == Sequence.FinishReason.ABORTED && seq.sampleIndex() == 0 && seq.generated() == 0);
            if (last) {
                b.setUsage(Usage.newBuilder().setPromptTokens(promptTokens).setCachedPromptTokens(cachedTokens).setCompletionTokens(completionTokens));
            }
            send(b.build());
            if (last) {
                metrics.requestEnded(reason == Sequence.FinishReason.ABORTED && !call.isCancelled(), version);
            }
            if (last && !gone) {
                gone = true;
                try {
                    call.onCompleted();
                } catch (RuntimeException ignored) {
                    // the client went away
                }
            }
        }

        private void send(GenerateResponse r) {
            if (gone || call.isCancelled()) {
                gone = true;
                return;
            }
            try {
                call.onNext(r);
            } catch (RuntimeException e) {
                gone = true; // cancelled between the check and the write
            }
        }
    }

    @Override
    public void score(ScoreRequest req, StreamObserver<ScoreResponse> out) {
        try {
            Engine engine = engine();
            int[] continuation = ids(req.getContinuationIdsList());
            Overlay overlay = overlay(req.getVersion().isEmpty() ? lifecycle.defaultVersion() : req.getVersion());
            engine.score(ids(req.getPromptIdsList()), continuation, req.getTopLogprobs(), new SequenceListener() {
                @Override
                public void onToken(Sequence seq, Sampler.Sample sample) {}

                @Override
                public void onFinish(Sequence seq, Sequence.FinishReason reason) {
                    if (reason == Sequence.FinishReason.ABORTED) {
                        out.onError(Status.ABORTED.withDescription("the score request was aborted").asRuntimeException());
                    }
                }

                @Override
                public void onScore(Sequence seq, float[] logprobs, int[][] topIds, float[][] topLogprobs) {
                    ScoreResponse.Builder b = ScoreResponse.newBuilder();
                    double total = 0;
                    for (int i = 0; i < logprobs.length; i++) {
                        GeneratedToken.Builder t = GeneratedToken.newBuilder().setTokenId(continuation[i]).setLogprob(logprobs[i]);
                        for (int k = 0; k < topIds[i].length; k++) {
                            t.addTopLogprobs(TopLogprob.newBuilder().setTokenId(topIds[i][k]).setLogprob(topLogprobs[i][k]));
                        }
                        b.addTokens(t);
                        total += logprobs[i];
                    }
                    out.onNext(b.setTotalLogprob(total).build());
                    out.onCompleted();
                }
            }, overlay);
        } catch (RuntimeException e) {
            out.onError(GrpcErrors.toStatus(e));
        }
    }

    @Override
    public void getModelInfo(GetModelInfoRequest req, StreamObserver<GetModelInfoResponse> out) {
        try {
            Engine engine = engine();
            ModelConfig c = lifecycle.model().config();
            GetModelInfoResponse.Builder b = GetModelInfoResponse.newBuilder().setModel(lifecycle.modelName())
                    .setArchitecture(c.arch().name().toLowerCase()).setVocabSize(c.vocabSize()).setContextLength(c.maxPositions())
                    .setHiddenSize(c.hidden()).setLayers(c.layers()).setHeads(c.heads()).setKvHeads(c.kvHeads())
                    .setKvBlocks(engine.totalBlocks()).setKvBlockSize(engine.blockSize()).setBackend(engine.backendName())
                    .setDevice(engine.device()).addAllVersions(lifecycle.overlays() == null ? List.of() : lifecycle.overlays().loaded());
            if (c.bosId() != null) {
                b.setBosTokenId(c.bosId());
            }
            c.eosIds().forEach(b::addEosTokenIds);
            out.onNext(b.build());
            out.onCompleted();
        } catch (RuntimeException e) {
            out.onError(GrpcErrors.toStatus(e));
        }
    }

    @Override
    public void getLoad(GetLoadRequest req, StreamObserver<GetLoadResponse> out) {
        try {
            // a draining replica still reports its load: the router sees its streams finish
            Engine engine = lifecycle.draining() && lifecycle.engine() != null ? lifecycle.engine() : engine();
            Engine.Load l = engine.load();
            GetLoadResponse.Builder b = GetLoadResponse.newBuilder().setQueueDepth(l.waiting()).setRunning(l.running()).setKvUsage(l.kvUsage())
                    .setPrefixCacheHitRate(l.prefixHitRate()).setBusyFraction(metrics.busyFraction())
                    .setFreeKvBlocks(engine.freeBlocks()).setPreemptions(l.preemptions()).setMeasurements(metrics.measurements())
                    .putAllVersionMeasurements(metrics.versionMeasurements());
            metrics.gpu().ifPresent(g -> b.setGpuUtilization(g.utilization()).setGpuMemoryUsedBytes(g.memoryUsed())
                    .setGpuMemoryTotalBytes(g.memoryTotal()));
            out.onNext(b.build());
            out.onCompleted();
        } catch (RuntimeException e) {
            out.onError(GrpcErrors.toStatus(e));
        }
    }

    /** The overlay of a delta version (null or "": the base). */
    private Overlay overlay(String version) {
        if (version == null || version.isEmpty()) {
            return null;
        }
        io.boundless.inference.Overlays o = lifecycle.overlays();
        if (o == null) {
            throw Status.UNAVAILABLE.withDescription("the model is not loaded and warmed up yet").asRuntimeException();
        }
        return o.get(version);
    }

    /** Proto sampling parameters with their documented defaults; out-of-range values throw naming the field. */
    static SamplingParams toParams(SamplingParameters s) {
        long maxNew = s.hasMaxNewTokens() ? Integer.toUnsignedLong(s.getMaxNewTokens()) : 16;
        if (maxNew > 1_000_000) {
            throw new IllegalArgumentException("max_new_tokens must be at most 1000000, got " + maxNew);
        }
        List<Integer> stops = new ArrayList<>(s.getStopTokenIdsList());
        return new SamplingParams(s.hasTemperature() ? s.getTemperature() : 1f, s.getTopK(), s.hasTopP() ? s.getTopP() : 1f, s.getMinP(),
                s.hasRepetitionPenalty() ? s.getRepetitionPenalty() : 1f, s.getPresencePenalty(), s.getFrequencyPenalty(),
                s.hasSeed() ? s.getSeed() : null, s.getLogprobs(), stops, (int) maxNew, s.getMinNewTokens(), s.getIgnoreEos(), s.getLogitBiasMap(),
                s.hasConstraint() ? constraint(s.getConstraint()) : null);
    }

    static io.boundless.engine.grammar.Constraint constraint(io.boundless.proto.inference.v1.Constraint c) {
        return io.boundless.engine.grammar.Constraint.of(c.getKindCase().name(), c.getJsonSchema(), c.getRegex(), c.getGrammar(),
                c.getChoice().getChoicesList());
    }

    private static int[] ids(List<Integer> list) {
        int[] out = new int[list.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = list.get(i);
        }
        return out;
    }
}
