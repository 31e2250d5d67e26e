package io.boundless.engine.grammar;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Grammars from GBNF and regular expressions: what they match, against java.util.regex and by hand; and their errors. */
class GrammarTest {

    @Test
    void gbnfRulesGroupsQuantifiersAndClasses() {
        Matcher m = new Matcher(Gbnf.parse("""
                # a list of numbers
                root ::= "[" ws ( num ( ws "," ws num )* )? ws "]"
                num  ::= "-"? [1-9] [0-9]{0,3} | "0"
                ws   ::= [ \\t\\n]*
                """));
        for (String ok : List.of("[]", "[ ]", "[1]", "[1,-23, 4567]", "[0 ,\n0]")) {
            assertThat(m.matches(ok)).as(ok).isTrue();
        }
        for (String bad : List.of("[", "[01]", "[1,]", "[12345]", "[-0]", "[1] ", "x")) {
            assertThat(m.matches(bad)).as(bad).isFalse();
        }
        Matcher any = new Matcher(Gbnf.parse("root ::= \"<\" [^>]+ \">\" | . \"!\"\n"));
        assertThat(any.matches("<é✓>")).isTrue();
        assertThat(any.matches("日!")).isTrue();
        assertThat(any.matches("<>")).isFalse();
        assertThat(any.matches("\n!")).isFalse();
        // alternatives may continue on the next line after a '|', or begin it
        Matcher lines = new Matcher(Gbnf.parse("root ::= \"a\" |\n  \"b\"\n  | \"c\"\n"));
        assertThat(List.of("a", "b", "c").stream().allMatch(lines::matches)).isTrue();
    }

    @Test
    void gbnfErrorsNameWhatAndWhere() {
        assertThatThrownBy(() -> Gbnf.parse("root ::= foo\n")).isInstanceOf(GrammarException.class).hasMessageContaining("'foo'");
        assertThatThrownBy(() -> Gbnf.parse("root ::= root \"a\" | \"b\"\n")).hasMessageContaining("left-recursive");
        assertThatThrownBy(() -> Gbnf.parse("root ::= x\nx ::= y \"a\"\ny ::= \"\" | x\n")).hasMessageContaining("left-recursive");
        assertThatThrownBy(() -> Gbnf.parse("root ::= \"a\"\nnope \"b\"\n")).hasMessageContaining("line 2");
        assertThatThrownBy(() -> Gbnf.parse("start ::= \"a\"\n")).hasMessageContaining("no rule named 'root'");
        assertThatThrownBy(() -> Gbnf.parse("root ::= [z-a]\n")).hasMessageContaining("reversed");
        assertThatThrownBy(() -> Gbnf.parse("root ::= \"a\" root\n")).hasMessageContaining("can never end");
    }

    static final List<String> PATTERNS = List.of("a(b|c)*d", "[a-c]{2,3}x?", "(ab|a)(bc|c)", "\\d+(\\.\\d{1,2})?", "[^ab]c|a+", "(a|b)*abb",
            "x{3}", "(?:ab)+c?", "[\\w-]{1,3}", "a?b?c?", "(a*b*)*c", "[.\\]]+");

