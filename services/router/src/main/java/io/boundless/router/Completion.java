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
 * one; after a token arrived the request ends with an error instead, so no text is ever duplicated,
 * and only after the text of every token received has been sent, so none is lost.
 * All events (inference, tokenizer, client) are handled under this object's lock.
 */
public final class Completion {
    private static final Logger LOG = Logger.getLogger(Completion.class);

    private final Gateway gw;
    private final TextRequest req;
    private final Deadline deadline;
    private final CompletionSink sink;
    private final Set<Replica> tried = new HashSet<>();
    private final long startNanos = System.nanoTime();
    private long callNanos;
    private boolean firstText;

    private int[] prompt;
    private Replica replica;
    private ClientCallStreamObserver<?> inferenceCall;
    private int attempt;
    private boolean anyToken;
    private boolean inferenceDone;
    private boolean finished;
    private boolean released;
    private Sample[] samples;
    private io.boundless.proto.inference.v1.Usage usage;
    private int completionTokens;
    /** The replica failed after tokens: the request ends with this once the samples' text so far is sent. */
    private Status failAfterText;

    /** One sample's detokenizer stream and the token groups awaiting their text. */
    private final class Sample {
        final int index;
        final StopMatcher stop = new StopMatcher(req.sampling().getStopList());
        final ArrayDeque<Entry> pending = new ArrayDeque<>();
        ClientCallStreamObserver<DecodeStreamRequest> decoder;
        boolean started;  // the first message, which names the model, was sent
        boolean done;

        Sample(int index) {
            this.index = index;
        }
    }

    /**
     * Tokens sent to a decode stream (and when they arrived from inference), or the stream's end: the sample's
     * finish, or (drain) the end of a sample whose replica failed.
     */
    private record Entry(List<GeneratedToken> tokens, io.boundless.proto.inference.v1.FinishReason finish, long arrived, boolean drain) {
        Entry(List<GeneratedToken> tokens, io.boundless.proto.inference.v1.FinishReason finish) {
            this(tokens, finish, System.nanoTime(), false);
        }
    }

