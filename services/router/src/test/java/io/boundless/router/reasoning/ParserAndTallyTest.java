package io.boundless.router.reasoning;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.proto.router.v1.AnswerParser;
import io.boundless.proto.router.v1.AnswerParserKind;
import io.boundless.proto.router.v1.VoteCount;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Answer parsers and the vote on fixed paths. */
class ParserAndTallyTest {
    static Parser parser(AnswerParserKind kind, String pattern, String choices) {
        return Parser.of(AnswerParser.newBuilder().setKind(kind).setPattern(pattern).setChoices(choices).build());
    }

    @Test
    void numbersPreferTheStatedAnswerThenTheLastNumber() {
        Parser p = parser(AnswerParserKind.ANSWER_PARSER_KIND_NUMBER, "", "");
        assertThat(p.parse("Tom starts with 12. He buys 5, so 12 + 5 = 17. The answer is 17.")).isEqualTo("17");
        assertThat(p.parse("The answer is 17. Check: 12 + 5 = 17, and 3 more is 20")).isEqualTo("17");
        assertThat(p.parse("12 + 5 = 17, so he has 17 apples")).isEqualTo("17");
        assertThat(p.parse("so the total is 1,250.")).isEqualTo("1250");
        assertThat(p.parse("Answer: -4")).isEqualTo("-4");
        assertThat(p.parse("the answer is 3.50 dollars")).isEqualTo("3.5");
        assertThat(p.parse("the answer is 12.0")).isEqualTo("12");
        assertThat(p.parse("the answer is 007")).isEqualTo("7");
        assertThat(p.parse("I don't know.")).isNull();
        // a cue followed by no nearby number falls back to the last number
        assertThat(p.parse("The answer is not obvious at all, but counting gives 9")).isEqualTo("9");
    }

    @Test
    void choicesYesNoAndRegex() {
        Parser c = parser(AnswerParserKind.ANSWER_PARSER_KIND_CHOICE, "", "ABCD");
        assertThat(c.parse("Option (A) is wrong, (C) fits. The answer is (C).")).isEqualTo("C");
        assertThat(c.parse("the answer is b")).isEqualTo("B");
        assertThat(c.parse("A) no. B) yes")).isEqualTo("B");
        assertThat(c.parse("The best choice is D")).isEqualTo("D");
        assertThat(c.parse("a cat sat")).isNull();
        assertThat(c.parse("The answer is (E).")).isNull();  // not a letter of ABCD

        Parser y = parser(AnswerParserKind.ANSWER_PARSER_KIND_YES_NO, "", "");
        assertThat(y.parse("No, wait. Yes, it is.")).isEqualTo("yes");
        assertThat(y.parse("So the answer is no, though yes would be nicer")).isEqualTo("no");
        assertThat(y.parse("That is true.")).isEqualTo("yes");
        assertThat(y.parse("Maybe.")).isNull();

        Parser r = parser(AnswerParserKind.ANSWER_PARSER_KIND_REGEX, "The answer is \"([^\"]*)\"", "");
        assertThat(r.parse("\"apple\" ends with \"e\", so far \"e\". The answer is \"e r\".")).isEqualTo("e r");
        assertThat(parser(AnswerParserKind.ANSWER_PARSER_KIND_REGEX, "[A-Z][a-z]+", "").parse("from Paris to Rome")).isEqualTo("Rome");
        assertThat(r.parse("no quotes")).isNull();
    }

    @Test
    void aPatternThatBacktracksWithoutEndGivesNoAnswerInsteadOfAHungThread() {
        Parser r = parser(AnswerParserKind.ANSWER_PARSER_KIND_REGEX, "(a+)+b", "");
        long t = System.nanoTime();
        assertThat(r.parse("a".repeat(40) + "c")).isNull();
        assertThat((System.nanoTime() - t) / 1e9).isLessThan(5);
    }

    @Test
    void badParsersAreRefusedWithTheReason() {
        assertThat(Parser.of(AnswerParser.getDefaultInstance())).isNull();
        assertThatThrownBy(() -> parser(AnswerParserKind.ANSWER_PARSER_KIND_REGEX, "", "")).hasMessageContaining("parser.pattern is required");
        assertThatThrownBy(() -> parser(AnswerParserKind.ANSWER_PARSER_KIND_REGEX, "(unclosed", "")).hasMessageContaining("not a valid regular expression");
        assertThatThrownBy(() -> parser(AnswerParserKind.ANSWER_PARSER_KIND_CHOICE, "", "A1")).hasMessageContaining("2 to 26 letters");
    }

    @Test
    void majorityVoteCountsPathsAndBreaksTiesByTheFirstAnswerSeen() {
        Tally t = new Tally(false);
        for (String a : new String[] {"7", "9", "7", null, "9", "8"}) {
            t.add(a, 0.5);
        }
        assertThat(t.voted()).isEqualTo(5);
        assertThat(t.unparsed()).isEqualTo(1);
        assertThat(t.leader()).isEqualTo("7");  // 7 and 9 have two each; 7 came first
        assertThat(t.confidence()).isEqualTo(0.4);
        List<VoteCount> c = t.counts();
        assertThat(c).extracting(VoteCount::getAnswer).containsExactly("7", "9", "8");
        assertThat(c).extracting(VoteCount::getVotes).containsExactly(2, 2, 1);
        assertThat(c.get(2).getShare()).isEqualTo(0.2);
    }

    @Test
    void weightedVoteCountsProbabilities() {
        Tally t = new Tally(true);
        t.add("7", 0.2);
        t.add("7", 0.2);
        t.add("9", 0.9);
        assertThat(t.leader()).isEqualTo("9");
        assertThat(t.confidence()).isCloseTo(0.9 / 1.3, org.assertj.core.data.Offset.offset(1e-12));
        Tally m = new Tally(false);
        m.add("7", 0.2);
        m.add("7", 0.2);
        m.add("9", 0.9);
        assertThat(m.leader()).isEqualTo("7");
    }

    @Test
    void theLeaderIsDecidedOnlyWhenThePathsLeftCannotTieIt() {
        Tally t = new Tally(false);
        t.add("7", 1);
        t.add("7", 1);
        t.add("7", 1);
        t.add("9", 1);
        assertThat(t.decided(1)).isTrue();   // 3 > 1 + 1
        assertThat(t.decided(2)).isFalse();  // 3 = 1 + 2: a tie is still possible
        Tally w = new Tally(true);
        w.add("7", 0.9);
        w.add("7", 0.9);
        w.add("9", 0.1);
        assertThat(w.decided(1)).isTrue();   // 1.8 > 0.1 + 1
        assertThat(w.decided(2)).isFalse();
        assertThat(new Tally(false).decided(0)).isFalse();
    }
}
