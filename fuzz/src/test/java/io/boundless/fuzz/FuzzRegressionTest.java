package io.boundless.fuzz;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Every seed and every past finding of every fuzz target (testdata/fuzz/<target>/seeds and regressions), run through
 * the target in this JVM: a fixed finding stays fixed.
 */
class FuzzRegressionTest {

    static Path inputs(Targets.Target t) {
        return Path.of(System.getProperty("boundless.testdata", "testdata")).resolve("fuzz").resolve(t.name());
    }

    @TestFactory
    Stream<DynamicTest> everySeedAndPastFindingIsHandled() throws Exception {
        List<DynamicTest> tests = new java.util.ArrayList<>();
        for (Targets.Target t : Targets.ALL) {
            Method m = ParserFuzzTest.entry(t);
            for (String kind : List.of("seeds", "regressions")) {
                Path dir = inputs(t).resolve(kind);
                if (!Files.isDirectory(dir)) {
                    continue;
                }
                try (Stream<Path> files = Files.list(dir)) {
                    for (Path f : files.sorted().toList()) {
                        tests.add(DynamicTest.dynamicTest(t.name() + "/" + kind + "/" + f.getFileName(), () -> {
                            try {
                                m.invoke(null, (Object) Files.readAllBytes(f));
                            } catch (InvocationTargetException e) {
                                throw e.getCause();
                            }
                        }));
                    }
                }
            }
        }
        return tests.stream();
    }
}
