package io.boundless.train;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The synthetic world the default model is trained on: real countries (capital, language, currency,
 * continent; a third of them also with their Chinese names) and well-known people (profession,
 * country of birth), read from countries.tsv and people.tsv beside this class. Everything the
 * corpus says is one of these facts, an arithmetic or decomposition problem, or a chat turn.
 */
public final class World {
    public record Country(String name, String capital, String language, String currency, String continent, String zhName, String zhCapital) {
        public boolean hasChinese() {
            return zhName != null;
        }
    }

    public record Person(String name, String profession, String birthplace) {}

    /** The relations a fact can be about. */
    public enum Relation { CAPITAL, LANGUAGE, CURRENCY, CONTINENT, PROFESSION, BIRTHPLACE, CAPITAL_ZH }

    /** One fact: (subject, relation, object), e.g. (France, CAPITAL, Paris). */
    public record Fact(String subject, Relation relation, String object) {}

    private final List<Country> countries;
    private final List<Person> people;
    private final List<Fact> facts;

    private World(List<Country> countries, List<Person> people) {
        this.countries = List.copyOf(countries);
        this.people = List.copyOf(people);
        List<Fact> f = new ArrayList<>();
        for (Country c : countries) {
            f.add(new Fact(c.name(), Relation.CAPITAL, c.capital()));
            f.add(new Fact(c.name(), Relation.LANGUAGE, c.language()));
            f.add(new Fact(c.name(), Relation.CURRENCY, c.currency()));
            f.add(new Fact(c.name(), Relation.CONTINENT, c.continent()));
            if (c.hasChinese()) {
                f.add(new Fact(c.zhName(), Relation.CAPITAL_ZH, c.zhCapital()));
            }
        }
        for (Person p : people) {
            f.add(new Fact(p.name(), Relation.PROFESSION, p.profession()));
            f.add(new Fact(p.name(), Relation.BIRTHPLACE, p.birthplace()));
        }
        this.facts = List.copyOf(f);
    }

    /** The world as the project ships it. */
    public static World standard() {
        List<Country> cs = new ArrayList<>();
        for (String[] r : rows("countries.tsv", 7)) {
            cs.add(new Country(r[0], r[1], r[2], r[3], r[4], r[5].equals("-") ? null : r[5], r[6].equals("-") ? null : r[6]));
        }
        List<Person> ps = new ArrayList<>();
        for (String[] r : rows("people.tsv", 3)) {
            ps.add(new Person(r[0], r[1], r[2]));
        }
        return new World(cs, ps);
    }

    public List<Country> countries() {
        return countries;
    }

    public List<Person> people() {
        return people;
    }

    public List<Fact> facts() {
        return facts;
    }

    private static List<String[]> rows(String resource, int columns) {
        List<String[]> out = new ArrayList<>();
        try (InputStream in = World.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException(resource + " is missing from the classpath");
            }
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            String line;
            while ((line = r.readLine()) != null) {
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                String[] cols = line.split("\t");
                if (cols.length != columns) {
                    throw new IllegalStateException(resource + ": " + columns + " columns expected: " + line);
                }
                out.add(cols);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }
}
