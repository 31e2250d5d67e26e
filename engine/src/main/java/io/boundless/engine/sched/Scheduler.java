package io.boundless.engine.sched;

import io.boundless.engine.kv.BlockManager;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.PriorityQueue;

/**
 * Continuous batching. Each step gets a token budget: running sequences first (a decode token each,
 * or the next chunk of an unfinished prompt), then waiting ones in priority order (higher first),
 * first come first served within a priority, their prompts cut into chunks that fit. When the KV
 * cache runs out, the running sequence that should yield (lowest priority, latest arrival) is
 * preempted: its blocks are freed and it waits to be recomputed (prefix caching makes that cheap).
 */
public final class Scheduler {
    /**
     * A sequence and how many of its tokens to compute this step; {@code copyBlock} is
     * {@code from << 32 | to} when a shared partial block must be copied first (copy-on-write), else -1.
     */
    public record Work(Sequence seq, int tokens, long copyBlock) {}

    private final BlockManager blocks;
    private final int maxBatchTokens;
    private final int maxRunning;
    private final List<Sequence> running = new ArrayList<>();
    private final PriorityQueue<Sequence> waiting = new PriorityQueue<>(
            Comparator.comparingInt((Sequence s) -> -s.priority).thenComparingLong(s -> s.arrival).thenComparingLong(s -> s.id));
    private long preemptions;

    public Scheduler(BlockManager blocks, int maxBatchTokens, int maxRunning) {
        this.blocks = blocks;
        this.maxBatchTokens = maxBatchTokens;
        this.maxRunning = maxRunning;
    }

    public void add(Sequence s) {
        s.status = Sequence.Status.WAITING;
        waiting.add(s);
    }

    /** Adds a fork of a running leader directly to the running set (it shares the leader's computed prompt). */
    void addRunning(Sequence s) {
        s.status = Sequence.Status.RUNNING;
        running.add(s);
    }

    public int waitingCount() {
        return waiting.size();
    }

    public int runningCount() {
        return running.size();
    }

    public long preemptions() {
        return preemptions;
    }

    public List<Sequence> running() {
        return running;
    }

    /** Removes a sequence wherever it is and frees its blocks. */
    public boolean remove(Sequence s) {
        boolean found = running.remove(s) || waiting.remove(s);
        blocks.release(s.blockTable);
        return found;
    }

    public List<Work> schedule() {
        List<Work> work = new ArrayList<>();
        int budget = maxBatchTokens;
        // Running sequences, oldest and most important first, so that preemption picks the others.
        running.sort(Comparator.comparingInt((Sequence s) -> -s.priority).thenComparingLong(s -> s.arrival).thenComparingLong(s -> s.id));
        for (int i = 0; i < running.size() && budget > 0; i++) {
            Sequence s = running.get(i);
            int n = Math.min(s.length() - s.computed, budget);
            if (n <= 0) {
                continue;
            }
            while (!blocks.canGrow(s.blockTable, s.computed, s.computed + n)) {
                Sequence victim = running.getLast();
                if (victim == s) {
                    break;
                }
                preempt(victim);
            }
            if (!running.contains(s)) {
                break;
            }
            if (!blocks.canGrow(s.blockTable, s.computed, s.computed + n)) {
                preempt(s); // alone it still does not fit: give its blocks back and retry later
                break;
            }
            work.add(new Work(s, n, blocks.grow(s.blockTable, s.computed, s.computed + n)));
            budget -= n;
        }
        // Waiting sequences, while budget, slots and blocks last.
        while (budget > 0 && !waiting.isEmpty() && running.size() < maxRunning) {
            Sequence s = waiting.peek();
            if (!blocks.canAllocate(s.length())) {
                break; // head-of-line: a lower-priority request does not overtake
            }
            waiting.poll();
            s.cachedPromptTokens = blocks.allocatePrompt(s.tokens.array(), s.length(), s.blockTable, s.salt());
            // Never serve from cache a row whose logits are needed: the last token's, or for a Score
            // request every row from the one before the continuation.
            s.computed = Math.min(s.cachedPromptTokens, s.scoreFrom >= 0 ? s.scoreFrom - 1 : s.length() - 1);
            s.status = Sequence.Status.RUNNING;
            running.add(s);
            int n = Math.min(s.length() - s.computed, budget);
            work.add(new Work(s, n, -1));
            budget -= n;
        }
        return work;
    }

    private void preempt(Sequence s) {
        running.remove(s);
        blocks.release(s.blockTable);
        s.computed = 0;
        s.status = Sequence.Status.WAITING;
        waiting.add(s);
        preemptions++;
    }

    /** Marks a sequence finished and frees its blocks. */
    void finish(Sequence s) {
        running.remove(s);
        waiting.remove(s);
        blocks.release(s.blockTable);
        s.status = Sequence.Status.FINISHED;
    }
}