    @Test
    void regexMatchesWhatJavaRegexMatches() {
        SplittableRandom rnd = new SplittableRandom(11);
        String alphabet = "abcdx0-19.] _";
        for (String p : PATTERNS) {
            Matcher m = new Matcher(Regex.compile(p));
            Pattern ref = Pattern.compile(p);
            for (int k = 0; k < 400; k++) {
                int len = rnd.nextInt(7);
                StringBuilder sb = new StringBuilder();
                for (int i = 0; i < len; i++) {
                    sb.append(alphabet.charAt(rnd.nextInt(alphabet.length())));
                }
                String t = sb.toString();
                assertThat(m.matches(t)).as("/%s/ on '%s'", p, t).isEqualTo(ref.matcher(t).matches());
            }
            // and every sentence the grammar makes is one the reference matches
            for (int k = 0; k < 50; k++) {
                String t = GrammarTestSupport.randomSentence(m, rnd, 40, 0.3);
                assertThat(ref.matcher(t).matches()).as("/%s/ made '%s'", p, t).isTrue();
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"(?=a)b", "a\\1", "\\bword", "a{3,1}", "(ab", "ab)", "*a", "a+++", "a*{2}", "a{2}{3}"})
    void regexRefusesWhatItCannotDoByName(String p) {
        assertThatThrownBy(() -> Regex.compile(p)).isInstanceOf(GrammarException.class).hasMessageContaining("pattern /" + p);
    }

    @Test
    void nestedRepetitionsStayBoundedInTime() {
        // ((((a+)+)+)...)+ is exponentially ambiguous; each step's expansion is bounded (a fuzzing finding: a+++...+ hung)
        String p = "(".repeat(40) + "a+" + ")+".repeat(40) + "b";
        Matcher m = new Matcher(Regex.compile(p));
        long t0 = System.nanoTime();
        assertThat(m.matches("aaaaab")).isTrue();
        assertThat(m.matches("aaaaa")).isFalse();
        assertThat((System.nanoTime() - t0) / 1e9).as("seconds").isLessThan(20);
        assertThatThrownBy(() -> Regex.compile("a" + "+".repeat(100))).isInstanceOf(GrammarException.class).hasMessageContaining("multiple repeat");
    }

    @Test
    void bytesAreUtf8AndAPartialCharacterMustBeAbleToFinish() {
        Matcher m = new Matcher(Regex.compile("[é-ê]x|日本"));
        byte[] e = "é".getBytes(StandardCharsets.UTF_8);
        Matcher.State s = m.initial.advance(e[0]);
        assertThat(s.isDead()).isFalse();
        assertThat(s.canEnd()).isFalse();
        assertThat(s.advance(e[1]).advance('x').canEnd()).isTrue();
        assertThat(m.initial.advance(0xC3).advance(0xA0).isDead()).as("à is outside é-ê").isTrue();
        assertThat(m.initial.advance(0xC4).isDead()).as("no character starting 0xC4 is allowed").isTrue();
        assertThat(m.initial.advance(0xFF).isDead()).as("never a UTF-8 byte").isTrue();
        assertThat(m.matches("日本")).isTrue();
        assertThat(m.initial.advance("日").minBytes).isEqualTo(3);
    }

    @Test
    void minBytesIsTheShortestCompletion() {
        Matcher m = new Matcher(Gbnf.parse("root ::= \"ab\" x | \"abcdef\"\nx ::= \"c\"{2} | \"é\"\n"));
        assertThat(m.grammar().minBytes()).isEqualTo(4);
        assertThat(m.initial.minBytes).isEqualTo(4);
        assertThat(m.initial.advance("ab").minBytes).isEqualTo(2);
        assertThat(m.initial.advance("abc").minBytes).isEqualTo(1);
        assertThat(m.initial.advance("abcc").minBytes).isZero();
        assertThat(m.initial.advance("abcc").isTerminal()).isTrue();
    }

    @Test
    void equalStatesAreOneObjectAndRepetitionKeepsTheStackFlat() {
        Matcher m = new Matcher(Gbnf.parse("root ::= \"\\\"\" [a-z]* \"\\\"\"\n"));
        Matcher.State a = m.initial.advance("\"abc");
        Matcher.State b = m.initial.advance("\"zyxwvutsrqponm");
        assertThat(a).isSameAs(b);
        assertThat(m.states()).isLessThan(6);
    }

    @Test
    void choicesAreExactlyTheirStrings() {
        Matcher m = new Matcher(Constraint.choice(List.of("yes", "no", "not sure")).grammar());
        assertThat(List.of("yes", "no", "not sure").stream().allMatch(m::matches)).isTrue();
        assertThat(m.matches("not")).isFalse();
        assertThat(m.matches("yess")).isFalse();
        assertThat(m.initial.advance("no").canEnd()).isTrue();
        assertThat(m.initial.advance("no").isTerminal()).as("'no' may go on to 'not sure'").isFalse();
    }
}
