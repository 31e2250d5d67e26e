package io.boundless.router;

import io.boundless.proto.inference.v1.GeneratedToken;
import io.boundless.proto.inference.v1.SamplingParameters;
import io.boundless.proto.router.v1.FinishReason;
import io.boundless.proto.router.v1.GenerateResponse;
import io.boundless.proto.router.v1.Token;
import io.boundless.proto.router.v1.TopLogprob;
import io.boundless.proto.router.v1.Usage;
import io.boundless.proto.tokenizer.v1.ApplyChatTemplateRequest;
import io.boundless.proto.tokenizer.v1.ApplyChatTemplateResponse;
import io.boundless.proto.tokenizer.v1.DecodeStreamRequest;
import io.boundless.proto.tokenizer.v1.DecodeStreamResponse;
import io.boundless.proto.tokenizer.v1.EncodeRequest;
import io.boundless.proto.tokenizer.v1.EncodeResponse;
import io.boundless.proto.tokenizer.v1.GetTokenizerInfoRequest;
import io.boundless.proto.tokenizer.v1.GetTokenizerInfoResponse;
import io.boundless.router.endpoints.Replica;
import io.boundless.router.text.StopMatcher;
import io.boundless.proto.tracing.TracingInterceptor;
import io.grpc.Deadline;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.jboss.logging.Logger;

/**
 * One request's life: tokenize (one tokenizer call), pick a replica, stream its tokens, turn each
 * sample's tokens into text through a tokenizer DecodeStream, apply stop strings, and write chunks to
 * the sink. A replica that fails before any token arrived is ejected and the request goes to another
 * one; a replica that fails after tokens is ejected and each of its unfinished samples continues on
 * another replica from the tokens it had produced ({@link ResumePolicy}), so the client sees one
 * unbroken stream. The router keeps every sample's generated ids for that, and gives every request a
 * seed when the client gave none, so that a resumed sample equals the uninterrupted one. Only when no
 * replica can continue does the request end with an error, after the text of every token received.
 * All events (inference, tokenizer, client) are handled under this object's lock; each inference call
 * is an {@link Attempt}, and the late events of an attempt that is over are dropped.
 */
public final class Completion {
    private static final Logger LOG = Logger.getLogger(Completion.class);

    /** Where the request is: tokenizing, sent to a replica, streaming tokens, continuing on another replica, ended. */
    enum Phase { PROMPT, ROUTED, STREAMING, RESUMING, DONE }

    private final Gateway gw;
    private final TextRequest req;
    private final Deadline deadline;
    private final CompletionSink sink;
    /** The seed every inference call of this request uses: the client's, or one drawn here (see the class comment). */
    private final long seed;
    /** Replicas a whole-request attempt was sent to (the retry cap before the first token counts them). */
    private final Set<Replica> tried = new HashSet<>();
    /** Replicas that failed this request: a resumed sample goes elsewhere. */
    private final Set<Replica> failed = new HashSet<>();
    private final List<Attempt> attempts = new ArrayList<>();
    private final long startNanos = System.nanoTime();
    private boolean firstText;
    private Phase phase = Phase.PROMPT;

    private int[] prompt;
    /** The model version this request's replicas serve (null: any), drawn once: a resumed sample stays on it. */
    private String version;
    private int attemptIds;
    private boolean released;
    private Sample[] samples;
    private io.boundless.proto.inference.v1.Usage usage;
    /** A batch request's priority on the replica (interactive ones are 0: higher runs first). */
    static final int BATCH_PRIORITY = -1;
    /** The caller's quota slot, released with the tokens used when the request ends. */
    private final io.boundless.router.auth.Quotas.Lease lease;
    private int completionTokens;
    private int resumedSamples;
    /** No replica could continue a sample: the request ends with this once the samples' text so far is sent. */
    private Status failAfterText;

    /** One sample's detokenizer stream, the token groups awaiting their text, and the ids generated so far. */
    private final class Sample {
        final int index;
        final StopMatcher stop = new StopMatcher(req.sampling().getStopList());
        final ArrayDeque<Entry> pending = new ArrayDeque<>();
        final List<Integer> generated = new ArrayList<>();
        ClientCallStreamObserver<DecodeStreamRequest> decoder;
        Attempt attempt;      // the call generating it now
        int resumes;
        boolean ended;        // its finish arrived from inference (or it was drained)
        boolean started;      // the first message, which names the model, was sent
        boolean done;

