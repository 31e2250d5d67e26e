package io.boundless.engine.grammar;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Random sentences of a grammar, walked byte by byte through its matcher (with the same budget rule the engine keeps). */
final class GrammarTestSupport {
    /**
     * A random valid text of at most maxBytes bytes: each step picks a random byte the state accepts and after
     * which the text can still be completed in the bytes left; it ends where the text is complete, with
     * probability pEnd, or when nothing may follow.
     */
    static String randomSentence(Matcher m, SplittableRandom rnd, int maxBytes, double pEnd) {
        Matcher.State s = m.initial;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int left = maxBytes; ; left--) {
            if (s.canEnd() && (s.isTerminal() || rnd.nextDouble() < pEnd || left == 0)) {
                return out.toString(StandardCharsets.UTF_8);
            }
            if (left == 0) {
                throw new AssertionError("the budget ran out before the text was complete: " + out.toString(StandardCharsets.UTF_8));
            }
            List<Integer> ok = new ArrayList<>();
            List<Integer> printable = new ArrayList<>();
            for (int b = 0; b < 256; b++) {
                Matcher.State n = s.advance(b);
                if (!n.isDead() && n.minBytes <= left - 1) {
                    ok.add(b);
                    if (b >= 0x20 && b < 0x7F) {
                        printable.add(b);
                    }
                }
            }
            if (ok.isEmpty() && s.canEnd()) {
                return out.toString(StandardCharsets.UTF_8);
            }
            if (ok.isEmpty()) {
                throw new AssertionError("no byte may follow " + out.toString(StandardCharsets.UTF_8) + " (budget " + left + ")");
            }
            // mostly printable ASCII (readable failures), sometimes any byte (multi-byte characters, controls)
            List<Integer> from = !printable.isEmpty() && rnd.nextInt(10) > 0 ? printable : ok;
            int b = from.get(rnd.nextInt(from.size()));
            out.write(b);
            s = s.advance(b);
        }
    }

    private GrammarTestSupport() {}
}
