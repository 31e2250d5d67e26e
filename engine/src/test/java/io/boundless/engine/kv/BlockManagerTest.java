package io.boundless.engine.kv;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class BlockManagerTest {

    private static int[] seq(int n, int offset) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = offset + i;
        }
        return t;
    }

    /** Allocate a prompt and mark all its full blocks computed, as the engine does after prefill. */
    private static int admit(BlockManager m, int[] tokens, IntList table) {
        int cached = m.allocatePrompt(tokens, tokens.length, table);
        for (int start = 0; start + m.blockSize() <= tokens.length; start += m.blockSize()) {
            m.blockFilled(table, tokens, start);
        }
        return cached;
    }

    @Test
    void reusesComputedBlocksOfAnEqualPrefix() {
        BlockManager m = new BlockManager(16, 4);
        int[] a = seq(10, 100);
        IntList ta = new IntList();
        assertThat(admit(m, a, ta)).isZero();
        assertThat(ta.size()).isEqualTo(3);
        int[] b = a.clone();
        b[9] = 7; // same first two blocks, different tail
        IntList tb = new IntList();
        assertThat(m.allocatePrompt(b, b.length, tb)).isEqualTo(8);
        assertThat(tb.get(0)).isEqualTo(ta.get(0));
        assertThat(tb.get(1)).isEqualTo(ta.get(1));
        assertThat(tb.get(2)).isNotEqualTo(ta.get(2));
        assertThat(m.hits()).isEqualTo(2);
    }

    @Test
    void aBlockIsNotSharedBeforeItsContentsAreComputed() {
        BlockManager m = new BlockManager(16, 4);
        int[] a = seq(12, 0);
        IntList ta = new IntList();
        m.allocatePrompt(a, a.length, ta); // allocated, but no blockFilled yet: a chunked prefill is under way
        IntList tb = new IntList();
        assertThat(m.allocatePrompt(a, a.length, tb)).isZero();
    }

    @Test
    void freedBlocksStayCachedAndTheLeastRecentlyFreedIsReusedFirst() {
        BlockManager m = new BlockManager(4, 4);
        int[] a = seq(8, 0);
        IntList ta = new IntList();
        admit(m, a, ta);
        int[] b = seq(8, 50);
        IntList tb = new IntList();
        admit(m, b, tb);
        int[] bBlocks = tb.toArray();
        m.release(ta); // a's blocks freed first
        m.release(tb);
        assertThat(m.freeBlocks()).isEqualTo(4);
        // a prompt equal to a still hits its freed blocks
        IntList ta2 = new IntList();
        assertThat(m.allocatePrompt(a, a.length, ta2)).isEqualTo(8);
        m.release(ta2);
        // now the least recently freed are b's: a new prompt takes them, evicting b but not a
        IntList tc = new IntList();
        admit(m, seq(8, 900), tc);
        assertThat(tc.toArray()).containsExactlyInAnyOrder(bBlocks);
        m.release(tc);
        IntList ta3 = new IntList();
        assertThat(m.allocatePrompt(a, a.length, ta3)).as("a is still cached").isEqualTo(8);
        IntList tb2 = new IntList();
        assertThat(m.allocatePrompt(b, b.length, tb2)).as("b was evicted").isZero();
    }

    @Test
    void sharedPartialBlocksAreCopiedOnWrite() {
        BlockManager m = new BlockManager(8, 4);
        int[] p = seq(6, 0); // one full block and a partial one
        IntList leader = new IntList();
        admit(m, p, leader);
        IntList fork = new IntList();
        m.share(leader, fork);
        assertThat(m.blocksToGrow(fork, 6, 7)).isEqualTo(1);
        long copy = m.grow(fork, 6, 7);
        assertThat(copy).isNotNegative();
        assertThat((int) (copy >>> 32)).isEqualTo(leader.get(1));
        assertThat((int) copy).isEqualTo(fork.get(1));
        assertThat(fork.get(0)).isEqualTo(leader.get(0)); // the full block stays shared
        assertThat(m.grow(leader, 6, 7)).as("the leader now owns its block alone").isEqualTo(-1);
    }

    @Test
    void refusesWhenOutOfBlocks() {
        BlockManager m = new BlockManager(2, 4);
        IntList t = new IntList();
        assertThat(m.canAllocate(9)).isFalse();
        assertThatThrownBy(() -> m.allocatePrompt(seq(9, 0), 9, t)).isInstanceOf(IllegalStateException.class);
        assertThat(m.freeBlocks()).isEqualTo(2);
    }
}
