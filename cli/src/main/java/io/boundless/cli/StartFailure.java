package io.boundless.cli;

import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Why a service stopped during start-up, read from what it logged: the services say "cannot start:
 * &lt;reason&gt;" for a configuration they cannot run (an unsupported model, a backend that is not here);
 * otherwise the first ERROR line is the reason (a port in use), and where the JVM itself failed,
 * its own "Error..." line.
 */
final class StartFailure {
    /** The services' console format: {@code HH:mm:ss.SSS LEVEL [category] message}. */
    private static final Pattern ERROR = Pattern.compile("^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} ERROR +\\[[^\\]]*\\] (.+)$");
    private static final String CANNOT_START = "cannot start: ";

    /** The reason in a service's log output since it was launched, or null when it logged none. */
    static String reason(String log) {
        List<String> lines = log.lines().toList();
        String firstError = null;
        for (String line : lines) {
            Matcher m = ERROR.matcher(line);
            if (m.matches()) {
                String message = m.group(1).strip();
                int at = message.indexOf(CANNOT_START);
                if (at >= 0) {
                    return message.substring(at + CANNOT_START.length());
                }
                if (firstError == null) {
                    firstError = message;
                }
            }
        }
        if (firstError != null) {
            return firstError;
        }
        for (String line : lines) {
            if (line.startsWith("Error") || line.startsWith("Exception in thread")) {
                return line.strip();
            }
        }
        return null;
    }

    private StartFailure() {}
}