        Sample(int index) {
            this.index = index;
        }
    }

    /** One inference call on one replica, for some of the request's samples. */
    private final class Attempt {
        final int id = ++attemptIds;
        final Replica replica;
        final Sample[] samples;   // the call's sample_index -> the request's sample
        final long startNanos = System.nanoTime();
        ClientCallStreamObserver<?> call;
        Runnable unlisten;        // unregisters it from its replica's lost listeners
        boolean over;             // completed, failed or given up: its late events are dropped
        boolean anyToken;
        long lastTokenNanos;

        Attempt(Replica replica, Sample[] samples) {
            this.replica = replica;
            this.samples = samples;
        }

        /** Ends it (idempotent): its replica's outstanding count drops, and a call still running is cancelled. */
        void end(String cancelWhy) {
            if (over) {
                return;
            }
            over = true;
            replica.release();
            if (unlisten != null) {
                unlisten.run();
            }
            if (cancelWhy != null && call != null) {
                call.cancel(cancelWhy, null);
            }
        }
    }

    /**
     * Tokens sent to a decode stream (and when they arrived from inference), or the stream's end: the sample's
     * finish, or (drain) the end of a sample that no replica could continue.
     */
    private record Entry(List<GeneratedToken> tokens, io.boundless.proto.inference.v1.FinishReason finish, long arrived, boolean drain) {
        Entry(List<GeneratedToken> tokens, io.boundless.proto.inference.v1.FinishReason finish) {
            this(tokens, finish, System.nanoTime(), false);
        }
    }

    /** The trace this request is part of (the context current where it arrived): the parent of its calls' spans. */
    private final io.opentelemetry.context.Context trace = io.opentelemetry.context.Context.current();

    private long firstTextNanos;

    /** The access log's line for this request (boundless.router.access-log). */
    private void accessLog(String outcome) {
        if (gw.config.accessLog()) {
            long now = System.nanoTime();
            LOG.infof("%s: %s, %d prompt + %d generated tokens, first text after %s, %.0f ms in all", who(), outcome, prompt == null ? 0 : prompt.length,
                    completionTokens, firstTextNanos == 0 ? "none" : String.format(java.util.Locale.ROOT, "%.0f ms", (firstTextNanos - startNanos) / 1e6),
                    (now - startNanos) / 1e6);
        }
    }

    /** The request in log lines: its id, and its trace id where it is traced (the same in every service's log for it). */
    private String who() {
        var span = io.opentelemetry.api.trace.Span.fromContext(trace).getSpanContext();
        return "request " + req.requestId() + (span.isValid() ? " (trace " + span.getTraceId() + ")" : "");
    }

    Completion(Gateway gw, TextRequest req, Deadline deadline, CompletionSink sink, io.boundless.router.auth.Quotas.Lease lease) {
        this.gw = gw;
        this.lease = lease;
        this.req = req;
        this.deadline = deadline;
        this.sink = sink;
        this.seed = req.sampling().hasSeed() ? req.sampling().getSeed() : new java.util.SplittableRandom().nextLong();
    }

    /**
     * Starts the request. Its calls to the tokenizer and inference run outside the caller's gRPC
     * context: a client cancel must reach them through {@link #cancel()} (which knows the client left),
     * not as a context cancellation that would look like a failing replica.
     */
    void start() {
        io.grpc.Context.ROOT.run(this::begin);
    }

    private void begin() {
        if (req.ids() != null) {
            onPrompt(req.ids());
            return;
        }
        var stub = gw.tokenizer.withDeadline(deadline).withOption(TracingInterceptor.PARENT, trace);
        if (req.text() != null) {
            stub.encode(EncodeRequest.newBuilder().setModel(gw.tokenizerModel()).setText(req.text()).setAddSpecialTokens(true).build(),
                    new Unary<EncodeResponse>(r -> toInts(r.getIdsList())));
        } else {
            var b = ApplyChatTemplateRequest.newBuilder().setModel(gw.tokenizerModel()).setAddGenerationPrompt(true);
            for (var m : req.messages()) {
                b.addMessages(Gateway.templateMessage(m));
            }
            for (var t : req.tools()) {
                b.addTools(Gateway.templateTool(t));
            }
            if (req.chatTemplate() != null) {
                b.setChatTemplate(req.chatTemplate());
            }
            stub.applyChatTemplate(b.build(), new Unary<ApplyChatTemplateResponse>(r -> toInts(r.getIdsList())));
        }
    }

