package io.boundless.train;

import java.nio.file.Path;
import java.util.List;

/**
 * The trainer's command line, run by {@code boundless train} and {@code boundless eval} (in a JVM
 * with the Vector API):
 * <pre>
 *   train --recipe FILE [--out DIR]     corpus, tokenizer, model, evaluation into DIR (default: out/&lt;recipe name&gt;)
 *   eval --model DIR [--per-set N]      the held-out evaluation of a trained model directory
 * </pre>
 */
public final class TrainMain {
    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            usage("");
        }
        String recipe = null;
        String out = null;
        String model = null;
        int perSet = 100;
        for (int i = 1; i < args.length; i++) {
            String v = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--recipe" -> recipe = need(v, "--recipe");
                case "--out" -> out = need(v, "--out");
                case "--model" -> model = need(v, "--model");
                case "--per-set" -> perSet = Integer.parseInt(need(v, "--per-set"));
                default -> usage("unknown option " + args[i]);
            }
            i++;
        }
        switch (args[0]) {
            case "train" -> {
                if (recipe == null) {
                    usage("train needs --recipe FILE");
                }
                Recipe r;
                try {
                    r = Recipe.read(Path.of(recipe));
                } catch (IllegalArgumentException | java.io.IOException e) {
                    System.err.println("boundless train: " + e.getMessage());
                    System.exit(2);
                    return;
                }
                Path dir = Path.of(out != null ? out : "out/" + r.name());
                List<Evaluator.Score> scores = new Trainer(r, dir, System.out).run();
                System.out.println("model written to " + dir.toAbsolutePath() + " (" + scores.size() + " evaluation rows in evaluation.md)");
            }
            case "eval" -> {
                if (model == null) {
                    usage("eval needs --model DIR");
                }
                Trainer.evaluate(Path.of(model), perSet, 7, Math.max(1, Runtime.getRuntime().availableProcessors()), System.out);
            }
            default -> usage("unknown command " + args[0]);
        }
    }

    private static String need(String v, String opt) {
        if (v == null) {
            usage(opt + " needs a value");
        }
        return v;
    }

    private static void usage(String why) {
        if (!why.isEmpty()) {
            System.err.println("boundless: " + why);
        }
        System.err.println("usage: boundless train --recipe FILE [--out DIR] | boundless eval --model DIR [--per-set N]");
        System.exit(2);
    }
}
