package io.boundless.engine.train;

/**
 * Linear warmup to the peak learning rate, then a cosine decay to minLr at totalSteps (and minLr
 * after, should a run go on).
 */
public record Schedule(double peakLr, double minLr, long warmupSteps, long totalSteps) {
    public Schedule {
        if (peakLr <= 0 || minLr < 0 || minLr > peakLr || warmupSteps < 0 || totalSteps <= warmupSteps) {
            throw new IllegalArgumentException("a schedule needs 0 <= minLr <= peakLr, peakLr > 0 and 0 <= warmup < total steps: " + this);
        }
    }

    /** The learning rate of step (0-based). */
    public double lr(long step) {
        if (step < warmupSteps) {
            return peakLr * (step + 1) / warmupSteps;
        }
        if (step >= totalSteps) {
            return minLr;
        }
        double progress = (double) (step - warmupSteps) / (totalSteps - warmupSteps);
        return minLr + 0.5 * (peakLr - minLr) * (1 + Math.cos(Math.PI * progress));
    }
}
