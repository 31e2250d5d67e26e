package io.boundless.engine.sched;

import io.boundless.engine.backend.Backend;
import io.boundless.engine.backend.BackendFailure;
import io.boundless.engine.backend.Backends;
import io.boundless.engine.backend.RowNeed;
import io.boundless.engine.backend.StepOutput;
import io.boundless.engine.kv.BlockManager;
import io.boundless.engine.model.ModelConfig;
import io.boundless.engine.model.ModelWeights;
import io.boundless.engine.model.Overlay;
import io.boundless.engine.model.Transformer;
import io.boundless.engine.sample.Sampler;
import io.boundless.engine.sample.SamplingParams;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The engine loop: requests come in from any thread; one engine thread repeats
 * schedule → execute → update (vLLM's {@code step()}): the scheduler picks this step's work, the
 * backend (CPU or CUDA) computes it in one batch, and the sampler turns each finished row into a
 * token. The engine asks the backend for as little of each logits row as its sampling needs
 * (the argmax, or the top candidates, see {@link #need}), so that a GPU sends a few numbers
 * instead of a vocabulary of floats.
 */
public final class Engine implements AutoCloseable {
    private final Backend backend;
    private final ModelConfig model;
    private final BlockManager blocks;
    private final Scheduler scheduler;
    private final EngineConfig config;
    private final ConcurrentLinkedQueue<Runnable> inbox = new ConcurrentLinkedQueue<>();
    private final Map<Long, Sequence> live = new HashMap<>();          // engine thread only
    private final AtomicLong ids = new AtomicLong();
    private final AtomicLong queued = new AtomicLong();                // submitted, not yet finished
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition wake = lock.newCondition();
    private volatile boolean closed;
    private volatile io.boundless.engine.grammar.TokenMasker masker;   // the vocabulary's bytes, for constrained outputs
    private final io.boundless.engine.grammar.Constraint.Cache constraints = new io.boundless.engine.grammar.Constraint.Cache(256);
    private Thread thread;
    // statistics (written by the engine thread)
    private volatile long busyNanos;
    private volatile long steps;
    private volatile int runningNow;
    private volatile int waitingNow;

    /** An engine on the backend the config asks for (see {@link Backends}). */
    public Engine(ModelWeights weights, EngineConfig config) {
        this(weights.config(), config, Backends.create(weights, config));
    }

    /** An engine on a given backend, which it closes when it closes. */
    public Engine(ModelConfig model, EngineConfig config, Backend backend) {
        this.model = model;
        this.config = config;
        this.backend = backend;
        this.blocks = new BlockManager(backend.numBlocks(), backend.blockSize());
        this.scheduler = new Scheduler(blocks, config.maxBatchTokens(), config.maxRunning());
    }

    public ModelConfig model() {
        return model;
    }

    /** "cpu" or "cuda". */
    public String backendName() {
        return backend.name();
    }

    /** The GPU's PCI bus id when the backend is a GPU. */
    public java.util.Optional<String> pciBusId() {
        return backend.pciBusId();
    }

    /** The backend's device in words. */
    public String device() {
        return backend.device();
    }

    /** The engine's backend failed for good; no request can be served here any more (UNAVAILABLE). */
    public static final class UnavailableException extends RuntimeException {
        public UnavailableException(String message) {
            super(message);
        }
    }

    private volatile BackendFailure failure;
    private volatile java.util.function.Consumer<BackendFailure> failureListener = f -> { };

    /** Heard once, on the engine thread, when the backend fails for good. */
    public void onFailure(java.util.function.Consumer<BackendFailure> listener) {
        this.failureListener = listener;
    }

    /** Why the engine stopped serving, if its backend failed for good. */
    public java.util.Optional<String> failure() {
        BackendFailure f = failure;
        return f == null ? java.util.Optional.empty() : java.util.Optional.of("the " + backend.name() + " backend failed: " + f.getMessage());
    }

    private void checkUsable() {
        if (failure != null) {
            throw new UnavailableException(failure().orElseThrow() + "; this replica serves no more requests and should be restarted");
        }
    }

    /**
     * The bytes of each token, which constrained outputs (JSON schemas, patterns, choices, grammars) need to
     * mask the tokens that would break the output. Without it such requests are refused.
     */
    public void setVocabulary(io.boundless.engine.grammar.TokenVocabulary vocabulary) {
        if (vocabulary.size() != model.vocabSize()) {
            throw new IllegalArgumentException("the vocabulary has " + vocabulary.size() + " tokens; the model has " + model.vocabSize());
        }
        this.masker = new io.boundless.engine.grammar.TokenMasker(vocabulary);
    }

    /** The token masker of the vocabulary set with {@link #setVocabulary}, or null. */
    public io.boundless.engine.grammar.TokenMasker masker() {
        return masker;
    }

    /** The engine refused a request because its queue is full (RESOURCE_EXHAUSTED). */
    public static final class OverloadedException extends RuntimeException {
        public OverloadedException(String message) {
            super(message);
        }
    }

    /**
     * Queues a prompt for n samples (which share the prompt's KV blocks). Returns the sequence ids;
     * the listener hears each one's tokens and its end. Bad input is an IllegalArgumentException
     * naming the value; a full queue is an OverloadedException.
     */
    public long[] submit(int[] prompt, SamplingParams params, int n, int priority, SequenceListener listener) {
        return submit(prompt, params, n, priority, listener, null);
    }

    /** {@link #submit} served with an overlay (an edited version over these base weights); null is the base. */
    public long[] submit(int[] prompt, SamplingParams params, int n, int priority, SequenceListener listener, Overlay overlay) {
        checkUsable();
        checkOverlay(overlay);
        if (n < 1 || n > 128) {
            throw new IllegalArgumentException("n must be 1 to 128, got " + n);
        }
        io.boundless.engine.grammar.Matcher.State grammar = constraintStart(params);
        checkAdmissible(prompt, params);
        long seed = params.seed() != null ? params.seed() : new SplittableRandom().nextLong();
        long id = ids.getAndAdd(n);
        long[] out = new long[n];
        for (int i = 0; i < n; i++) {
            out[i] = id + i;
        }
        queued.addAndGet(n);
        long arrival = System.nanoTime();
        post(() -> {
            Sequence s = new Sequence(id, prompt.clone(), params, priority, arrival, new SplittableRandom(seed), listener);
            s.overlay = overlay;
            s.grammar = grammar;
            s.pendingSamples = n - 1;
            live.put(id, s);
            scheduler.add(s);
        });
        return out;
    }

    /** A delta version on a backend that cannot apply it is refused, never served with the base's weights. */
    private void checkOverlay(Overlay overlay) {
        if (overlay != null && !backend.servesOverlays()) {
            throw new IllegalStateException("the " + backend.name() + " backend does not serve delta versions yet (" + overlay.name()
                    + "): serve edits from a CPU pool");
        }
    }

    /**
     * A constrained request's matcher at its start (compiled once per constraint), or null without one.
     * A constraint that does not compile, or whose shortest output does not fit max_new_tokens, is refused.
     */
    private io.boundless.engine.grammar.Matcher.State constraintStart(SamplingParams params) {
        if (params.constraint() == null) {
            return null;
        }
        if (masker == null) {
            throw new IllegalArgumentException("structured outputs need the model's vocabulary (tokenizer.json or GGUF metadata), which this"
                    + " replica did not load");
        }
        io.boundless.engine.grammar.Matcher.State start = constraints.matcher(params.constraint()).initial;
        if (start.minBytes > params.maxNewTokens()) {
            throw new IllegalArgumentException("max_new_tokens " + params.maxNewTokens() + " is too few for the "
                    + params.constraint().kind().name().toLowerCase(java.util.Locale.ROOT).replace('_', ' ') + ": its shortest output takes "
                    + start.minBytes + " tokens");
        }
        return start;
    }

    private void checkAdmissible(int[] prompt, SamplingParams params) {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt is empty");
        }
        for (int i = 0; i < prompt.length; i++) {
            if (prompt[i] < 0 || prompt[i] >= model.vocabSize()) {
                throw new IllegalArgumentException("token id " + prompt[i] + " at position " + i + " is outside the vocabulary of " + model.vocabSize());
            }
        }
        for (int id : params.logitBias().keySet()) {
            if (id >= model.vocabSize()) {
                throw new IllegalArgumentException("logit_bias names token id " + id + ", outside the vocabulary of " + model.vocabSize());
            }
        }
        if (prompt.length >= model.maxPositions()) {
            throw new IllegalArgumentException("the prompt has " + prompt.length + " tokens; the model's context is " + model.maxPositions()
                    + " and leaves no room to generate");
        }
        int maxLen = Math.min(model.maxPositions(), prompt.length + params.maxNewTokens());
        if (blocks.blocksFor(maxLen) > blocks.totalBlocks()) {
            throw new IllegalArgumentException("prompt plus max_new_tokens (" + maxLen + " tokens) needs more KV blocks than the cache has ("
                    + blocks.totalBlocks() + " of " + config.blockSize() + ")");
        }
        if (queued.get() >= config.maxWaiting() + config.maxRunning()) {
            throw new OverloadedException("the engine has " + queued.get() + " requests in flight, its limit (max running "
                    + config.maxRunning() + " + max waiting " + config.maxWaiting() + ")");
        }
    }

    /**
     * Queues the rest of one sample that was being generated elsewhere (a replica that died, a call that
     * broke): the prompt, the tokens the sample had produced, and which sample it was (index of how many
     * the original request asked for). Its keys and values are recomputed (the preemption path), and its
     * random stream is the one the original sample had at that token: the leader's stream split once per
     * fork, as {@link #submit} splits it, then advanced by one draw per sampled token. So with a seed (or
     * greedy) the continuation equals the uninterrupted run token for token; without one it is a valid
     * sample. max_new_tokens and min_new_tokens count the tokens already produced. A sample that had
     * already ended (its last token a stop, or its length reached) ends at once, without computing.
     * The listener hears the new tokens only, and the sequence's sampleIndex is 0 (one sample per call).
     */
    public long resume(int[] prompt, int[] generated, SamplingParams params, int sampleIndex, int samples, int priority,
            SequenceListener listener) {
        return resume(prompt, generated, params, sampleIndex, samples, priority, listener, null);
    }

    /** {@link #resume} served with an overlay; null is the base. */
    public long resume(int[] prompt, int[] generated, SamplingParams params, int sampleIndex, int samples, int priority,
            SequenceListener listener, Overlay overlay) {
        checkUsable();
        checkOverlay(overlay);
        if (samples < 1 || samples > 128 || sampleIndex < 0 || sampleIndex >= samples) {
            throw new IllegalArgumentException("a resumed sample is one of 1 to 128 samples (index 0 to samples - 1), not "
                    + sampleIndex + " of " + samples);
        }
        checkAdmissible(prompt, params);
        for (int i = 0; i < generated.length; i++) {
            if (generated[i] < 0 || generated[i] >= model.vocabSize()) {
                throw new IllegalArgumentException("generated token id " + generated[i] + " at position " + i + " is outside the vocabulary of "
                        + model.vocabSize());
            }
        }
        if (generated.length > params.maxNewTokens()) {
            throw new IllegalArgumentException(generated.length + " tokens were generated already, more than max_new_tokens ("
                    + params.maxNewTokens() + ")");
        }
        io.boundless.engine.grammar.Matcher.State grammar = constraintStart(params);
        if (grammar != null) {
            for (int i = 0; i < generated.length; i++) {
                byte[] b = masker.vocabulary().bytes(generated[i]);
                if (b != null) {
                    grammar = grammar.advance(b);
                }
                if (grammar.isDead()) {
                    throw new IllegalArgumentException("generated token " + generated[i] + " at position " + i + " breaks the constraint");
                }
            }
        }
        io.boundless.engine.grammar.Matcher.State resumedGrammar = grammar;
        long seed = params.seed() != null ? params.seed() : new SplittableRandom().nextLong();
        SplittableRandom rng = sampleStream(seed, sampleIndex, samples, params.isGreedy() ? 0 : generated.length);
        long id = ids.getAndIncrement();
        queued.incrementAndGet();
        long arrival = System.nanoTime();
        post(() -> {
            Sequence s = new Sequence(id, prompt.clone(), params, priority, arrival, rng, listener);
            s.overlay = overlay;
            s.grammar = resumedGrammar;
            for (int t : generated) {
                s.append(t, model.vocabSize());
            }
            Sequence.FinishReason ended = endOf(s, generated.length == 0 ? -1 : generated[generated.length - 1]);
            if (ended != null) {
                s.status = Sequence.Status.FINISHED;
                s.finishReason = ended;
                queued.decrementAndGet();
                listener.onFinish(s, ended);
                return;
            }
            live.put(id, s);
            scheduler.add(s);
        });
        return id;
    }

    /**
     * The random stream of sample sampleIndex of a request for samples samples with this seed, after
     * drawn draws: {@link #submit} gives the leader new SplittableRandom(seed) and each fork, in order,
     * leader.split() before the leader's first draw; the sampler then draws one number per token.
     */
    static SplittableRandom sampleStream(long seed, int sampleIndex, int samples, int drawn) {
        SplittableRandom leader = new SplittableRandom(seed);
        SplittableRandom mine = leader;
        for (int k = 1; k < samples; k++) {
            SplittableRandom fork = leader.split();
            if (k == sampleIndex) {
                mine = fork;
            }
        }
        for (int i = 0; i < drawn; i++) {
            mine.nextDouble();
        }
        return mine;
    }

    /**
     * Queues a Score request: the log-probability of each continuation token after the prompt and
     * the continuation before it, with up to topN alternatives. The listener's onScore gets it.
     */
    public long score(int[] prompt, int[] continuation, int topN, SequenceListener listener) {
        return score(prompt, continuation, topN, listener, null);
    }

    /** {@link #score} with an overlay; null is the base. */
    public long score(int[] prompt, int[] continuation, int topN, SequenceListener listener, Overlay overlay) {
        checkUsable();
        checkOverlay(overlay);
        if (prompt.length == 0 || continuation.length == 0) {
            throw new IllegalArgumentException("Score needs a non-empty prompt and continuation");
        }
        if (topN < 0 || topN > SamplingParams.MAX_LOGPROBS) {
            throw new IllegalArgumentException("top_logprobs must be 0 to " + SamplingParams.MAX_LOGPROBS + ", got " + topN);
        }
        int[] all = new int[prompt.length + continuation.length];
        System.arraycopy(prompt, 0, all, 0, prompt.length);
        System.arraycopy(continuation, 0, all, prompt.length, continuation.length);
        for (int i = 0; i < all.length; i++) {
            if (all[i] < 0 || all[i] >= model.vocabSize()) {
                throw new IllegalArgumentException("token id " + all[i] + " at position " + i + " is outside the vocabulary of " + model.vocabSize());
            }
        }
        if (all.length > model.maxPositions()) {
            throw new IllegalArgumentException("prompt and continuation have " + all.length + " tokens; the model's context is " + model.maxPositions());
        }
        if (blocks.blocksFor(all.length) > blocks.totalBlocks()) {
            throw new IllegalArgumentException(all.length + " tokens need more KV blocks than the cache has");
        }
        if (queued.get() >= config.maxWaiting() + config.maxRunning()) {
            throw new OverloadedException("the engine has " + queued.get() + " requests in flight, its limit");
        }
        SamplingParams params = new SamplingParams(0, 0, 1, 0, 1, 0, 0, 0L, topN, List.of(), 1, 0, true);
        long id = ids.getAndIncrement();
        queued.incrementAndGet();
        long arrival = System.nanoTime();
        post(() -> {
            Sequence s = new Sequence(id, all, params, 0, arrival, new SplittableRandom(0), listener);
            s.overlay = overlay;
            s.scoreFrom = prompt.length;
            s.scoreLogprobs = new float[continuation.length];
            s.scoreTopIds = new int[continuation.length][];
            s.scoreTopLogprobs = new float[continuation.length][];
            live.put(id, s);
            scheduler.add(s);
        });
        return id;
    }

    /** Aborts a sequence: its blocks are freed at the next step boundary and its listener hears ABORTED. */
    public void abort(long id) {
        post(() -> {
            Sequence s = live.get(id);
            if (s != null) {
                finish(s, Sequence.FinishReason.ABORTED);
            }
        });
    }

    private void post(Runnable r) {
        inbox.add(r);
        lock.lock();
        try {
            wake.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Starts the engine thread. */
    public synchronized void start() {
        if (thread != null) {
            return;
        }
        thread = Thread.ofPlatform().name("engine").daemon().start(this::loop);
    }

    private void loop() {
        while (!closed) {
            boolean worked;
            try {
                worked = step();
            } catch (RuntimeException | Error e) {
                // A failed step ends the sequences in flight (their listeners hear ABORTED); the engine goes on,
                // unless its device failed for good: then it refuses everything from here on.
                lastError = e;
                if (e instanceof BackendFailure f && failure == null) {
                    failure = f;
                    failureListener.accept(f);
                }
                failAll();
                worked = false;
            }
            if (!worked) {
                lock.lock();
                try {
                    if (inbox.isEmpty() && !closed) {
                        wake.awaitNanos(50_000_000L);
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                } finally {
                    lock.unlock();
                }
            }
        }
    }

    /** One engine iteration (public for tests that drive the engine without its thread). Returns whether it did work. */
    public boolean step() {
        Runnable r;
        while ((r = inbox.poll()) != null) {
            r.run();
        }
        if (failure != null) { // requests queued before the failure end without touching the device
            failAll();
            return false;
        }
        List<Scheduler.Work> work = scheduler.schedule();
        runningNow = scheduler.runningCount();
        waitingNow = scheduler.waitingCount();
        if (work.isEmpty()) {
            return false;
        }
        long t0 = System.nanoTime();
        List<Transformer.Chunk> chunks = new ArrayList<>(work.size());
        for (Scheduler.Work w : work) {
            if (w.copyBlock() >= 0) {
                backend.copyBlock((int) (w.copyBlock() >>> 32), (int) w.copyBlock());
            }
            Sequence s = w.seq();
            int[] toks = java.util.Arrays.copyOfRange(s.tokens.array(), s.computed, s.computed + w.tokens());
            if (s.scoreFrom >= 0) {
                // rows at positions scoreFrom - 1 .. length - 2 predict the continuation tokens
                int from = Math.max(0, s.scoreFrom - 1 - s.computed);
                int to = Math.min(w.tokens(), s.length() - 1 - s.computed);
                chunks.add(new Transformer.Chunk(toks, s.computed, s.blockTable.toArray(), Math.min(from, w.tokens()), Math.max(to, Math.min(from, w.tokens())),
                        s.overlay));
            } else {
                int last = s.computed + w.tokens() == s.length() ? w.tokens() - 1 : w.tokens();
                chunks.add(new Transformer.Chunk(toks, s.computed, s.blockTable.toArray(), last, w.tokens(), s.overlay));
            }
        }
        List<RowNeed> needs = new ArrayList<>();
        for (int i = 0; i < work.size(); i++) {
            Transformer.Chunk chunk = chunks.get(i);
            for (int j = 0; j < chunk.logitRows(); j++) {
                needs.add(need(work.get(i).seq(), model.vocabSize()));
            }
        }
        RowNeed[] rowNeeds = needs.toArray(RowNeed[]::new);
        StepOutput out = backend.forward(chunks, rowNeeds);
        int row = 0;
        int vocab = model.vocabSize();
        for (int i = 0; i < work.size(); i++) {
            Scheduler.Work w = work.get(i);
            Sequence s = w.seq();
            int before = s.computed;
            s.computed += w.tokens();
            // blocks that this step filled become reusable prefixes
            for (int start = (before / blocks.blockSize()) * blocks.blockSize(); start + blocks.blockSize() <= s.computed; start += blocks.blockSize()) {
                if (start + blocks.blockSize() > before) {
                    blocks.blockFilled(s.blockTable, s.tokens.array(), start, s.salt());
                }
            }
            Transformer.Chunk chunk = chunks.get(i);
            if (s.scoreFrom >= 0) {
                for (int j = chunk.logitsFrom(); j < chunk.logitsTo(); j++) {
                    int target = before + j + 1 - s.scoreFrom; // index of the continuation token this row predicts
                    Sampler.Sample sc = Sampler.score(out.logits(), out.offset(row++), vocab, s.tokens.get(s.scoreFrom + target), s.params.logprobs());
                    s.scoreLogprobs[target] = sc.logprob();
                    s.scoreTopIds[target] = sc.topIds();
                    s.scoreTopLogprobs[target] = sc.topLogprobs();
                }
                if (s.computed == s.length()) {
                    s.listener.onScore(s, s.scoreLogprobs, s.scoreTopIds, s.scoreTopLogprobs);
                    finish(s, Sequence.FinishReason.STOP);
                }
                continue;
            }
            if (!chunk.wantLogits()) {
                continue;
            }
            int logitsRow = row++;
            if (s.pendingSamples > 0) {
                forkSamples(s, out, logitsRow, rowNeeds[logitsRow]);
            }
            emit(s, out, logitsRow, rowNeeds[logitsRow]);
        }
        busyNanos += System.nanoTime() - t0;
        steps++;
        return true;
    }

    /** n > 1: the leader's prompt is computed; its forks share the blocks and sample from the same logits. */
    private void forkSamples(Sequence leader, StepOutput out, int row, RowNeed need) {
        int n = leader.pendingSamples;
        leader.pendingSamples = 0;
        for (int k = 0; k < n; k++) {
            Sequence f = leader.fork(leader.id + 1 + k, leader.rng.split(), blocks::share);
            f.sampleIndex = k + 1;
            live.put(f.id, f);
            scheduler.addRunning(f);
            emit(f, out, row, need);
        }
    }

    /**
     * How much of this sequence's logits row the sampler needs: its argmax for plain greedy; its
     * top candidates for greedy with logprobs, for top-k sampling (k up to the backend's maximum)
     * and for top-p alone (the 64 best; the row is fetched when they fall short of top_p); a draw
     * on the backend for temperature and min-p alone; the whole row for scoring, penalties, a logit
     * bias, a constraint's mask and suppressed tokens (before min_new_tokens). Forks of a leader share its row and its parameters.
     */
    static RowNeed need(Sequence s, int vocab) {
        SamplingParams p = s.params;
        int topK = p.topK() < vocab ? p.topK() : 0; // top_k at or above the vocabulary cuts nothing
        boolean plain = s.scoreFrom < 0 && s.grammar == null && p.repetitionPenalty() == 1 && p.presencePenalty() == 0 && p.frequencyPenalty() == 0
                && p.logitBias().isEmpty() && s.generated() >= p.minNewTokens();
        if (!plain) {
            return RowNeed.WHOLE;
        }
        if (p.isGreedy()) {
            return p.logprobs() == 0 ? RowNeed.ARGMAX : RowNeed.topK(p.logprobs(), 0);
        }
        if (topK > 0) {
            int k = Math.max(topK, p.logprobs());
            return k <= RowNeed.MAX_TOP_K && k <= vocab ? RowNeed.topK(k, p.temperature()) : RowNeed.WHOLE;
        }
        if (p.topP() < 1) {
            // top-p alone: the 64 best usually hold the mass at top_p; when they do not, the engine fetches the row
            return RowNeed.MAX_TOP_K <= vocab ? RowNeed.topK(RowNeed.MAX_TOP_K, p.temperature()) : RowNeed.WHOLE;
        }
        if (s.pendingSamples == 0) {
            // the draw's one uniform number, taken now instead of at sampling time: nothing else reads the
            // stream in between (a leader about to fork splits its stream first, so it keeps the whole row)
            return RowNeed.draw(p.temperature(), p.minP(), s.rng.nextDouble(), p.logprobs());
        }
        return RowNeed.WHOLE;
    }

    private void emit(Sequence s, StepOutput out, int row, RowNeed need) {
        SamplingParams p = s.params;
        Sampler.Sample sample;
        StepOutput.Candidates c = out.candidates(row);
        if (out.isFull(row)) {
            int[] suppress = s.generated() < p.minNewTokens() ? stopIds(p) : new int[0];
            double u = need.kind() == RowNeed.Kind.DRAW ? need.u() : Double.NaN;
            long[] allowed = null;
            if (s.grammar != null) {
                allowed = allowedTokens(s);
                if (allowed == null) { // nothing can follow (a vocabulary that cannot spell what the grammar needs)
                    finish(s, Sequence.FinishReason.LENGTH);
                    return;
                }
            }
            sample = Sampler.sample(out.logits(), out.offset(row), model.vocabSize(), p, s.rng, s.outputCounts, s.seen, suppress, u, allowed);
        } else if (need.kind() == RowNeed.Kind.DRAW) {
            int k = c == null ? 0 : Math.min(p.logprobs(), c.ids().length);
            float[] top = new float[k];
            for (int j = 0; j < k; j++) {
                top[j] = c.logits()[j] - c.logSumExp();
            }
            sample = new Sampler.Sample(out.drawn(row), out.drawnLogprob()[row], c == null ? new int[0] : java.util.Arrays.copyOf(c.ids(), k), top);
        } else if (c != null) {
            sample = Sampler.fromCandidates(c.ids(), c.logits(), c.max(), c.logSumExp(), c.sumAtTemperature(), p, s.rng);
            if (sample == null) { // the candidates did not hold top_p of the mass: the whole row after all
                sample = Sampler.sample(out.fetchRow(row), 0, model.vocabSize(), p, s.rng, s.outputCounts, s.seen, new int[0]);
            }
        } else {
            sample = new Sampler.Sample(out.argmax()[row], out.argmaxLogprob()[row], new int[0], new float[0]);
        }
        s.append(sample.token(), model.vocabSize());
        if (s.grammar != null) {
            byte[] b = masker.vocabulary().bytes(sample.token());
            if (b != null) {
                s.grammar = s.grammar.advance(b);
            }
        }
        s.listener.onToken(s, sample);
        Sequence.FinishReason ended = endOf(s, sample.token());
        if (ended == null && s.grammar != null && s.grammar.isTerminal()) {
            ended = Sequence.FinishReason.STOP; // the output is complete and nothing may follow it
        }
        if (ended != null) {
            finish(s, ended);
        }
    }

    /**
     * The tokens a constrained sequence may take now: those that keep its output valid and, near its length
     * limit, can still complete it in the tokens left; EOS and stop tokens once the output is complete.
     * Null when no token may follow.
     */
    private long[] allowedTokens(Sequence s) {
        SamplingParams p = s.params;
        io.boundless.engine.grammar.TokenMasker m = masker;
        int left = Math.min(p.maxNewTokens() - s.generated(), model.maxPositions() - s.length());
        long[] mask = m.mask(s.grammar, left - 1);
        if (isEmpty(mask) && !s.grammar.canEnd()) {
            mask = m.mask(s.grammar); // the budget cannot be kept (no token spells the next byte alone): the grammar only
        }
        if (s.grammar.canEnd()) {
            mask = mask.clone();
            if (!p.ignoreEos()) {
                for (int id : model.eosIds()) {
                    mask[id >>> 6] |= 1L << (id & 63);
                }
            }
            for (int id : p.stopTokenIds()) {
                if (id >= 0 && id < model.vocabSize()) {
                    mask[id >>> 6] |= 1L << (id & 63);
                }
            }
        }
        return isEmpty(mask) ? null : mask;
    }

    private static boolean isEmpty(long[] mask) {
        for (long w : mask) {
            if (w != 0) {
                return false;
            }
        }
        return true;
    }

    /** Whether a sequence whose last token is last (-1: none yet) has ended, and why. */
    private Sequence.FinishReason endOf(Sequence s, int last) {
        SamplingParams p = s.params;
        boolean stop = last >= 0 && (p.stopTokenIds().contains(last) || (!p.ignoreEos() && model.eosIds().contains(last)));
        if (stop && s.generated() >= p.minNewTokens()) {
            return Sequence.FinishReason.STOP;
        }
        if (s.generated() >= p.maxNewTokens() || s.length() >= model.maxPositions()) {
            return Sequence.FinishReason.LENGTH;
        }
        return null;
    }

    private int[] stopIds(SamplingParams p) {
        List<Integer> ids = new ArrayList<>(p.stopTokenIds());
        if (!p.ignoreEos()) {
            ids.addAll(model.eosIds());
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    private void finish(Sequence s, Sequence.FinishReason reason) {
        if (s.status == Sequence.Status.FINISHED) {
            return;
        }
        scheduler.finish(s);
        s.finishReason = reason;
        live.remove(s.id);
        queued.decrementAndGet();
        // a leader aborted before its prefill finished never forks: its pending samples end too
        for (int k = 0; k < s.pendingSamples; k++) {
            queued.decrementAndGet();
        }
        s.pendingSamples = 0;
        s.listener.onFinish(s, reason);
    }

    private void failAll() {
        for (Sequence s : new ArrayList<>(live.values())) {
            finish(s, Sequence.FinishReason.ABORTED);
        }
    }

    private volatile Throwable lastError;

    /** The error of the last failed step, if any (for logs and health). */
    public Throwable lastError() {
        return lastError;
    }

    /** Load figures for GetLoad and metrics. */
    public record Load(int running, int waiting, double kvUsage, double prefixHitRate, long busyNanos, long steps, long preemptions) {}

    public Load load() {
        return new Load(runningNow, waitingNow, blocks.usage(), blocks.hitRate(), busyNanos, steps, scheduler.preemptions());
    }

    public int freeBlocks() {
        return blocks.freeBlocks();
    }

    public int blockSize() {
        return config.blockSize();
    }

    public int totalBlocks() {
        return blocks.totalBlocks();
    }

    @Override
    public void close() {
        closed = true;
        post(() -> { });
        if (thread != null) {
            try {
                thread.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        backend.close();
    }
}
