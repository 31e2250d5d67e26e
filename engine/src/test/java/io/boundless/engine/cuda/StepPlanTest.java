package io.boundless.engine.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.engine.backend.RowNeed;
import io.boundless.engine.model.Transformer.Chunk;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The host side of a CUDA step: how chunks become the one int array the kernels read. */
class StepPlanTest {
    static final int BS = 4;

    @Test
    void randomStepsPackSlotsTablesAndLogitRowsLikeTheCpuPath() {
        Random rnd = new Random(7);
        for (int trial = 0; trial < 200; trial++) {
            List<Chunk> chunks = new ArrayList<>();
            int seqs = 1 + rnd.nextInt(6);
            int nextBlock = 0;
            for (int s = 0; s < seqs; s++) {
                int start = rnd.nextInt(30);
                int len = 1 + rnd.nextInt(10);
                int[] table = new int[(start + len + BS - 1) / BS + rnd.nextInt(2)];
                for (int i = 0; i < table.length; i++) {
                    table[i] = nextBlock + rnd.nextInt(3) * 100 + i;
                }
                nextBlock += 1000;
                int[] toks = rnd.ints(len, 0, 50).toArray();
                int from = rnd.nextInt(len + 1);
                chunks.add(new Chunk(toks, start, table, from, len));
            }
            int[] data = new int[StepPlan.size(128, 512)];
            int wanted = chunks.stream().mapToInt(Chunk::logitRows).sum();
            RowNeed[] needs = new RowNeed[wanted];
            for (int i = 0; i < wanted; i++) {
                needs[i] = switch (rnd.nextInt(4)) {
                    case 0 -> RowNeed.WHOLE;
                    case 1 -> RowNeed.ARGMAX;
                    case 2 -> RowNeed.draw(0.1f + rnd.nextFloat(), rnd.nextFloat() * 0.2f, rnd.nextDouble(), rnd.nextInt(5));
                    default -> RowNeed.topK(1 + rnd.nextInt(64), rnd.nextFloat());
                };
            }
            StepPlan plan = StepPlan.build(chunks, needs, BS, 128, data, 0);
            int r = 0;
            int lr = 0;
            for (Chunk c : chunks) {
                for (int j = 0; j < c.tokens().length; j++, r++) {
                    int p = c.startPos() + j;
                    assertThat(plan.id(r)).isEqualTo(c.tokens()[j]);
                    assertThat(plan.position(r)).isEqualTo(p);
                    // the slot the CPU's KvCache.slot gives
                    assertThat(plan.slot(r)).isEqualTo(c.blockTable()[p / BS] * BS + p % BS);
                    // the row's table, read from the packed tables, gives the same blocks for every position up to p
                    for (int q = 0; q <= p; q++) {
                        assertThat(plan.tableEntry(plan.tableOffset(r) + q / BS)).isEqualTo(c.blockTable()[q / BS]);
                    }
                    if (j >= c.logitsFrom() && j < c.logitsTo()) {
                        RowNeed need = needs[lr];
                        boolean reduced = need.kind() == RowNeed.Kind.TOP_K || need.kind() == RowNeed.Kind.DRAW;
                        assertThat(plan.rowK(lr)).isEqualTo(reduced ? need.k() : 0);
                        assertThat(plan.rowT(lr)).isEqualTo(reduced ? need.temperature() : 0f);
                        assertThat(plan.rowMode(lr)).isEqualTo(need.kind() == RowNeed.Kind.DRAW ? 1 : 0);
                        assertThat(plan.rowU(lr)).isEqualTo(need.kind() == RowNeed.Kind.DRAW ? need.u() : 0.0);
                        assertThat(plan.logitRow(lr++)).isEqualTo(r);
                    }
                }
            }
            assertThat(plan.tokens).isEqualTo(r);
            assertThat(plan.rows).isEqualTo(r);
            assertThat(plan.logitRows).isEqualTo(lr);
        }
    }

    @Test
    void aDecodeStepPadsToItsGraphBucketWithRowsThatWriteNothing() {
        List<Chunk> chunks = List.of(new Chunk(new int[] {5}, 9, new int[] {3, 8, 1}, true), new Chunk(new int[] {6}, 0, new int[] {2}, true),
                new Chunk(new int[] {7}, 4, new int[] {4, 9}, true));
        assertThat(StepPlan.isDecode(chunks)).isTrue();
        int bucket = StepPlan.bucket(3, 256);
        assertThat(bucket).isEqualTo(4);
        int[] data = new int[StepPlan.size(16, 64)];
        StepPlan plan = StepPlan.build(chunks, new RowNeed[] {RowNeed.ARGMAX, RowNeed.topK(5, 0.7f), RowNeed.WHOLE}, BS, 16, data, bucket);
        assertThat(plan.rows).isEqualTo(4);
        assertThat(plan.tokens).isEqualTo(3);
        assertThat(plan.logitRows).isEqualTo(4);
        assertThat(plan.slot(0)).isEqualTo(1 * BS + 1);
        assertThat(plan.slot(3)).isEqualTo(-1);
        assertThat(plan.position(3)).isZero();
        assertThat(plan.tableEntry(plan.tableOffset(3))).isEqualTo(3); // a real block: reading it is harmless
        assertThat(plan.logitRow(3)).isEqualTo(3);
        assertThat(plan.rowK(1)).isEqualTo(5);
        assertThat(plan.rowK(3)).isZero();
    }

    @Test
    void bucketsArePowersOfTwoUpToTheLargestGraph() {
        assertThat(StepPlan.bucket(1, 64)).isEqualTo(1);
        assertThat(StepPlan.bucket(2, 64)).isEqualTo(2);
        assertThat(StepPlan.bucket(5, 64)).isEqualTo(8);
        assertThat(StepPlan.bucket(64, 64)).isEqualTo(64);
        assertThat(StepPlan.bucket(65, 64)).isZero();
    }

    @Test
    void prefillIsNeverPaddedAndOverflowIsAClearError() {
        List<Chunk> prefill = List.of(new Chunk(new int[] {1, 2, 3}, 0, new int[] {0}, true));
        assertThat(StepPlan.isDecode(prefill)).isFalse();
        assertThatThrownBy(() -> StepPlan.build(prefill, new RowNeed[] {RowNeed.WHOLE}, BS, 16, new int[StepPlan.size(16, 8)], 8)).hasMessageContaining("only a decode step");
        List<Chunk> big = List.of(new Chunk(new int[20], 0, new int[5], true));
        assertThatThrownBy(() -> StepPlan.build(big, new RowNeed[] {RowNeed.WHOLE}, BS, 16, new int[StepPlan.size(16, 8)], 0)).hasMessageContaining("exceeds the device buffers' 16");
        List<Chunk> longTable = List.of(new Chunk(new int[1], 40, new int[11], true));
        assertThatThrownBy(() -> StepPlan.build(longTable, new RowNeed[] {RowNeed.WHOLE}, BS, 16, new int[StepPlan.size(16, 8)], 0)).hasMessageContaining("block tables exceed");
        List<Chunk> shortTable = List.of(new Chunk(new int[1], 40, new int[2], true));
        assertThatThrownBy(() -> StepPlan.build(prefill, new RowNeed[0], BS, 16, new int[StepPlan.size(16, 8)], 0)).hasMessageContaining("0 row needs for 1");
        assertThatThrownBy(() -> StepPlan.build(shortTable, new RowNeed[] {RowNeed.WHOLE}, BS, 16, new int[StepPlan.size(16, 64)], 0)).hasMessageContaining("does not cover position 40");
    }
}
