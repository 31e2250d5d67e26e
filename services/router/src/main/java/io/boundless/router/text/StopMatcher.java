package io.boundless.router.text;

import java.util.List;

/**
 * Stop strings over streamed text. Text that could still turn out to be the start of a stop string
 * is held back until the next delta decides it; at a match, the text before the match is released
 * and the match and everything after it are dropped.
 */
public final class StopMatcher {
    private final List<String> stops;
    private final StringBuilder pending = new StringBuilder();
    private boolean stopped;

    public StopMatcher(List<String> stops) {
        this.stops = stops.stream().filter(s -> !s.isEmpty()).toList();
    }

    /** What this delta releases. After a match: the text before it, and {@link #stopped()} is true. */
    public String add(String delta) {
        if (stopped) {
            return "";
        }
        if (stops.isEmpty()) {
            return delta;
        }
        pending.append(delta);
        int first = -1;
        for (String s : stops) {
            int at = pending.indexOf(s);
            if (at >= 0 && (first < 0 || at < first)) {
                first = at;
            }
        }
        if (first >= 0) {
            stopped = true;
            String out = pending.substring(0, first);
            pending.setLength(0);
            return out;
        }
        int keep = heldBack();
        String out = pending.substring(0, pending.length() - keep);
        pending.delete(0, pending.length() - keep);
        return out;
    }

    /** At the end of the text: the held-back rest (it matched no stop string). */
    public String finish() {
        String out = stopped ? "" : pending.toString();
        pending.setLength(0);
        return out;
    }

    public boolean stopped() {
        return stopped;
    }

    /** The longest suffix of pending that is a proper prefix of some stop string. */
    private int heldBack() {
        int best = 0;
        for (String s : stops) {
            for (int k = Math.min(s.length() - 1, pending.length()); k > best; k--) {
                if (pending.substring(pending.length() - k).equals(s.substring(0, k))) {
                    best = k;
                    break;
                }
            }
        }
        return best;
    }
}
