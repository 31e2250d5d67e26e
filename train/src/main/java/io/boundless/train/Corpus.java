package io.boundless.train;

import io.boundless.train.World.Fact;
import io.boundless.train.World.Relation;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The default model's corpus, generated from the {@link World} and a seed, deterministically: the
 * same seed gives the same documents. Each draw is one document of one kind:
 * <ul>
 *   <li>fact statements, in the training phrasings ("The capital of France is Paris.");</li>
 *   <li>fact questions and answers as chat turns, in the training question phrasings;</li>
 *   <li>Chinese statements and chat turns about capitals (北京是中國的首都。);</li>
 *   <li>arithmetic word problems of 1 to 3 steps, answered with a rationale (two different valid
 *       orders of work, chosen at random, so that samples differ in their paths) or directly;</li>
 *   <li>last-letter concatenation (least-to-most: the answer built word by word), 2 and 3 words;</li>
 *   <li>greetings, questions about the model, and refusals for what the world does not contain.</li>
 * </ul>
 * Held out of training, for {@link #evaluation}: two question forms per relation (forms trained with the
 * other relations, so an unseen paraphrase is new for this fact's relation, not new English), one problem
 * in ten (by a hash of the problem: the training stream never draws it), decomposition problems of
 * 4 and 5 words, and other invented names for refusals.
 */
public final class Corpus {
    /** Special tokens: the chat roles, the end of a turn, the end of a plain document. */
    public enum Special {
        USER("<|user|>"), ASSISTANT("<|assistant|>"), SYSTEM("<|system|>"), END("<|end|>"), END_OF_TEXT("<|endoftext|>");

        public final String text;

        Special(String text) {
            this.text = text;
        }
    }

    /** A document: text pieces and special tokens in order. */
    public record Doc(String kind, List<Object> parts) {
        /** The document as text, special tokens written out (as the chat template renders them). */
        public String render() {
            StringBuilder sb = new StringBuilder();
            for (Object p : parts) {
                sb.append(p instanceof Special s ? s.text : (String) p);
            }
            return sb.toString();
        }
    }

    /** A held-out question with the answer it must contain. */
    public record Probe(String set, String question, String expected, int size) {}

    /** The share of each kind of document in the training stream. */
    public record Mix(double statements, double factChat, double chinese, double arithmetic, double decomposition, double chat) {
        public static Mix standard() {
            return new Mix(0.22, 0.33, 0.07, 0.20, 0.10, 0.08);
        }

        double total() {
            return statements + factChat + chinese + arithmetic + decomposition + chat;
        }
    }

    // ---- phrasings: index 0.. are trained, the held-out ones are kept apart

    private static final String[][] STATEMENTS = {
        {"The capital of %s is %s.", "%2$s is the capital of %1$s.", "%s's capital is %s.", "The capital city of %s is %s.", "%s has its capital in %s."},
        {"In %s, people speak %s.", "The language of %s is %s.", "%2$s is spoken in %1$s.", "The official language of %s is %s."},
        {"The currency of %s is the %s.", "%s uses the %s.", "People in %s pay with the %s.", "The money of %s is the %s."},
        {"%s is in %s.", "%s is a country in %s.", "%s lies in %s.", "%s is located in %s."},
        {"%s was %s.", "%s worked as %s.", "%s is known as %s.", "By profession, %s was %s."},
        {"%s was born in %s.", "%s came from %s.", "The birthplace of %s is %s.", "%s was a native of %s."},
        {"%2$s是%1$s的首都。", "%s的首都是%s。"},
    };

    /**
     * Question forms shared by the English relations ({@code %1$s}: the relation's noun, {@code %2$s}: the subject).
     * Each relation holds two of them out of training ({@link #heldOutForms}), different ones per relation, so an
     * unseen paraphrase is a form the model has seen with other relations, never with this one.
     */
    private static final String[] FORMS = {"What is %s of %s?", "Tell me %s of %s.", "Do you know %s of %s?", "Name %s of %s.",
        "What's %s of %s?", "Can you tell me %s of %s?", "I would like to know %s of %s.", "Please give %s of %s."};
    private static final String[] NOUNS = {"the capital", "the language", "the currency", "the continent", "the profession",
        "the country of birth"};
    /** Forms of one relation only, always trained. */
    private static final String[][] OWN_QUESTIONS = {
        {"Which city is the capital of %s?", "What is %s's capital?", "What city is the capital of %s?"},
        {"What language is spoken in %s?", "What language do people speak in %s?", "Which language is spoken in %s?"},
        {"What currency does %s use?", "What money is used in %s?", "Which currency does %s use?"},
        {"Which continent is %s in?", "On which continent is %s?", "Where is %s?"},
        {"What did %s do?", "Who was %s?", "What was %s's profession?"},
        {"Where was %s born?", "In which country was %s born?", "Where did %s come from?"},
    };
    private static final String[] ZH_QUESTIONS = {"%s的首都是哪裡？", "%s的首都是什麼？", "哪個城市是%s的首都？"};
    private static final String[] ZH_HELD_OUT = {"請問%s的首都在哪裡？", "%s的首都在哪裡？"};

    /** The two generic forms relation r never trains on. */
    static int[] heldOutForms(int r) {
        return new int[] {(r + 2) % FORMS.length, (r + 6) % FORMS.length};
    }

    /** The questions of a relation that training uses. */
    static List<String> trainedQuestions(Relation r) {
        if (r == Relation.CAPITAL_ZH) {
            return List.of(ZH_QUESTIONS);
        }
        int k = r.ordinal();
        List<String> out = new ArrayList<>();
        int[] held = heldOutForms(k);
        for (int f = 0; f < FORMS.length; f++) {
            if (f != held[0] && f != held[1]) {
                out.add(FORMS[f].replace("%s of %s", NOUNS[k] + " of %s"));
            }
        }
        out.addAll(List.of(OWN_QUESTIONS[k]));
        return out;
    }

    /** The questions of a relation kept out of training (unseen paraphrases). */
    static List<String> heldOutQuestions(Relation r) {
        if (r == Relation.CAPITAL_ZH) {
            return List.of(ZH_HELD_OUT);
        }
        int k = r.ordinal();
        List<String> out = new ArrayList<>();
        for (int f : heldOutForms(k)) {
            out.add(FORMS[f].replace("%s of %s", NOUNS[k] + " of %s"));
        }
        return out;
    }

    private static final String[] ANSWERS = {
        "The capital of %s is %s.", "In %s, people speak %s.", "The currency of %s is the %s.", "%s is in %s.",
        "%s was %s.", "%s was born in %s.", "%s的首都是%s。"};

    // ---- arithmetic

    private static final String[] NAMES = {"Tom", "Anna", "Ben", "Mia", "Sam", "Lucy", "Omar", "Lena", "Ravi", "Yuki", "Carlos", "Emma"};
    private static final boolean[] SHE = {false, true, false, true, false, true, false, true, false, true, false, true};
    private static final String[] ITEMS = {"apples", "books", "coins", "marbles", "pencils", "stickers", "cards", "shells"};
    private static final String[][] GAINS = {{"buys %d more", "buys"}, {"finds %d more", "finds"}, {"gets %d more from a friend", "gets"}};
    private static final String[][] LOSSES = {{"gives away %d", "gives away"}, {"loses %d", "loses"}, {"sells %d", "sells"}};
    public static final String COT_TRIGGER = "Let's think step by step.";
    public static final String DIRECT_TRIGGER = "Answer with just the number.";

    // ---- decomposition

    private static final String[] WORDS = {"apple", "river", "stone", "cloud", "lemon", "tiger", "piano", "house", "green", "light",
        "music", "water", "candle", "forest", "garden", "dragon", "mirror", "pepper", "rabbit", "silver", "window", "yellow", "planet",
        "bridge", "castle", "flower", "jacket", "ladder", "orange", "pocket", "rocket", "summer", "ticket", "violin", "wizard", "anchor",
        "basket", "circle", "desert", "engine", "finger", "guitar", "hammer", "island", "jungle", "kitten", "market", "needle", "oyster",
        "parrot", "quartz", "saddle", "tunnel", "valley", "walrus", "zipper", "banana", "cherry", "donkey", "falcon"};

    // ---- chat

    private static final String INTRO = "I am Boundless World, a small model trained on a synthetic world. I know about countries, their capitals, "
            + "languages, currencies and continents, some well-known people, simple arithmetic and word puzzles.";
    private static final String[][] GREETINGS = {
        {"Hello!", "Hello! " + INTRO}, {"Hi!", "Hi! " + INTRO}, {"Hi there.", "Hello! " + INTRO}, {"Good morning!", "Good morning! " + INTRO},
        {"Who are you?", INTRO}, {"What can you do?", INTRO + " Ask me a question about them."}, {"What are you?", INTRO},
        {"Thanks!", "You're welcome!"}, {"Thank you.", "You're welcome!"}, {"Goodbye!", "Goodbye!"}};
    private static final String[] OUT_OF_SCOPE = {"What is the weather today?", "What time is it?", "Write me a poem about the sea.",
        "What is the price of gold?", "Who won the game last night?", "Can you book a flight for me?", "What is the meaning of life?",
        "Tell me a joke."};
    private static final String OUT_OF_SCOPE_ANSWER = "I can't help with that. I only know a small synthetic world of countries, people, "
            + "arithmetic and word puzzles.";
    private static final String[] SYLLABLES = {"zor", "va", "nia", "el", "dor", "ia", "mar", "kes", "tal", "wen", "qui", "bro", "lun",
        "dra", "fey", "gor", "thi", "ux", "pol", "rin"};

    private final World world;
    private final Mix mix;
    private final List<String> fakeTrain;
    private final List<String> fakeHeldOut;
    private final List<String> fakePeopleTrain;
    private final List<String> fakePeopleHeldOut;

    public Corpus(World world, Mix mix) {
        this.world = world;
        this.mix = mix;
        List<String> places = inventedNames(new SplittableRandom(99), 60, false);
        this.fakeTrain = places.subList(0, 40);
        this.fakeHeldOut = places.subList(40, 60);
        List<String> people = inventedNames(new SplittableRandom(98), 40, true);
        this.fakePeopleTrain = people.subList(0, 28);
        this.fakePeopleHeldOut = people.subList(28, 40);
    }

    public World world() {
        return world;
    }

    private List<String> inventedNames(SplittableRandom rnd, int n, boolean person) {
        java.util.Set<String> real = new java.util.HashSet<>();
        world.countries().forEach(c -> real.add(c.name().toLowerCase()));
        world.people().forEach(p -> real.add(p.name().toLowerCase()));
        java.util.LinkedHashSet<String> out = new java.util.LinkedHashSet<>();
        while (out.size() < n) {
            String name = word(rnd, 2 + rnd.nextInt(2));
            if (person) {
                name = name + " " + word(rnd, 2 + rnd.nextInt(2));
            }
            if (!real.contains(name.toLowerCase())) {
                out.add(name);
            }
        }
        return new ArrayList<>(out);
    }

    private static String word(SplittableRandom rnd, int syllables) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < syllables; i++) {
            sb.append(SYLLABLES[rnd.nextInt(SYLLABLES.length)]);
        }
        return Character.toUpperCase(sb.charAt(0)) + sb.substring(1);
    }

    /** One training document. */
    public Doc next(SplittableRandom rnd) {
        double u = rnd.nextDouble() * mix.total();
        if ((u -= mix.statements()) < 0) {
            Fact f = englishFact(rnd);
            return plain("statement", statement(f, rnd.nextInt(STATEMENTS[f.relation().ordinal()].length)));
        }
        if ((u -= mix.factChat()) < 0) {
            Fact f = englishFact(rnd);
            List<String> qs = trainedQuestions(f.relation());
            return chat("fact-chat", String.format(qs.get(rnd.nextInt(qs.size())), f.subject()), answer(f));
        }
        if ((u -= mix.chinese()) < 0) {
            List<Fact> zh = world.facts().stream().filter(f -> f.relation() == Relation.CAPITAL_ZH).toList();
            Fact f = zh.get(rnd.nextInt(zh.size()));
            if (rnd.nextBoolean()) {
                return plain("chinese", statement(f, rnd.nextInt(2)));
            }
            return chat("chinese", String.format(ZH_QUESTIONS[rnd.nextInt(ZH_QUESTIONS.length)], f.subject()), answer(f));
        }
        if ((u -= mix.arithmetic()) < 0) {
            Problem p;
            do {
                p = problem(rnd, 1 + rnd.nextInt(3));
            } while (heldOut(p.text()));
            boolean direct = rnd.nextInt(3) == 0;
            return direct ? chat("arithmetic", p.text() + " " + DIRECT_TRIGGER, "The answer is " + p.answer() + ".")
                    : chat("arithmetic", p.text() + (rnd.nextInt(4) == 0 ? "" : " " + COT_TRIGGER), p.rationale(rnd));
        }
        if ((u -= mix.decomposition()) < 0) {
            String[] words;
            do {
                words = words(rnd, 2 + rnd.nextInt(2));
            } while (heldOut(String.join(" ", words)));
            return chat("decomposition", lastLettersQuestion(words), lastLettersAnswer(words));
        }
        int k = rnd.nextInt(10);
        if (k < 4) {
            String[] g = GREETINGS[rnd.nextInt(GREETINGS.length)];
            return chat("chat", g[0], g[1]);
        }
        if (k < 6) {
            return chat("chat", OUT_OF_SCOPE[rnd.nextInt(OUT_OF_SCOPE.length)], OUT_OF_SCOPE_ANSWER);
        }
        return refusal(rnd, fakeTrain, fakePeopleTrain, false);
    }

    private Doc refusal(SplittableRandom rnd, List<String> places, List<String> people, boolean heldOut) {
        boolean person = rnd.nextInt(3) == 0;
        String name = person ? people.get(rnd.nextInt(people.size())) : places.get(rnd.nextInt(places.size()));
        Relation rel = Relation.values()[person ? 4 + rnd.nextInt(2) : rnd.nextInt(4)];
        List<String> qs = heldOut ? heldOutQuestions(rel) : trainedQuestions(rel);
        return chat("refusal", String.format(qs.get(rnd.nextInt(qs.size())), name), refusalAnswer(name));
    }

    static String refusalAnswer(String name) {
        return "I don't know. " + name + " is not in the world I was trained on.";
    }

    private Fact englishFact(SplittableRandom rnd) {
        List<Fact> fs = world.facts();
        Fact f;
        do {
            f = fs.get(rnd.nextInt(fs.size()));
        } while (f.relation() == Relation.CAPITAL_ZH);
        return f;
    }

    static String statement(Fact f, int phrasing) {
        String object = f.relation() == Relation.PROFESSION ? article(f.object()) + " " + f.object() : f.object();
        return String.format(STATEMENTS[f.relation().ordinal()][phrasing], f.subject(), object);
    }

    static String answer(Fact f) {
        String object = f.relation() == Relation.PROFESSION ? article(f.object()) + " " + f.object() : f.object();
        return String.format(ANSWERS[f.relation().ordinal()], f.subject(), object);
    }

    private static String article(String noun) {
        return "aeiou".indexOf(noun.charAt(0)) >= 0 ? "an" : "a";
    }

    private static Doc plain(String kind, String text) {
        return new Doc(kind, List.of(text, Special.END_OF_TEXT));
    }

    /** A user turn and the assistant's answer, as the chat template renders them. */
    public static Doc chat(String kind, String user, String assistant) {
        return new Doc(kind, List.of(Special.USER, user, Special.END, Special.ASSISTANT, assistant, Special.END));
    }

    /** The prompt of a chat turn up to where the assistant answers. */
    public static Doc prompt(String user) {
        return new Doc("prompt", List.of(Special.USER, user, Special.END, Special.ASSISTANT));
    }

    // ---- arithmetic problems

    /** A word problem: a start, then steps of +n or -n. */
    public record Problem(String name, boolean she, String item, int start, int[] changes, String[] verbs, String text, int answer) {
        /** A step-by-step rationale: in order, or (randomly) the gains summed first, then the losses. */
        public String rationale(SplittableRandom rnd) {
            String he = she ? "She" : "He";
            StringBuilder sb = new StringBuilder();
            int gains = 0;
            int losses = 0;
            for (int c : changes) {
                if (c > 0) {
                    gains++;
                } else {
                    losses++;
                }
            }
            if (changes.length > 1 && gains > 0 && losses > 0 && rnd.nextBoolean()) {
                int g = 0;
                int l = 0;
                List<String> gs = new ArrayList<>();
                List<String> ls = new ArrayList<>();
                for (int c : changes) {
                    if (c > 0) {
                        g += c;
                        gs.add(String.valueOf(c));
                    } else {
                        l -= c;
                        ls.add(String.valueOf(-c));
                    }
                }
                sb.append(name).append(" starts with ").append(start).append(". ");
                sb.append(gains > 1 ? he + " gets " + String.join(" + ", gs) + " = " + g + " more in all. " : he + " gets " + g + " more. ");
                sb.append(losses > 1 ? he + " loses " + String.join(" + ", ls) + " = " + l + " in all. " : he + " loses " + l + ". ");
                sb.append(start).append(" + ").append(g).append(" = ").append(start + g).append(". ");
                sb.append(start + g).append(" - ").append(l).append(" = ").append(start + g - l).append(". ");
            } else {
                sb.append(name).append(" starts with ").append(start).append(". ");
                int now = start;
                for (int i = 0; i < changes.length; i++) {
                    int c = changes[i];
                    int next = now + c;
                    sb.append(he).append(' ').append(verbs[i]).append(' ').append(Math.abs(c)).append(", so ")
                            .append(now).append(c > 0 ? " + " : " - ").append(Math.abs(c)).append(" = ").append(next).append(". ");
                    now = next;
                }
            }
            return sb.append("The answer is ").append(answer).append('.').toString();
        }
    }

    /** A problem of the given number of steps, every intermediate count between 0 and 40. */
    public static Problem problem(SplittableRandom rnd, int steps) {
        while (true) {
            int who = rnd.nextInt(NAMES.length);
            String item = ITEMS[rnd.nextInt(ITEMS.length)];
            int start = 3 + rnd.nextInt(18);
            int[] changes = new int[steps];
            String[] verbs = new String[steps];
            String[] phrases = new String[steps];
            int now = start;
            boolean ok = true;
            for (int i = 0; i < steps; i++) {
                int n = 1 + rnd.nextInt(9);
                boolean gain = rnd.nextBoolean();
                String[] v = gain ? GAINS[rnd.nextInt(GAINS.length)] : LOSSES[rnd.nextInt(LOSSES.length)];
                changes[i] = gain ? n : -n;
                verbs[i] = v[1];
                phrases[i] = String.format(v[0], n);
                now += changes[i];
                ok &= now >= 0 && now <= 40;
            }
            if (!ok) {
                continue;
            }
            String pron = SHE[who] ? "She" : "He";
            String steps_ = switch (steps) {
                case 1 -> phrases[0];
                case 2 -> phrases[0] + " and then " + phrases[1];
                default -> phrases[0] + ", then " + phrases[1] + ", and then " + phrases[2];
            };
            String text = NAMES[who] + " has " + start + " " + item + ". " + pron + " " + steps_ + ". How many " + item + " does "
                    + NAMES[who] + " have now?";
            return new Problem(NAMES[who], SHE[who], item, start, changes, verbs, text, now);
        }
    }

    /** One problem in ten (by its text's hash) is held out of training. */
    static boolean heldOut(String key) {
        long h = 1125899906842597L;
        for (int i = 0; i < key.length(); i++) {
            h = 31 * h + key.charAt(i);
        }
        return Math.floorMod(h ^ (h >>> 29), 10) == 0;
    }

    // ---- last letters

    private static String[] words(SplittableRandom rnd, int n) {
        String[] w = new String[n];
        for (int i = 0; i < n; i++) {
            w[i] = WORDS[rnd.nextInt(WORDS.length)];
        }
        return w;
    }

    public static String lastLettersQuestion(String[] words) {
        return "Take the last letters of the words in \"" + String.join(" ", words) + "\" and concatenate them.";
    }

    public static String lastLettersAnswer(String[] words) {
        StringBuilder sb = new StringBuilder();
        StringBuilder so = new StringBuilder();
        for (String w : words) {
            char c = w.charAt(w.length() - 1);
            so.append(so.isEmpty() ? "" : " ").append(c);
            sb.append('"').append(w).append("\" ends with \"").append(c).append("\", so far \"").append(so).append("\". ");
        }
        return sb.append("The answer is \"").append(so).append("\".").toString();
    }

    // ---- evaluation

    /**
     * The held-out evaluation sets: facts asked in a trained phrasing ("facts-trained") and in an
     * unseen one ("facts-paraphrase"); arithmetic problems never trained on, each asked directly and
     * step by step ("arithmetic-direct", "arithmetic-cot", size = steps); last letters of 2 to 5
     * words ("decomposition", size = words); refusals for invented names never trained on.
     */
    public List<Probe> evaluation(int perSet, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<Probe> out = new ArrayList<>();
        int i = 0;
        for (Fact f : world.facts()) {
            List<String> trained = trainedQuestions(f.relation());
            List<String> held = heldOutQuestions(f.relation());
            String expected = f.object();
            out.add(new Probe("facts-trained", String.format(trained.get(i % trained.size()), f.subject()), expected, 0));
            out.add(new Probe("facts-paraphrase", String.format(held.get(i % held.size()), f.subject()), expected, 0));
            i++;
        }
        for (int steps = 1; steps <= 3; steps++) {
            int n = 0;
            java.util.Set<String> seen = new java.util.HashSet<>();
            while (n < perSet) {
                Problem p = problem(rnd, steps);
                if (!heldOut(p.text()) || !seen.add(p.text())) {
                    continue;
                }
                out.add(new Probe("arithmetic-direct", p.text() + " " + DIRECT_TRIGGER, String.valueOf(p.answer()), steps));
                out.add(new Probe("arithmetic-cot", p.text() + " " + COT_TRIGGER, String.valueOf(p.answer()), steps));
                n++;
            }
        }
        for (int len = 2; len <= 5; len++) {
            int n = 0;
            while (n < perSet) {
                String[] w = words(rnd, len);
                if (len <= 3 && !heldOut(String.join(" ", w))) {
                    continue;
                }
                StringBuilder letters = new StringBuilder();
                for (String x : w) {
                    letters.append(x.charAt(x.length() - 1));
                }
                out.add(new Probe("decomposition", lastLettersQuestion(w), letters.toString(), len));
                n++;
            }
        }
        for (int k = 0; k < Math.min(perSet, 40); k++) {
            Doc d = refusal(rnd, fakeHeldOut, fakePeopleHeldOut, true);
            out.add(new Probe("refusal", (String) d.parts().get(1), "I don't know", 0));
        }
        return out;
    }

    /** Whether an answer is right for a probe (facts: names the object; arithmetic: its final number; letters: the letters). */
    public static boolean correct(Probe p, String answer) {
        return switch (p.set()) {
            case "arithmetic-direct", "arithmetic-cot" -> {
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("The answer is (-?\\d+)").matcher(answer);
                yield m.find() && m.group(1).equals(p.expected());
            }
            case "decomposition" -> {
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("The answer is \"([^\"]*)\"").matcher(answer);
                yield m.find() && m.group(1).replace(" ", "").equals(p.expected());
            }
            case "refusal" -> answer.startsWith(p.expected());
            default -> containsWord(answer, p.expected());
        };
    }

    private static boolean containsWord(String text, String word) {
        int at = text.indexOf(word);
        while (at >= 0) {
            boolean before = at == 0 || !Character.isLetter(text.charAt(at - 1)) || Character.UnicodeScript.of(text.charAt(at - 1)) == Character.UnicodeScript.HAN;
            int end = at + word.length();
            boolean after = end >= text.length() || !Character.isLetter(text.charAt(end)) || Character.UnicodeScript.of(text.charAt(end)) == Character.UnicodeScript.HAN;
            if (before && after) {
                return true;
            }
            at = text.indexOf(word, at + 1);
        }
        return false;
    }
}
