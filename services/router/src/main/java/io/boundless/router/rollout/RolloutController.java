package io.boundless.router.rollout;

import java.time.Duration;
import java.util.List;
import java.util.function.Function;

/**
 * A canary rollout of one model, as Argo Rollouts' canary strategy spells it: steps of {@code setWeight},
 * {@code pause} and {@code analysis}, phases Healthy, Progressing, Paused and Degraded, a progress deadline, and
 * manual pause, resume, promote and abort. Plain code driven by {@link #tick} with the time, whether the canary's
 * replicas are ready, and its analysis; the router applies the weights it returns and the replica manager drains
 * what it retires.
 *
 * <ul>
 * <li>A canary gets no traffic before one of its replicas is ready (kserve#5983); one that is not ready within the
 * progress deadline ends the rollout Degraded, stable untouched.
 * <li>An analysis step passes on PASS, holds on INCONCLUSIVE (too little traffic fails nothing and promotes
 * nothing) and pauses after {@code inconclusiveLimit} inconclusive windows in a row; a FAIL rolls back at once:
 * weight 0, Degraded, the message naming the metric and both figures.
 * <li>After the last step the canary is promoted: it becomes stable at 100% and the old version is retired.
 * </ul>
 * Not thread-safe: the controller's thread calls it.
 */
public final class RolloutController {

    public sealed interface Step permits SetWeight, Pause, Analysis {}

    /** Send this percentage of the traffic to the canary. */
    public record SetWeight(int weight) implements Step {
        public SetWeight {
            if (weight < 0 || weight > 100) {
                throw new IllegalArgumentException("setWeight is 0 to 100, not " + weight);
            }
        }
    }

    /** Wait this long, or (null) until resumed. */
    public record Pause(Duration duration) implements Step {}

    /** Compare canary and stable over this window; pass to go on. */
    public record Analysis(Duration window) implements Step {}

    public enum Phase { HEALTHY, PROGRESSING, PAUSED, DEGRADED }

    /** What the rollout is doing, for status and for the router's weights. */
    public record Status(Phase phase, String stable, String canary, int canaryWeight, int step, String message, CanaryAnalysis.Result lastAnalysis,
            String retired) {}

    private final List<Step> steps;
    private final Duration progressDeadline;
    private final int inconclusiveLimit;

    private String stable;
    private String canary;
    private String retired;
    private Phase phase = Phase.HEALTHY;
    private int step;
    private int weight;
    private long startedAt;
    private long stepStartedAt;
    private boolean ready;
    private boolean manualPause;
    private long pausedAt;
    private int inconclusive;
    private String message = "";
    private CanaryAnalysis.Result lastAnalysis;

    public RolloutController(String stable, List<Step> steps, Duration progressDeadline, int inconclusiveLimit) {
        this.stable = stable;
        this.steps = List.copyOf(steps);
        this.progressDeadline = progressDeadline;
        this.inconclusiveLimit = inconclusiveLimit;
        this.message = "serving " + stable;
    }

    /** Starts rolling out a new version (a rollout in progress is replaced: its canary gets no more traffic). */
    public Status start(String version, long now) {
        if (version.equals(stable)) {
            throw new IllegalArgumentException("version " + version + " is already stable");
        }
        canary = version;
        retired = null;
        phase = Phase.PROGRESSING;
        step = 0;
        weight = 0;
        startedAt = now;
        stepStartedAt = now;
        ready = false;
        manualPause = false;
        inconclusive = 0;
        lastAnalysis = null;
        message = "waiting for " + version + " to be ready";
        return status();
    }

    /**
     * Takes up a rollout an earlier controller had reached (a new leader, from the resource's status): the canary at
     * {@code step} with {@code weight}; a timed step starts over, and the progress deadline counts from now.
     */
    public Status restore(String version, Phase phase, int step, int weight, long now) {
        start(version, now);
        this.step = Math.max(0, Math.min(step, steps.size()));
        this.weight = weight;
        this.ready = phase != Phase.PROGRESSING || weight > 0 || step > 0;
        this.phase = phase;
        if (phase == Phase.PAUSED) {
            pausedAt = now;
            manualPause = true;
        }
        if (phase == Phase.DEGRADED) {
            this.weight = 0;
        }
        message = switch (phase) {
            case DEGRADED -> "rolled back " + version + " (before this router led); " + stable + " keeps all traffic";
            case PAUSED -> "paused at step " + (this.step + 1) + ", canary at " + weight + "% (taken over from the previous leader)";
            default -> "canary " + version + " at " + weight + "%, step " + (this.step + 1) + " (taken over from the previous leader)";
        };
        return status();
    }

