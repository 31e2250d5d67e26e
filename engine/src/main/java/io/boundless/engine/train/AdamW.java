package io.boundless.engine.train;

import java.util.List;

/**
 * AdamW (decoupled weight decay, Loshchilov and Hutter) with bias correction, over a model's
 * parameters, with the learning rate of a {@link Schedule} and gradients clipped to a global L2 norm.
 * Its moments are state a checkpoint keeps, so a resumed run continues exactly.
 */
public final class AdamW {
    /** Hyperparameters: peak learning rate comes from the schedule. */
    public record Settings(double beta1, double beta2, double eps, double weightDecay, double clipNorm) {
        public static Settings defaults() {
            return new Settings(0.9, 0.95, 1e-8, 0.1, 1.0);
        }
    }

    private final List<TrainModel.Param> params;
    private final Settings s;
    private final float[][] m;  // first moments, one per parameter
    private final float[][] v;  // second moments
    private long step;

    public AdamW(List<TrainModel.Param> params, Settings settings) {
        this.params = params;
        this.s = settings;
        this.m = new float[params.size()][];
        this.v = new float[params.size()][];
        for (int i = 0; i < params.size(); i++) {
            m[i] = new float[params.get(i).size()];
            v[i] = new float[params.get(i).size()];
        }
    }

    public List<TrainModel.Param> params() {
        return params;
    }

    public long steps() {
        return step;
    }

    /** The first and second moments of parameter i (for checkpoints). */
    public float[] firstMoment(int i) {
        return m[i];
    }

    public float[] secondMoment(int i) {
        return v[i];
    }

    /** Restores the step count after moments were loaded into {@link #firstMoment} / {@link #secondMoment}. */
    public void restoreSteps(long steps) {
        this.step = steps;
    }

    /** The global L2 norm of the gradients, summed in a fixed order. */
    public double gradNorm() {
        double ss = 0;
        for (TrainModel.Param p : params) {
            double part = 0;
            for (float g : p.g()) {
                part += (double) g * g;
            }
            ss += part;
        }
        return Math.sqrt(ss);
    }

    /**
     * One update at learning rate lr: gradients scaled down to the clip norm if above it, then the
     * AdamW step. Returns the gradient norm before clipping.
     */
    public double step(double lr) {
        double norm = gradNorm();
        double clip = s.clipNorm() > 0 && norm > s.clipNorm() ? s.clipNorm() / norm : 1.0;
        step++;
        double bc1 = 1 - Math.pow(s.beta1(), step);
        double bc2 = 1 - Math.pow(s.beta2(), step);
        float b1 = (float) s.beta1();
        float b2 = (float) s.beta2();
        for (int i = 0; i < params.size(); i++) {
            TrainModel.Param p = params.get(i);
            float[] w = p.w();
            float[] g = p.g();
            float[] mi = m[i];
            float[] vi = v[i];
            float decay = p.decay() ? (float) (1 - lr * s.weightDecay()) : 1f;
            float stepSize = (float) (lr / bc1);
            float sqrtBc2 = (float) Math.sqrt(bc2);
            float eps = (float) s.eps();
            float cl = (float) clip;
            for (int j = 0; j < w.length; j++) {
                float gj = g[j] * cl;
                mi[j] = b1 * mi[j] + (1 - b1) * gj;
                vi[j] = b2 * vi[j] + (1 - b2) * gj * gj;
                w[j] = w[j] * decay - stepSize * mi[j] / ((float) Math.sqrt(vi[j]) / sqrtBc2 + eps);
            }
        }
        return norm;
    }
}
