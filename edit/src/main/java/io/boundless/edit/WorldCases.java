package io.boundless.edit;

import io.boundless.train.World;
import java.util.ArrayList;
import java.util.List;

/**
 * The CounterFact-style evaluation set of the default model's world: for each country, its capital (and its
 * language) rewritten to another country's, with two paraphrases in the phrasings the model was trained on and ten
 * neighbors — other countries asked the same way, each with its own true object (for languages, countries that speak
 * the same language come first, as in CounterFact).
 */
public final class WorldCases {
    private WorldCases() {}

    public static List<Evaluation.Case> capitals(World w) {
        List<World.Country> cs = w.countries();
        List<Evaluation.Case> out = new ArrayList<>();
        for (int i = 0; i < cs.size(); i++) {
            World.Country c = cs.get(i);
            World.Country other = cs.get((i * 7 + 13) % cs.size() == i ? (i + 1) % cs.size() : (i * 7 + 13) % cs.size());
            EditRequest r = new EditRequest("The capital of {subject} is", c.name(), other.capital(), c.capital());
            List<Evaluation.Neighbor> nb = new ArrayList<>();
            for (int k = 1; nb.size() < 10 && k < cs.size(); k++) {
                World.Country n = cs.get((i + k * 5) % cs.size());
                if (n != c && !n.capital().equals(other.capital())) {
                    nb.add(new Evaluation.Neighbor("The capital of " + n.name() + " is", n.capital()));
                }
            }
            out.add(new Evaluation.Case(r, List.of("The capital city of {subject} is", "{subject} has its capital in"), nb,
                    List.of("The capital of {subject} is", "{subject} is")));
        }
        return out;
    }

    public static List<Evaluation.Case> languages(World w) {
        List<World.Country> cs = w.countries();
        List<Evaluation.Case> out = new ArrayList<>();
        List<String> langs = cs.stream().map(World.Country::language).distinct().sorted().toList();
        for (int i = 0; i < cs.size(); i++) {
            World.Country c = cs.get(i);
            String other = langs.get((langs.indexOf(c.language()) + 3) % langs.size());
            EditRequest r = new EditRequest("In {subject}, people speak", c.name(), other, c.language());
            List<Evaluation.Neighbor> nb = new ArrayList<>();
            for (World.Country n : cs) {  // the same true language first
                if (n != c && n.language().equals(c.language()) && nb.size() < 10) {
                    nb.add(new Evaluation.Neighbor("In " + n.name() + ", people speak", n.language()));
                }
            }
            for (int k = 1; nb.size() < 10 && k < cs.size(); k++) {
                World.Country n = cs.get((i + k * 5) % cs.size());
                if (n != c && !n.language().equals(other) && !n.language().equals(c.language())) {
                    nb.add(new Evaluation.Neighbor("In " + n.name() + ", people speak", n.language()));
                }
            }
            out.add(new Evaluation.Case(r, List.of("The language of {subject} is", "The official language of {subject} is"), nb,
                    List.of("In {subject}, people speak", "{subject} is")));
        }
        return out;
    }
}