    /**
     * Advances the rollout at {@code now}: {@code canaryReady} says whether a canary replica serves; {@code analyze}
     * compares canary and stable over the window it is given (the analysis step's, ending now).
     */
    public Status tick(long now, boolean canaryReady, Function<Duration, CanaryAnalysis.Result> analyze) {
        if (phase != Phase.PROGRESSING || canary == null) {
            return status();
        }
        if (!ready) {
            if (!canaryReady) {
                if (now - startedAt > progressDeadline.toMillis()) {
                    phase = Phase.DEGRADED;
                    weight = 0;
                    message = "version " + canary + " was not ready within the progress deadline of " + progressDeadline.toSeconds()
                            + " s; " + stable + " keeps all traffic";
                }
                return status();
            }
            ready = true;
            stepStartedAt = now;
        }
        while (phase == Phase.PROGRESSING && step < steps.size()) {
            Step s = steps.get(step);
            switch (s) {
                case SetWeight w -> {
                    weight = w.weight();
                    next(now, "canary " + canary + " at " + weight + "%");
                }
                case Pause p -> {
                    if (p.duration() == null) {
                        phase = Phase.PAUSED;
                        pausedAt = now;
                        message = "paused at step " + (step + 1) + " until resumed";
                        return status();
                    }
                    if (now - stepStartedAt < p.duration().toMillis()) {
                        return status();
                    }
                    next(now, "paused " + p.duration().toSeconds() + " s");
                }
                case Analysis a -> {
                    if (now - stepStartedAt < a.window().toMillis()) {
                        return status();
                    }
                    lastAnalysis = analyze.apply(a.window());
                    switch (lastAnalysis.verdict()) {
                        case PASS -> {
                            inconclusive = 0;
                            next(now, "analysis passed: " + lastAnalysis.reason());
                        }
                        case FAIL -> {
                            phase = Phase.DEGRADED;
                            weight = 0;
                            message = "rolled back " + canary + ": " + lastAnalysis.reason();
                            return status();
                        }
                        case INCONCLUSIVE -> {
                            stepStartedAt = now; // another window
                            if (++inconclusive >= inconclusiveLimit) {
                                phase = Phase.PAUSED;
                                pausedAt = now;
                                message = inconclusive + " analyses in a row were inconclusive (" + lastAnalysis.reason()
                                        + "); paused at " + weight + "%: resume, promote or abort";
                            } else {
                                message = "holding at " + weight + "%: " + lastAnalysis.reason();
                            }
                            return status();
                        }
                    }
                }
            }
        }
        if (phase == Phase.PROGRESSING) {
            promoteNow("every step passed");
        }
        return status();
    }

    private void next(long now, String what) {
        step++;
        stepStartedAt = now;
        message = what;
    }

    private void promoteNow(String why) {
        retired = stable;
        stable = canary;
        canary = null;
        weight = 0;
        phase = Phase.HEALTHY;
        message = "promoted " + stable + " (" + why + "); draining " + retired;
    }

    public Status pause(long now) {
        if (phase == Phase.PROGRESSING) {
            phase = Phase.PAUSED;
            manualPause = true;
            pausedAt = now;
            message = "paused by an operator at step " + (step + 1) + ", canary at " + weight + "%";
        }
        return status();
    }

    public Status resume(long now) {
        if (phase == Phase.PAUSED) {
            phase = Phase.PROGRESSING;
            stepStartedAt += now - pausedAt; // a timed step does not count the paused time
            if (step < steps.size() && steps.get(step) instanceof Pause p && p.duration() == null && !manualPause) {
                step++;
                stepStartedAt = now;
            }
            manualPause = false;
            inconclusive = 0;
            message = "resumed at step " + (step + 1);
        }
        return status();
    }

    /**
     * An operator sets the canary's weight by hand: the rollout pauses there (resume goes on with the steps from where
     * it was, and the next setWeight step sets its own weight).
     */
    public Status setWeight(long now, int w) {
        if (canary == null || phase == Phase.HEALTHY || phase == Phase.DEGRADED) {
            throw new IllegalStateException("no rollout in progress: " + stable + " is stable");
        }
        new SetWeight(w); // checks the range
        weight = w;
        if (phase != Phase.PAUSED) {
            pausedAt = now;
        }
        phase = Phase.PAUSED;
        manualPause = true;
        message = "canary " + canary + " set to " + w + "% by an operator; paused at step " + (step + 1);
        return status();
    }

    /** The number of steps. */
    public int steps() {
        return steps.size();
    }

    public Status promote(long now) {
        if (canary == null) {
            throw new IllegalStateException("no rollout in progress: " + stable + " is stable");
        }
        promoteNow("promoted by an operator");
        return status();
    }

    public Status abort(long now, String who) {
        if (canary == null || phase == Phase.HEALTHY) {
            throw new IllegalStateException("no rollout in progress: " + stable + " is stable");
        }
        phase = Phase.DEGRADED;
        weight = 0;
        message = "aborted by " + who + "; " + stable + " keeps all traffic";
        return status();
    }

    /** The version serving all traffic outside a rollout (after a promotion: the promoted one). */
    public String stable() {
        return stable;
    }

    /** The version being rolled out, or null. */
    public String canary() {
        return canary;
    }

    public Status status() {
        return new Status(phase, stable, canary, weight, step, message, lastAnalysis, retired);
    }

    /** The router's split now: stable and, during a rollout, the canary first (so its sticky range only grows). */
    public VersionSelector selector() {
        return canary == null || weight == 0 ? new VersionSelector(List.of(new VersionSelector.Weighted(stable, 100)))
                : new VersionSelector(List.of(new VersionSelector.Weighted(canary, weight), new VersionSelector.Weighted(stable, 100 - weight)));
    }
}
