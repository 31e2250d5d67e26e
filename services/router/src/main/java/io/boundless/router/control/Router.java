package io.boundless.router.control;

import io.boundless.router.rollout.VersionSelector;

/** What the controller tells the request path: how traffic splits over versions, and what keeps a user on one. */
public interface Router {
    void route(VersionSelector selector, String stable);

    void stickiness(String header, boolean user);
}
