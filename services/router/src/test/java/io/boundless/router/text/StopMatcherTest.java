package io.boundless.router.text;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.ParameterizedTest;

class StopMatcherTest {

    @Test
    void holdsBackAPossibleStartAndReleasesItWhenItIsNot() {
        StopMatcher m = new StopMatcher(List.of("END"));
        assertThat(m.add("abc E")).isEqualTo("abc ");
        assertThat(m.add("N")).isEmpty();
        assertThat(m.add("x")).isEqualTo("ENx");
        assertThat(m.stopped()).isFalse();
        assertThat(m.finish()).isEmpty();
    }

    @Test
    void matchSplitOverDeltasEndsTheTextBeforeIt() {
        StopMatcher m = new StopMatcher(List.of("\n\nUser:", "###"));
        assertThat(m.add("Sure.\n")).isEqualTo("Sure.");
        assertThat(m.add("\nUs")).isEmpty();
        assertThat(m.add("er: more")).isEmpty();
        assertThat(m.stopped()).isTrue();
        assertThat(m.add("anything")).isEmpty();
    }

    @Test
    void earliestOfSeveralStopsWins() {
        StopMatcher m = new StopMatcher(List.of("b c", "a"));
        assertThat(m.add("xx b c a")).isEqualTo("xx ");
    }

    @Test
    void finishReleasesAHeldBackTail() {
        StopMatcher m = new StopMatcher(List.of("STOP"));
        assertThat(m.add("go ST")).isEqualTo("go ");
        assertThat(m.finish()).isEqualTo("ST");
    }

    /** Whatever the split into deltas, the released text is the text up to the first match. */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void anySplitReleasesExactlyThePrefixBeforeTheFirstMatch(long seed) {
        Random rnd = new Random(seed);
        for (int round = 0; round < 2000; round++) {
            StringBuilder text = new StringBuilder();
            int len = rnd.nextInt(40);
            for (int i = 0; i < len; i++) {
                text.append("abc\n".charAt(rnd.nextInt(4)));
            }
            List<String> stops = List.of("ab", "c\nc", "bbb").subList(0, 1 + rnd.nextInt(3));
            int first = -1;
            for (String s : stops) {
                int at = text.indexOf(s);
                if (at >= 0 && (first < 0 || at < first)) {
                    first = at;
                }
            }
            String expected = first < 0 ? text.toString() : text.substring(0, first);
            StopMatcher m = new StopMatcher(stops);
            StringBuilder out = new StringBuilder();
            for (int i = 0; i < text.length(); ) {
                int j = Math.min(text.length(), i + 1 + rnd.nextInt(4));
                out.append(m.add(text.substring(i, j)));
                i = j;
            }
            out.append(m.finish());
            assertThat(out.toString()).as("seed %d, text %s, stops %s", seed, text, stops).isEqualTo(expected);
            assertThat(m.stopped()).as("seed %d", seed).isEqualTo(first >= 0);
        }
    }
}