    /**
     * A chat that the tokenizer refused as INVALID_ARGUMENT: when the model has no template of its own
     * (and the request brought none), that is the reason, and the client learns it with what to do
     * instead; any other refusal (a template's raise_exception, a syntax error) keeps its own message.
     * Asked only on this error path, so a served chat costs no extra call.
     */
    private void failChat(Status refusal) {
        if (req.chatTemplate() != null) {
            fail(refusal);
            return;
        }
        gw.tokenizer.withDeadline(deadline).withOption(TracingInterceptor.PARENT, trace).getTokenizerInfo(GetTokenizerInfoRequest.newBuilder().setModel(gw.tokenizerModel()).build(),
                new StreamObserver<GetTokenizerInfoResponse>() {
                    @Override
                    public void onNext(GetTokenizerInfoResponse info) {
                        fail(info.getHasChatTemplate() ? refusal : Status.INVALID_ARGUMENT.withDescription(noChatTemplate(req.model())));
                    }

                    @Override
                    public void onError(Throwable t) {
                        fail(refusal);
                    }

                    @Override
                    public void onCompleted() {}
                });
    }

    /** What a chat for a model without a chat template is told. */
    static String noChatTemplate(String model) {
        return "model '" + model + "' has no chat template: it is a base model (its tokenizer_config.json has no chat_template and"
                + " there is no chat_template.jinja), so it continues text but cannot chat. Send plain text to /v1/completions or"
                + " Generate, or give a chat template: chat_template in the request, a chat_template.jinja in the model's directory,"
                + " or boundless up --chat-template FILE";
    }

    /** The tokenizer's answer: ids, or an error mapped for the client. */
    private final class Unary<T> implements StreamObserver<T> {
        private final java.util.function.Function<T, int[]> ids;

        Unary(java.util.function.Function<T, int[]> ids) {
            this.ids = ids;
        }

        @Override
        public void onNext(T value) {
            onPrompt(ids.apply(value));
        }

        @Override
        public void onError(Throwable t) {
            Status s = Status.fromThrowable(t);
            if (req.messages() != null && s.getCode() == Status.Code.INVALID_ARGUMENT) {
                failChat(s);
                return;
            }
            fail(gw.tokenizerStatus(s));
        }

        @Override
        public void onCompleted() {}
    }

    private synchronized void onPrompt(int[] ids) {
        if (phase == Phase.DONE) {
            return;
        }
        if (req.ids() == null) {
            gw.metrics.tokenize.record(System.nanoTime() - startNanos, java.util.concurrent.TimeUnit.NANOSECONDS);
        }
        prompt = ids;
        int context = gw.pool.all().stream().mapToInt(Replica::contextLength).max().orElse(0);
        if (context > 0 && ids.length >= context) {
            fail(Status.INVALID_ARGUMENT.withDescription("the prompt has " + ids.length + " tokens; model '" + req.model()
                    + "' takes fewer than " + context));
            return;
        }
        samples = new Sample[req.n()];
        // each sample's detokenizer stream is opened now, while the replica computes the prompt, so
        // that the first token's text costs one message and not a new stream
        for (int i = 0; i < samples.length; i++) {
            Sample s = samples[i] = openSample(i);
            s.pending.add(new Entry(List.of(), null));
            s.decoder.onNext(firstOrNext(s).build());
        }
        tryWhole(null);
    }

