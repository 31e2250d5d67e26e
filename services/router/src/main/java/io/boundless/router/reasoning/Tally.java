package io.boundless.router.reasoning;

import io.boundless.proto.router.v1.VoteCount;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Self-consistency's vote over the paths' answers: each path with an answer counts one (majority) or its
 * length-normalized probability (weighted, Wang et al.'s "normalized weighted sum"). Ties go to the answer
 * that reached its total first. Plain state, no threads: the reasoner adds paths as they end.
 */
public final class Tally {
    private final boolean weighted;
    /** answer -> [votes, weight, order of first vote]; insertion order breaks ties. */
    private final Map<String, double[]> counts = new LinkedHashMap<>();
    private int voted;
    private int unparsed;
    private double totalWeight;

    public Tally(boolean weighted) {
        this.weighted = weighted;
    }

    /** A path ended: its answer (null: the parser found none, it does not vote) with weight in (0, 1]. */
    public void add(String answer, double weight) {
        if (answer == null) {
            unparsed++;
            return;
        }
        double w = Math.max(0, Math.min(1, weight));
        double[] c = counts.computeIfAbsent(answer, a -> new double[] {0, 0, counts.size()});
        c[0]++;
        c[1] += w;
        voted++;
        totalWeight += w;
    }

    /** Paths that voted. */
    public int voted() {
        return voted;
    }

    /** Paths whose text held no answer. */
    public int unparsed() {
        return unparsed;
    }

    private double score(double[] c) {
        return weighted ? c[1] : c[0];
    }

    /** Answers, best first (ties: the one seen first). */
    private List<Map.Entry<String, double[]>> ranked() {
        List<Map.Entry<String, double[]>> out = new ArrayList<>(counts.entrySet());
        out.sort(Comparator.<Map.Entry<String, double[]>>comparingDouble(e -> -score(e.getValue())).thenComparingDouble(e -> e.getValue()[2]));
        return out;
    }

    /** The winning answer, or null when no path voted. */
    public String leader() {
        var r = ranked();
        return r.isEmpty() ? null : r.get(0).getKey();
    }

    /** The leader's share of the vote (votes or weight), 0 without votes. */
    public double confidence() {
        var r = ranked();
        double total = weighted ? totalWeight : voted;
        return r.isEmpty() || total <= 0 ? 0 : score(r.get(0).getValue()) / total;
    }

    /**
     * Whether the leader can no longer be overtaken or tied when remaining more paths are still to come:
     * each of them could vote for the runner-up with the most a path can weigh (1).
     */
    public boolean decided(int remaining) {
        var r = ranked();
        if (r.isEmpty()) {
            return false;
        }
        double lead = score(r.get(0).getValue());
        double second = r.size() > 1 ? score(r.get(1).getValue()) : 0;
        return lead > second + remaining;
    }

    /** The distribution, best first. */
    public List<VoteCount> counts() {
        double total = weighted ? totalWeight : voted;
        List<VoteCount> out = new ArrayList<>();
        for (var e : ranked()) {
            double[] c = e.getValue();
            out.add(VoteCount.newBuilder().setAnswer(e.getKey()).setVotes((int) c[0]).setWeight(c[1]).setShare(total > 0 ? score(c) / total : 0).build());
        }
        return out;
    }
}