    Completion(Gateway gw, TextRequest req, Deadline deadline, CompletionSink sink) {
        this.gw = gw;
        this.req = req;
        this.deadline = deadline;
        this.sink = sink;
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
        var stub = gw.tokenizer.withDeadline(deadline);
        if (req.text() != null) {
            stub.encode(EncodeRequest.newBuilder().setModel(gw.tokenizerModel()).setText(req.text()).setAddSpecialTokens(true).build(),
                    new Unary<EncodeResponse>(r -> toInts(r.getIdsList())));
        } else {
            var b = ApplyChatTemplateRequest.newBuilder().setModel(gw.tokenizerModel()).setAddGenerationPrompt(true);
            for (var m : req.messages()) {
                b.addMessages(io.boundless.proto.tokenizer.v1.ChatMessage.newBuilder().setRole(m.getRole()).setContent(m.getContent()));
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
        gw.tokenizer.withDeadline(deadline).getTokenizerInfo(GetTokenizerInfoRequest.newBuilder().setModel(gw.tokenizerModel()).build(),
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
            fail(switch (s.getCode()) {
                case INVALID_ARGUMENT, DEADLINE_EXCEEDED, CANCELLED -> s;
                case NOT_FOUND -> Status.FAILED_PRECONDITION.withDescription("the tokenizer service has no tokenizer for model '"
                        + gw.tokenizerModel() + "': " + s.getDescription());
                default -> Status.UNAVAILABLE.withDescription("the tokenizer service failed: " + s.getCode() + " " + s.getDescription());
            });
        }

        @Override
        public void onCompleted() {}
    }

    private synchronized void onPrompt(int[] ids) {
        if (finished) {
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
        tryReplica(null);
    }

    /** Sends the request to the best replica not tried yet, or fails with lastError's story. */
    private void tryReplica(Status lastError) {
        List<Replica> candidates = new ArrayList<>(gw.pool.admitted());
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
        replica = r;
        r.acquire();
        callNanos = System.nanoTime();
        int mine = ++attempt;
        var s = req.sampling();
        var p = SamplingParameters.newBuilder().setTopK(s.getTopK()).setMinP(s.getMinP()).setPresencePenalty(s.getPresencePenalty())
                .setFrequencyPenalty(s.getFrequencyPenalty()).setLogprobs(s.getLogprobs()).addAllStopTokenIds(s.getStopTokenIdsList())
                .setMinNewTokens(s.getMinTokens()).setIgnoreEos(s.getIgnoreEos());
        if (s.hasTemperature()) {
            p.setTemperature(s.getTemperature());
        }
        if (s.hasTopP()) {
            p.setTopP(s.getTopP());
        }
        if (s.hasRepetitionPenalty()) {
            p.setRepetitionPenalty(s.getRepetitionPenalty());
        }
        if (s.hasSeed()) {
            p.setSeed(s.getSeed());
        }
        if (s.hasMaxTokens()) {
            p.setMaxNewTokens(s.getMaxTokens());
        }
        var request = io.boundless.proto.inference.v1.GenerateRequest.newBuilder().setSampling(p).setN(req.n()).setRequestId(req.requestId());
        for (int id : prompt) {
            request.addPromptIds(id);
        }
        r.stub().withDeadline(deadline).generate(request.build(), new ClientResponseObserver<io.boundless.proto.inference.v1.GenerateRequest,
                io.boundless.proto.inference.v1.GenerateResponse>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<io.boundless.proto.inference.v1.GenerateRequest> call) {
                synchronized (Completion.this) {
                    inferenceCall = call;
                }
            }

            @Override
            public void onNext(io.boundless.proto.inference.v1.GenerateResponse value) {
                onInference(mine, value);
            }

            @Override
            public void onError(Throwable t) {
                onInferenceError(mine, Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
                onInferenceCompleted(mine);
            }
        });
    }

    private synchronized void onInference(int from, io.boundless.proto.inference.v1.GenerateResponse m) {
        if (from != attempt || finished) {
            return;
        }
        if (m.hasUsage()) {
            usage = m.getUsage();
        }
        int i = m.getSampleIndex();
        if (i >= samples.length) {
            fail(Status.INTERNAL.withDescription("inference replica " + replica + " sent sample " + i + " of " + samples.length));
            return;
        }
        Sample s = samples[i];
        if (s.done) {
            return;
        }
        if (m.getTokensCount() > 0) {
            if (!anyToken) {
                gw.metrics.replicaFirstToken.record(System.nanoTime() - callNanos, java.util.concurrent.TimeUnit.NANOSECONDS);
            }
            anyToken = true;
            completionTokens += m.getTokensCount();
            var d = firstOrNext(s);
            for (GeneratedToken t : m.getTokensList()) {
                d.addIds(t.getTokenId());
            }
            s.pending.add(new Entry(m.getTokensList(), null));
            s.decoder.onNext(d.build());
        }
        if (m.getFinishReason() != io.boundless.proto.inference.v1.FinishReason.FINISH_REASON_UNSPECIFIED) {
            s.pending.add(new Entry(List.of(), m.getFinishReason()));  // answered by the rest of the text at half-close
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
        s.decoder = (ClientCallStreamObserver<DecodeStreamRequest>) gw.tokenizer.withDeadline(deadline).decodeStream(
                new StreamObserver<DecodeStreamResponse>() {
                    @Override
                    public void onNext(DecodeStreamResponse value) {
                        onDecoded(s, value.getText());
                    }

                    @Override
                    public void onError(Throwable t) {
                        Status st = Status.fromThrowable(t);
                        synchronized (Completion.this) {
                            if (!s.done && !finished) {
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
        if (finished || s.done) {
            return;
        }
        Entry e = s.pending.poll();
        if (e == null) {
            fail(Status.INTERNAL.withDescription("the tokenizer's decode stream sent more text than was asked for"));
            return;
        }
        String out = s.stop.add(text);
        FinishReason reason = FinishReason.FINISH_REASON_UNSPECIFIED;
        if (e.drain()) {  // the replica failed: send what its tokens said, then end the request with the failure
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
                default -> {
                    fail(Status.UNAVAILABLE.withDescription("inference replica " + replica + " aborted the sample"));
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
        if (!inferenceDone && inferenceCall != null) {
            inferenceCall.cancel("every sample has ended (stop string)", null); // frees the replica's KV blocks
        }
        Usage.Builder u = Usage.newBuilder().setPromptTokens(prompt.length).setCompletionTokens(completionTokens);
        if (usage != null) {
            u.setPromptTokens(usage.getPromptTokens()).setCachedPromptTokens(usage.getCachedPromptTokens());
        }
        finished = true;
        release();
        gw.metrics.outcome("ok");
        sink.onChunk(GenerateResponse.newBuilder().setUsage(u).build());
        sink.onCompleted();
    }

    private synchronized void onInferenceError(int from, Status status) {
        if (from != attempt || finished) {
            return;
        }
        Replica failed = replica;
        failed.release();
        replica = null;
        inferenceCall = null;
        if (!anyToken) {
            switch (status.getCode()) {
                case UNAVAILABLE, INTERNAL, UNKNOWN, ABORTED, DATA_LOSS, RESOURCE_EXHAUSTED -> {
                    if (status.getCode() != Status.Code.RESOURCE_EXHAUSTED) {
                        gw.metrics.ejections.increment();
        gw.pool.eject(failed, status.getCode() + " " + status.getDescription());
                    }
                    LOG.infof("request %s: replica %s failed before the first token (%s); trying another", req.requestId(), failed, status.getCode());
                    tryReplica(status);
                    return;
                }
                default -> {
                    fail(status);
                    return;
                }
            }
        }
        if (status.getCode() == Status.Code.DEADLINE_EXCEEDED) {
            fail(status.withDescription("the request's deadline passed after " + completionTokens + " tokens were generated"));
            return;
        }
        if (status.getCode() == Status.Code.CANCELLED) {  // not the replica's fault
            fail(Status.CANCELLED.withDescription("the inference call was cancelled after " + completionTokens + " tokens: " + status.getDescription()));
            return;
        }
        gw.metrics.ejections.increment();
        gw.pool.eject(failed, status.getCode() + " " + status.getDescription());
        failAfterText = Status.UNAVAILABLE.withDescription("inference replica " + failed + " failed after " + completionTokens
                + " tokens had been streamed (" + status.getCode() + ": " + status.getDescription()
                + "); the text sent so far is all there is: the request is not retried, so that no text is repeated");
        // the tokens that arrived are still being detokenized: each open sample's decode stream is closed, and its last
        // answer (the rest of the text) is sent before the request fails
        for (Sample s : samples) {
            if (!s.done && s.pending.stream().noneMatch(e -> e.finish() != null)) {
                s.pending.add(new Entry(List.of(), null, System.nanoTime(), true));
                s.decoder.onCompleted();
            }
        }
        maybeComplete();
    }

    private synchronized void onInferenceCompleted(int from) {
        if (from != attempt || finished) {
            return;
        }
        inferenceDone = true;
        if (replica != null) {
            replica.release();
            replica = null;
        }
        for (Sample s : samples) {
            if (!s.done && s.pending.stream().noneMatch(e -> e.finish() != null)) {
                fail(Status.INTERNAL.withDescription("inference replica ended the stream before every sample finished"));
                return;
            }
        }
    }

    /** The client went away (or cancelled): stop the inference stream, which frees its KV blocks. */
    public synchronized void cancel() {
        if (finished) {
            return;
        }
        finished = true;
        stopAll("the client cancelled");
        release();
        gw.metrics.outcome("cancelled");
    }

    private synchronized void fail(Status status) {
        fail(status, null);
    }

    private synchronized void fail(Status status, io.grpc.Metadata trailers) {
        if (finished) {
            return;
        }
        finished = true;
        stopAll(status.getDescription());
        release();
        gw.metrics.outcome(status.getCode().name().toLowerCase(java.util.Locale.ROOT));
        sink.onError(status.asRuntimeException(trailers));
    }

    private void stopAll(String why) {
        if (inferenceCall != null && !inferenceDone) {
            inferenceCall.cancel(why, null);
        }
        if (samples != null) {
            for (Sample s : samples) {
                if (s != null) {
                    s.decoder.cancel(why, null);
                }
            }
        }
    }

    private void release() {
        if (!released) {
            released = true;
            if (replica != null) {
                replica.release();
                replica = null;
            }
            gw.releaseAdmission();
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