    /** Sends the whole request (every sample, none started) to the best replica not tried yet, or fails with lastError's story. */
    private void tryWhole(Status lastError) {
        if (tried.isEmpty()) {
            version = gw.versionFor(req);
            if (version != null && gw.pool.admitted(version).isEmpty()) {
                version = gw.fallbackVersion(version);  // the drawn version has no replica serving: the stable one takes it
            }
        }
        List<Replica> candidates = new ArrayList<>(gw.pool.admitted(version));
        candidates.removeAll(tried);
        Replica r = tried.size() >= gw.config.maxAttempts() ? null : gw.picker.pick(prompt, candidates);
        if (r == null) {
            String why = lastError == null ? "" : "; the last one failed with " + lastError.getCode() + ": " + lastError.getDescription();
            if (lastError != null && lastError.getCode() == Status.Code.RESOURCE_EXHAUSTED) {
                fail(Status.RESOURCE_EXHAUSTED.withDescription("every inference replica of model '" + req.model() + "' is at its queue limit" + why),
                        Gateway.retryAfter(1));
            } else {
                fail(Status.UNAVAILABLE.withDescription("no inference replica of model '" + req.model() + "' is available ("
                        + gw.pool.all().size() + " configured, " + tried.size() + " tried" + why + ")"));
            }
            return;
        }
        if (!tried.isEmpty()) {
            gw.metrics.retries.increment();
        }
        tried.add(r);
        phase = Phase.ROUTED;
        var request = io.boundless.proto.inference.v1.GenerateRequest.newBuilder().setSampling(sampling()).setN(req.n()).setRequestId(req.requestId())
                .setPriority(req.batch() ? BATCH_PRIORITY : 0);
        send(new Attempt(r, samples.clone()), request);
    }

    /**
     * Continues one sample on another replica from the tokens it produced (the replica that carried it failed with why),
     * or, when none can, drains its text and ends the request with the failure once every sample's text is sent.
     */
    private void resume(Sample s, Replica from, Status why) {
        List<Replica> candidates = new ArrayList<>(gw.pool.admitted(version));  // the same version: the same model
        candidates.removeAll(failed);
        Replica r = s.resumes >= gw.config.maxAttempts() ? null : gw.picker.pick(prompt, candidates);
        if (r == null) {
            String story = "inference replica " + from + " failed after " + s.generated.size() + " tokens of sample " + s.index
                    + " had been streamed (" + why.getCode() + ": " + why.getDescription() + ") and "
                    + (s.resumes >= gw.config.maxAttempts() ? "the sample was resumed " + s.resumes + " times, the limit (boundless.router.max-attempts)"
                            : "no other replica of model '" + req.model() + "'" + (version == null ? "" : " version " + version)
                                    + " is available to continue it")
                    + "; the text sent so far is all there is";
            if (failAfterText == null) {
                failAfterText = Status.UNAVAILABLE.withDescription(story);
            }
            drain(s);
            return;
        }
        s.resumes++;
        resumedSamples++;
        gw.metrics.resumed.increment();
        phase = Phase.RESUMING;
        LOG.infof("%s: sample %d continues on replica %s after %d tokens (replica %s failed: %s)", who(), s.index, r,
                s.generated.size(), from, why.getCode());
        var resume = io.boundless.proto.inference.v1.Resume.newBuilder().addAllGeneratedIds(s.generated).setSampleIndex(s.index).setSamples(req.n());
        var request = io.boundless.proto.inference.v1.GenerateRequest.newBuilder().setSampling(sampling()).setRequestId(req.requestId())
                .setPriority(req.batch() ? BATCH_PRIORITY : 0)
                .setResume(resume);
        send(new Attempt(r, new Sample[] {s}), request);
    }

    /** The sample's text so far is sent, then it ends (no replica continues it). */
    private void drain(Sample s) {
        if (s.ended || s.done) {
            return;
        }
        s.ended = true;
        s.attempt = null;
        s.pending.add(new Entry(List.of(), null, System.nanoTime(), true));
        s.decoder.onCompleted();
    }

