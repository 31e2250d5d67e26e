package io.boundless.fuzz;

import io.boundless.engine.grammar.Constraint;
import io.boundless.engine.grammar.GrammarException;
import io.boundless.engine.grammar.Matcher;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * Structured-output constraints as requests bring them: a JSON schema, a regex, a GBNF grammar or choices (the first
 * byte picks), compiled, then the matcher walked over the bytes after the first NUL — as decoding would feed it.
 */
public final class GrammarFuzz {
    public static void fuzzerTestOneInput(byte[] data) {
        if (data.length == 0) {
            return;
        }
        int split = 1;
        while (split < data.length && data[split] != 0) {
            split++;
        }
        String spec = new String(data, 1, split - 1, StandardCharsets.UTF_8);
        byte[] text = split < data.length ? Arrays.copyOfRange(data, split + 1, data.length) : new byte[0];
        try {
            Constraint c = switch (data[0] & 3) {
                case 0 -> Constraint.jsonSchema(spec);
                case 1 -> Constraint.regex(spec);
                case 2 -> Constraint.grammar(spec);
                default -> Constraint.choice(List.of(spec.split("\\|", -1)));
            };
            Matcher m = new Matcher(c.grammar());
            Matcher.State s = m.initial;
            for (byte b : text) {
                s = s.advance(b & 0xff);
                if (s.isDead()) {
                    break;
                }
            }
        } catch (GrammarException e) {
            Findings.allow(e, GrammarException.class);
        }
    }
}
