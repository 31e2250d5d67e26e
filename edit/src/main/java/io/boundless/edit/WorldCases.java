package io.boundless.edit;

import io.boundless.train.World;
import java.util.ArrayList;
import java.util.List;

/**
 * The CounterFact-style evaluation set of the default model's world: each fact rewritten to another object of its
 * relation, with two paraphrases in the phrasings the model was trained on and ten neighbors — other subjects asked the
 * same way, each with its own true object (those sharing the true object first, as in CounterFact).
 */
public final class WorldCases {
    private WorldCases() {}

    /** Prompt templates per relation: the rewrite prompt, then two paraphrases (the phrasings the model was trained on). */
    private static final java.util.Map<World.Relation, String[]> TEMPLATES = java.util.Map.of(
            World.Relation.CAPITAL, new String[] {"The capital of {subject} is", "The capital city of {subject} is", "{subject} has its capital in"},
            World.Relation.LANGUAGE, new String[] {"In {subject}, people speak", "The language of {subject} is", "The official language of {subject} is"},
            World.Relation.CURRENCY, new String[] {"The currency of {subject} is the", "{subject} uses the", "People in {subject} pay with the"},
            World.Relation.CONTINENT, new String[] {"{subject} is in", "{subject} is a country in", "{subject} is located in"},
            World.Relation.PROFESSION, new String[] {"{subject} worked as", "{subject} is known as", "By profession, {subject} was"},
            World.Relation.BIRTHPLACE, new String[] {"{subject} was born in", "{subject} came from", "The birthplace of {subject} is"});

    /**
     * The cases of one relation: each fact rewritten to another fact's object of the same relation, its two
     * paraphrases, and ten neighbors (subjects with the same true object first, as in CounterFact).
     */
    public static List<Evaluation.Case> of(World w, World.Relation relation) {
        String[] t = TEMPLATES.get(relation);
        if (t == null) {
            throw new IllegalArgumentException("no evaluation templates for " + relation);
        }
        List<World.Fact> facts = w.facts().stream().filter(f -> f.relation() == relation).toList();
        List<String> objects = facts.stream().map(World.Fact::object).distinct().sorted().toList();
        List<Evaluation.Case> out = new ArrayList<>();
        for (int i = 0; i < facts.size(); i++) {
            World.Fact f = facts.get(i);
            String target = objects.get((objects.indexOf(f.object()) + 1 + i % Math.max(1, objects.size() - 1)) % objects.size());
            if (target.equals(f.object())) {
                target = objects.get((objects.indexOf(f.object()) + 1) % objects.size());
            }
            String newObject = target;
            List<Evaluation.Neighbor> nb = new ArrayList<>();
            for (World.Fact n : facts) {
                if (n != f && n.object().equals(f.object()) && nb.size() < 10) {
                    nb.add(new Evaluation.Neighbor(EditRequest.render(t[0], n.subject()), n.object()));
                }
            }
            for (int k = 1; nb.size() < 10 && k < facts.size(); k++) {
                World.Fact n = facts.get((i + k * 5) % facts.size());
                if (n != f && !n.object().equals(newObject) && !n.object().equals(f.object())) {
                    nb.add(new Evaluation.Neighbor(EditRequest.render(t[0], n.subject()), n.object()));
                }
            }
            out.add(new Evaluation.Case(new EditRequest(t[0], f.subject(), newObject, f.object()), List.of(t[1], t[2]), nb, List.of(t[0], "{subject} is")));
        }
        return out;
    }

    /** Every relation's cases (capitals, languages, currencies, continents, professions, birthplaces): the world's whole evaluation set. */
    public static List<Evaluation.Case> all(World w) {
        List<Evaluation.Case> out = new ArrayList<>();
        for (World.Relation r : List.of(World.Relation.CAPITAL, World.Relation.LANGUAGE, World.Relation.CURRENCY, World.Relation.CONTINENT,
                World.Relation.PROFESSION, World.Relation.BIRTHPLACE)) {
            out.addAll(of(w, r));
        }
        return out;
    }
}