    private SamplingParameters.Builder sampling() {
        var s = req.sampling();
        var p = SamplingParameters.newBuilder().setTopK(s.getTopK()).setMinP(s.getMinP()).setPresencePenalty(s.getPresencePenalty())
                .setFrequencyPenalty(s.getFrequencyPenalty()).setLogprobs(s.getLogprobs()).addAllStopTokenIds(s.getStopTokenIdsList())
                .setMinNewTokens(s.getMinTokens()).setIgnoreEos(s.getIgnoreEos()).setSeed(seed).putAllLogitBias(s.getLogitBiasMap());
        if (s.hasConstraint()) {
            p.setConstraint(Gateway.toInference(s.getConstraint()));
        }
        if (s.hasTemperature()) {
            p.setTemperature(s.getTemperature());
        }
        if (s.hasTopP()) {
            p.setTopP(s.getTopP());
        }
        if (s.hasRepetitionPenalty()) {
            p.setRepetitionPenalty(s.getRepetitionPenalty());
        }
        if (s.hasMaxTokens()) {
            p.setMaxNewTokens(s.getMaxTokens());
        }
        return p;
    }

    private void send(Attempt a, io.boundless.proto.inference.v1.GenerateRequest.Builder request) {
        request.setVersion(gw.pool.deltaSource(version));  // a delta version rides on its base's replicas
        attempts.add(a);
        for (Sample s : a.samples) {
            s.attempt = a;
        }
        a.replica.acquire();
        a.unlisten = a.replica.onLost(why -> onReplicaLost(a, why));
        for (int id : prompt) {
            request.addPromptIds(id);
        }
        a.replica.stub().withDeadline(deadline).withOption(TracingInterceptor.PARENT, trace).generate(request.build(), new ClientResponseObserver<io.boundless.proto.inference.v1.GenerateRequest,
                io.boundless.proto.inference.v1.GenerateResponse>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<io.boundless.proto.inference.v1.GenerateRequest> call) {
                synchronized (Completion.this) {
                    a.call = call;
                    if (a.over && phase != Phase.DONE) {
                        call.cancel("the attempt was given up before its call started", null);
                    }
                }
            }

            @Override
            public void onNext(io.boundless.proto.inference.v1.GenerateResponse value) {
                onInference(a, value);
            }

            @Override
            public void onError(Throwable t) {
                onInferenceError(a, Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
                onInferenceCompleted(a);
            }
        });
    }

    private synchronized void onInference(Attempt a, io.boundless.proto.inference.v1.GenerateResponse m) {
        if (a.over || phase == Phase.DONE) {
            return;
        }
        if (m.hasUsage() && usage == null && a.samples.length == samples.length && a.samples[0].resumes == 0) {
            usage = m.getUsage();  // the prompt's figures, from the call that computed it first
        }
        int i = m.getSampleIndex();
        if (i >= a.samples.length) {
            fail(Status.INTERNAL.withDescription("inference replica " + a.replica + " sent sample " + i + " of " + a.samples.length));
            return;
        }
        Sample s = a.samples[i];
        if (s.done || s.ended || s.attempt != a) {
            return;
        }
        if (m.getTokensCount() > 0) {
            long now = System.nanoTime();
            if (!a.anyToken && phase != Phase.RESUMING && completionTokens == 0) {
                gw.metrics.replicaFirstToken.record(now - a.startNanos, java.util.concurrent.TimeUnit.NANOSECONDS);
            }
            if (a.anyToken) {  // the gap since the previous tokens (the first ones' wait is the prompt's prefill, not decoding speed)
                a.replica.interTokenGap(now - a.lastTokenNanos, m.getTokensCount());
            }
            a.lastTokenNanos = now;
            a.anyToken = true;
            phase = Phase.STREAMING;
            completionTokens += m.getTokensCount();
            var d = firstOrNext(s);
            for (GeneratedToken t : m.getTokensList()) {
                d.addIds(t.getTokenId());
                s.generated.add(t.getTokenId());
            }
            s.pending.add(new Entry(m.getTokensList(), null));
            s.decoder.onNext(d.build());
        }
        var finish = m.getFinishReason();
        if (finish == io.boundless.proto.inference.v1.FinishReason.FINISH_REASON_ABORTED) {
            // the replica gave the sample up (its device failed): it continues elsewhere
            failed.add(a.replica);
            s.attempt = null;
            resume(s, a.replica, Status.ABORTED.withDescription("the replica aborted the sample"));
        } else if (finish != io.boundless.proto.inference.v1.FinishReason.FINISH_REASON_UNSPECIFIED) {
            s.ended = true;
            s.pending.add(new Entry(List.of(), finish));  // answered by the rest of the text at half-close
            s.decoder.onCompleted();
        }
    }

    private DecodeStreamRequest.Builder firstOrNext(Sample s) {
        var d = DecodeStreamRequest.newBuilder();
        if (!s.started) {
            d.setModel(gw.tokenizerModel()).setSkipSpecialTokens(true);
            s.started = true;
        }
        return d;
    }

    private Sample openSample(int index) {
        Sample s = new Sample(index);
        s.decoder = (ClientCallStreamObserver<DecodeStreamRequest>) gw.tokenizer.withDeadline(deadline).withOption(TracingInterceptor.PARENT, trace).decodeStream(
                new StreamObserver<DecodeStreamResponse>() {
                    @Override
                    public void onNext(DecodeStreamResponse value) {
                        onDecoded(s, value.getText());
                    }

                    @Override
                    public void onError(Throwable t) {
                        Status st = Status.fromThrowable(t);
                        synchronized (Completion.this) {
                            if (!s.done && phase != Phase.DONE) {
                                fail(st.getCode() == Status.Code.DEADLINE_EXCEEDED
                                        ? Status.DEADLINE_EXCEEDED.withDescription("the request's deadline passed after " + completionTokens + " tokens were generated")
                                        : Status.UNAVAILABLE.withDescription("detokenization failed: " + st.getCode() + " " + st.getDescription()));
                            }
                        }
                    }

                    @Override
                    public void onCompleted() {}
                });
        return s;
    }

    private synchronized void onDecoded(Sample s, String text) {
        if (phase == Phase.DONE || s.done) {
            return;
        }
        Entry e = s.pending.poll();
        if (e == null) {
            fail(Status.INTERNAL.withDescription("the tokenizer's decode stream sent more text than was asked for"));
            return;
        }
        String out = s.stop.add(text);
        FinishReason reason = FinishReason.FINISH_REASON_UNSPECIFIED;
        if (e.drain()) {  // no replica continues the sample: send what its tokens said, then end the request with the failure
            if (!s.stop.stopped()) {
                out += s.stop.finish();
            }
            if (!out.isEmpty()) {
                sink.onChunk(GenerateResponse.newBuilder().setIndex(s.index).setText(out).build());
            }
            s.done = true;
            maybeComplete();
            return;
        }
        if (s.stop.stopped()) {
            reason = FinishReason.FINISH_REASON_STOP;
            s.decoder.cancel("stop string matched", null);
        } else if (e.finish() != null) {
            out += s.stop.finish();
            reason = switch (e.finish()) {
                case FINISH_REASON_LENGTH -> FinishReason.FINISH_REASON_LENGTH;
                case FINISH_REASON_STOP -> FinishReason.FINISH_REASON_STOP;
                default -> {  // ABORTED never queues (the sample resumes elsewhere); an unknown reason is a replica's bug
                    fail(Status.INTERNAL.withDescription("an inference replica ended sample " + s.index + " with " + e.finish()));
                    yield null;
                }
            };
            if (reason == null) {
                return;
            }
        }
        if (out.isEmpty() && e.tokens().isEmpty() && reason == FinishReason.FINISH_REASON_UNSPECIFIED) {
            return;
        }
        var chunk = GenerateResponse.newBuilder().setIndex(s.index).setText(out).setFinishReason(reason);
        if (!e.tokens().isEmpty()) {
            addTokens(chunk, e.tokens());
        }
        sink.onChunk(chunk.build());
        long now = System.nanoTime();
        if (!e.tokens().isEmpty()) {
            gw.metrics.detokenize.record(now - e.arrived(), java.util.concurrent.TimeUnit.NANOSECONDS);
            if (!firstText) {
                firstText = true;
                gw.metrics.timeToFirstToken.record(now - startNanos, java.util.concurrent.TimeUnit.NANOSECONDS);
                firstTextNanos = now;
            }
        }
        if (reason != FinishReason.FINISH_REASON_UNSPECIFIED) {
            s.done = true;
            maybeComplete();
        }
    }

    private void addTokens(GenerateResponse.Builder chunk, List<GeneratedToken> tokens) {
        boolean alternatives = req.sampling().getLogprobs() > 0;
        for (GeneratedToken t : tokens) {
            Token.Builder b = Token.newBuilder().setTokenId(t.getTokenId()).setLogprob(t.getLogprob());
            if (alternatives && t.getTopLogprobsCount() > 0) {
                int[] ids = t.getTopLogprobsList().stream().mapToInt(a -> a.getTokenId()).toArray();
                String[] texts;
                try {
                    texts = gw.pieces(ids, deadline);
                } catch (StatusRuntimeException e) {
                    texts = new String[ids.length];
                    java.util.Arrays.fill(texts, "");
                    LOG.debugf("no token texts for logprobs: %s", e.getStatus());
                }
                for (int k = 0; k < ids.length; k++) {
                    b.addTopLogprobs(TopLogprob.newBuilder().setTokenId(ids[k]).setText(texts[k]).setLogprob(t.getTopLogprobs(k).getLogprob()));
                }
            }
            chunk.addTokens(b);
        }
    }

    private void maybeComplete() {
        for (Sample s : samples) {
            if (!s.done) {
                return;
            }
        }
        if (failAfterText != null) {
            fail(failAfterText);
            return;
        }
        Usage.Builder u = Usage.newBuilder().setPromptTokens(prompt.length).setCompletionTokens(completionTokens);
        if (usage != null) {
            u.setPromptTokens(usage.getPromptTokens()).setCachedPromptTokens(usage.getCachedPromptTokens());
        }
        phase = Phase.DONE;
        stopAll("every sample has ended (stop string)");  // a call still running is cancelled: frees the replica's KV blocks
        release();
        gw.metrics.outcome("ok");
        accessLog("ok");
        sink.onChunk(GenerateResponse.newBuilder().setUsage(u).build());
        sink.onCompleted();
    }

    /** The replica was given up while this call was on it (why: what it did): as a failure of the call, and the call cancelled. */
    private synchronized void onReplicaLost(Attempt a, String why) {
        if (a.over || phase == Phase.DONE) {
            return;
        }
        ClientCallStreamObserver<?> call = a.call;
        LOG.infof("%s: replica %s was given up: %s; its samples continue elsewhere", who(), a.replica, why);
        onInferenceError(a, Status.UNAVAILABLE.withDescription("inference replica " + a.replica + " was given up: " + why));
        if (call != null) {
            call.cancel("the replica was given up: " + why, null);
        }
    }

    private synchronized void onInferenceError(Attempt a, Status status) {
        if (a.over || phase == Phase.DONE) {
            return;
        }
        a.end(null);
        boolean tokensSoFar = false;
        for (Sample s : a.samples) {
            tokensSoFar |= !s.generated.isEmpty();
        }
        switch (ResumePolicy.onFailure(status.getCode(), tokensSoFar)) {
            case RETRY -> {
                if (ResumePolicy.ejects(status.getCode())) {
                    gw.metrics.ejections.increment();
                    gw.pool.eject(a.replica, status.getCode() + " " + status.getDescription());
                    failed.add(a.replica);
                }
                if (a.samples.length == samples.length && a.samples[0].resumes == 0) {
                    LOG.infof("%s: replica %s failed before the first token (%s); trying another", who(), a.replica, status.getCode());
                    tryWhole(status);
                } else {
                    failed.add(a.replica);
                    unfinished(a).forEach(s -> resume(s, a.replica, status));
                    maybeComplete();
                }
            }
            case RESUME -> {
                if (ResumePolicy.ejects(status.getCode())) {
                    gw.metrics.ejections.increment();
                    gw.pool.eject(a.replica, status.getCode() + " " + status.getDescription());
                }
                failed.add(a.replica);
                unfinished(a).forEach(s -> resume(s, a.replica, status));
                maybeComplete();
            }
            case FAIL -> {
                if (status.getCode() == Status.Code.DEADLINE_EXCEEDED) {
                    fail(status.withDescription(completionTokens == 0 ? status.getDescription()
                            : "the request's deadline passed after " + completionTokens + " tokens were generated"));
                } else if (status.getCode() == Status.Code.CANCELLED && completionTokens > 0) {  // not the replica's fault
                    fail(Status.CANCELLED.withDescription("the inference call was cancelled after " + completionTokens + " tokens: " + status.getDescription()));
                } else if (!tokensSoFar) {
                    fail(status);
                } else {
                    // the replica refused to continue (its model differs, say): what was received is sent, then the refusal
                    if (failAfterText == null) {
                        failAfterText = Status.fromCode(status.getCode()).withDescription("inference replica " + a.replica + " refused to continue the stream after "
                                + completionTokens + " tokens: " + status.getDescription());
                    }
                    unfinished(a).forEach(this::drain);
                    maybeComplete();
                }
            }
        }
    }

    /** The samples an attempt carried that have not ended. */
    private List<Sample> unfinished(Attempt a) {
        List<Sample> out = new ArrayList<>();
        for (Sample s : a.samples) {
            if (s.attempt == a && !s.ended && !s.done) {
                s.attempt = null;
                out.add(s);
            }
        }
        return out;
    }

    private synchronized void onInferenceCompleted(Attempt a) {
        if (a.over || phase == Phase.DONE) {
            return;
        }
        a.end(null);
        List<Sample> cut = unfinished(a);
        if (!cut.isEmpty()) {  // the stream ended before every sample finished: the replica is at fault, the samples continue
            Status why = Status.INTERNAL.withDescription("inference replica " + a.replica + " ended the stream before every sample finished");
            failed.add(a.replica);
            cut.forEach(s -> resume(s, a.replica, why));
            maybeComplete();
        }
    }

    /**
     * The router is stopping and this request did not finish within its grace: it ends with UNAVAILABLE and
     * Retry-After (after the text already sent), so the client retries on another router or this one restarted.
     */
    synchronized void shutDown() {
        fail(Status.UNAVAILABLE.withDescription("the router is shutting down: the request ended after " + completionTokens
                + " generated tokens; retry it (another router replica, or this one once restarted, serves it)"));
    }

    /** The client went away (or cancelled): stop the inference streams, which frees their KV blocks. */
    public synchronized void cancel() {
        end("the client cancelled", "cancelled");
    }

    /**
     * The router itself needs no more of this request (a reasoning strategy's vote is settled): its streams are
     * stopped as for a cancel, and it counts as outcome "stopped", not as a client's cancel.
     */
    public synchronized void stop() {
        end("the router stopped the request: its answer is settled", "stopped");
    }

    private void end(String why, String outcome) {
        if (phase == Phase.DONE) {
            return;
        }
        phase = Phase.DONE;
        stopAll(why);
        release();
        gw.metrics.outcome(outcome);
    }

    private synchronized void fail(Status status) {
        fail(status, null);
    }

    private synchronized void fail(Status status, io.grpc.Metadata trailers) {
        if (phase == Phase.DONE) {
            return;
        }
        phase = Phase.DONE;
        if (status.getCause() != null) {  // a local failure (a message that did not parse, say): the client gets the status, the log the cause
            LOG.warnf(status.getCause(), "%s failed: %s %s", who(), status.getCode(), status.getDescription());
        }
        stopAll(status.getDescription());
        release();
        gw.metrics.outcome(status.getCode().name().toLowerCase(java.util.Locale.ROOT));
        accessLog(status.getCode().name());
        if (trailers == null && status.getCode() == Status.Code.UNAVAILABLE) {
            trailers = Gateway.retryAfter(1);  // a service or every replica is down for now: the client may retry (a restart takes seconds)
        }
        sink.onError(status.asRuntimeException(trailers));
    }

    /** Cancels every inference call still running and every detokenizer stream. */
    private void stopAll(String why) {
        for (Attempt a : attempts) {
            a.end(why);
        }
        if (samples != null) {
            for (Sample s : samples) {
                if (s != null && !s.done) {
                    s.decoder.cancel(why, null);
                }
            }
        }
    }

    private void release() {
        if (!released) {
            released = true;
            for (Attempt a : attempts) {
                a.end(null);
            }
            if (resumedSamples > 0) {
                LOG.debugf("%s: %d samples resumed", who(), resumedSamples);
            }
            gw.releaseAdmission(this, req, lease, (prompt == null ? 0 : prompt.length) + completionTokens);
        }
    }

    private static int[] toInts(List<Integer> ids) {
        int[] a = new int[ids.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = ids.get(i);
        }
        return a;
    }
}
