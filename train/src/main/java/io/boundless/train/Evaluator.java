package io.boundless.train;

import io.boundless.engine.cpu.Parallel;
import io.boundless.engine.kv.KvCache;
import io.boundless.engine.model.ModelWeights;
import io.boundless.engine.model.Transformer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Held-out evaluation with the serving engine's forward pass: each probe's question goes through
 * the chat format, the model answers greedily (up to maxNew tokens or its end of turn), and the
 * answer is graded by {@link Corpus#correct}. Probes run in batches, one sequence per probe.
 */
public final class Evaluator {
    /** One probe's outcome. */
    public record Answer(Corpus.Probe probe, String answer, boolean correct) {}

    /** Accuracy of a (set, size) group. */
    public record Score(String set, int size, int correct, int total) {
        public double accuracy() {
            return total == 0 ? 0 : (double) correct / total;
        }
    }

    private final Transformer transformer;
    private final Bpe bpe;
    private final int end;
    private final int endOfText;
    private final int layers;
    private final int kvDim;

    public Evaluator(ModelWeights weights, Bpe bpe, Parallel parallel) {
        this.transformer = new Transformer(weights, parallel);
        this.bpe = bpe;
        this.end = bpe.special(Corpus.Special.END.text);
        this.endOfText = bpe.special(Corpus.Special.END_OF_TEXT.text);
        this.layers = weights.config().layers();
        this.kvDim = weights.config().kvDim();
    }

    /** The prompt ids of a chat question, as the chat template renders it. */
    public static int[] promptIds(Bpe bpe, String question) {
        return Trainer.ids(bpe, Corpus.prompt(question));
    }

    /** Greedy answers of questions, batchSize at a time. */
    public List<String> answer(List<String> questions, int maxNew, int batchSize) {
        List<String> out = new ArrayList<>();
        for (int from = 0; from < questions.size(); from += batchSize) {
            out.addAll(batch(questions.subList(from, Math.min(questions.size(), from + batchSize)), maxNew));
        }
        return out;
    }

    private List<String> batch(List<String> questions, int maxNew) {
        int n = questions.size();
        int blockSize = 16;
        int[][] prompts = new int[n][];
        int longest = 0;
        for (int i = 0; i < n; i++) {
            prompts[i] = promptIds(bpe, questions.get(i));
            longest = Math.max(longest, prompts[i].length);
        }
        int blocksPer = (longest + maxNew + blockSize) / blockSize;
        KvCache cache = new KvCache(layers, kvDim, blockSize, blocksPer * n);
        int[][] tables = new int[n][blocksPer];
        for (int i = 0; i < n; i++) {
            for (int b = 0; b < blocksPer; b++) {
                tables[i][b] = i * blocksPer + b;
            }
        }
        List<List<Integer>> generated = new ArrayList<>();
        boolean[] done = new boolean[n];
        int[] pos = new int[n];
        List<Transformer.Chunk> chunks = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            generated.add(new ArrayList<>());
            chunks.add(new Transformer.Chunk(prompts[i], 0, tables[i], true));
            pos[i] = prompts[i].length;
        }
        List<Integer> live = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            live.add(i);
        }
        int vocab = transformer.config().vocabSize();
        for (int step = 0; step < maxNew && !live.isEmpty(); step++) {
            float[] logits = transformer.forward(chunks, cache);
            List<Transformer.Chunk> next = new ArrayList<>();
            List<Integer> still = new ArrayList<>();
            for (int r = 0; r < live.size(); r++) {
                int i = live.get(r);
                int best = 0;
                for (int v = 1; v < vocab; v++) {
                    if (logits[r * vocab + v] > logits[r * vocab + best]) {
                        best = v;
                    }
                }
                if (best == end || best == endOfText || best >= bpe.size()) {
                    done[i] = true;
                    continue;
                }
                generated.get(i).add(best);
                next.add(new Transformer.Chunk(new int[] {best}, pos[i]++, tables[i], true));
                still.add(i);
            }
            chunks = next;
            live = still;
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(bpe.decode(generated.get(i).stream().mapToInt(Integer::intValue).toArray()));
        }
        return out;
    }

    /** Answers and grades probes. */
    public List<Answer> run(List<Corpus.Probe> probes, int maxNew) {
        List<String> answers = answer(probes.stream().map(Corpus.Probe::question).toList(), maxNew, 32);
        List<Answer> out = new ArrayList<>();
        for (int i = 0; i < probes.size(); i++) {
            out.add(new Answer(probes.get(i), answers.get(i), Corpus.correct(probes.get(i), answers.get(i))));
        }
        return out;
    }

    /** Accuracy per (set, size), in the order the sets first appear. */
    public static List<Score> scores(List<Answer> answers) {
        Map<String, int[]> m = new LinkedHashMap<>();
        for (Answer a : answers) {
            int[] c = m.computeIfAbsent(a.probe().set() + "\u0000" + a.probe().size(), k -> new int[2]);
            c[0] += a.correct() ? 1 : 0;
            c[1]++;
        }
        List<Score> out = new ArrayList<>();
        m.forEach((k, v) -> {
            String[] parts = k.split("\u0000");
            out.add(new Score(parts[0], Integer.parseInt(parts[1]), v[0], v[1]));
        });
        return out;
    }

    /** The scores as a Markdown table. */
    public static String table(List<Score> scores) {
        StringBuilder sb = new StringBuilder("| set | size | correct | accuracy |\n|---|---:|---:|---:|\n");
        for (Score s : scores) {
            sb.append(String.format("| %s | %s | %d / %d | %.1f%% |%n", s.set(), s.size() == 0 ? "" : String.valueOf(s.size()), s.correct(),
                    s.total(), 100 * s.accuracy()));
        }
        return sb.toString();
    }
}
