package io.boundless.fuzz;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Coverage-guided fuzzing with Jazzer (libFuzzer for the JVM), one JVM per target: every parser that takes outside
 * input runs for boundless.fuzz.seconds (5 in the build; bin/fuzz runs longer), instrumented for coverage of
 * io.boundless, from its seeds and regression inputs under testdata/fuzz/<target>/. A finding — an exception that is
 * not the parser's documented refusal, an Error, a hang over 10 s, more than 2 GB — fails the test with the input
 * (Base64) and a reproducer written under target/fuzz/<target>/; fixing it comes with the input added to the target's
 * directory in testdata, which {@link FuzzRegressionTest} replays in every build.
 *
 * Each run's figures (executions, executions per second, coverage, corpus) go to target/fuzz/summary.tsv.
 */
class ParserFuzzTest {
    private static final Pattern STAT = Pattern.compile("stat::(\\w+):\\s+(\\d+)");
    private static final Pattern COV = Pattern.compile("cov: (\\d+) ft: (\\d+) corp: (\\d+)");

    @TestFactory
    Stream<DynamicTest> everyParserSurvivesFuzzing() throws IOException {
        int seconds = Integer.parseInt(System.getProperty("boundless.fuzz.seconds", "5").isBlank() ? "5" : System.getProperty("boundless.fuzz.seconds"));
        String only = System.getProperty("boundless.fuzz.only", "");
        Path out = Path.of(System.getProperty("boundless.fuzz.out", "target/fuzz"));
        Files.createDirectories(out);
        Path summary = out.resolve("summary.tsv");
        Files.writeString(summary, "target\tseconds\texecutions\texec_per_s\tcoverage\tfeatures\tcorpus\tfindings\n");
        return Targets.ALL.stream().filter(t -> only.isBlank() || only.equals(t.name())).map(t -> DynamicTest.dynamicTest(t.name(), () -> run(t, seconds, out, summary)));
    }

    private static void run(Targets.Target t, int seconds, Path out, Path summary) throws Exception {
        Path dir = out.resolve(t.name());
        Path corpus = dir.resolve("corpus");
        Files.createDirectories(corpus);
        try (Stream<Path> old = Files.list(dir)) {  // a past run's findings
            for (Path f : old.filter(f -> f.getFileName().toString().matches("(crash|timeout|oom|slow-unit)-.*|Crash_.*\\.java")).toList()) {
                Files.delete(f);
            }
        }
        Path seeds = FuzzRegressionTest.inputs(t);
        String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(javaBin, "-Xmx1g", "-Xss1m", "-XX:+EnableDynamicAgentLoading", "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-Doffline=true", "-Dboundless.models=" + System.getProperty("boundless.models", "models"),
                "-cp", System.getProperty("java.class.path"), "com.code_intelligence.jazzer.Jazzer", "--target_class=" + t.className(),
                "--instrumentation_includes=io.boundless.**", "--reproducer_path=" + dir, "-artifact_prefix=" + dir + "/", "-max_total_time=" + seconds,
                "-timeout=10", "-rss_limit_mb=2560", "-max_len=65536", "-print_final_stats=1", "-seed=" + System.getProperty("boundless.fuzz.seed", "1")));
        Path dict = seeds.resolve("dictionary");
        if (Files.isRegularFile(dict)) {
            cmd.add("-dict=" + dict);
        }
        cmd.add(corpus.toString());
        Path seedInputs = seeds.resolve("seeds");
        if (Files.isDirectory(seedInputs)) {
            cmd.add(seedInputs.toString());
        }
        Path log = dir.resolve("jazzer.log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(seconds + 120L, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(t.name() + ": Jazzer did not end; see " + log);
        }
        String text = Files.readString(log);
        long execs = stat(text, "number_of_executed_units");
        long rate = stat(text, "average_exec_per_sec");
        Matcher cov = COV.matcher(text);
        String coverage = "-";
        String features = "-";
        String corp = "-";
        while (cov.find()) {
            coverage = cov.group(1);
            features = cov.group(2);
            corp = cov.group(3);
        }
        int rc = p.exitValue();
        Files.writeString(summary, String.join("\t", t.name(), String.valueOf(seconds), String.valueOf(execs), String.valueOf(rate), coverage, features, corp,
                rc == 0 ? "0" : "1") + "\n", java.nio.file.StandardOpenOption.APPEND);
        System.out.printf("fuzz %-16s %3d s  %,10d executions  %,7d/s  coverage %s  corpus %s  %s%n", t.name(), seconds, execs, rate, coverage, corp,
                rc == 0 ? "no findings" : "FINDING");
        if (rc != 0) {
            int at = text.indexOf("== Java Exception");
            if (at < 0) {
                at = Math.max(0, text.indexOf("==ERROR"));
            }
            String finding = text.substring(at, Math.min(text.length(), at + 4000));
            throw new AssertionError(t.name() + " (" + t.what() + "): a finding (exit " + rc + "); the input and a reproducer are in " + dir
                    + "; add the input to testdata/fuzz/" + t.name() + "/regressions/ with the fix\n" + finding);
        }
        assertThat(execs).as(t.name() + " ran").isPositive();
    }

    private static long stat(String text, String name) {
        Matcher m = STAT.matcher(text);
        long v = 0;
        while (m.find()) {
            if (m.group(1).equals(name)) {
                v = Long.parseLong(m.group(2));
            }
        }
        return v;
    }

    /** The target's entry point, for the regression replay. */
    static Method entry(Targets.Target t) throws ReflectiveOperationException {
        return Class.forName(t.className()).getMethod("fuzzerTestOneInput", byte[].class);
    }
}
