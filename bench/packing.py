"""Document lengths for the benchmark scripts (no third-party imports)."""
import math


def lognormal_lengths(tokens, median, draw):
    """Lognormal(median, sigma 1) lengths of at least 1 summing to `tokens`
    (the last one cut to fit); draw(mu, sigma) samples the lognormal, from
    the caller's generator (numpy's rng.lognormal, random's lognormvariate)."""
    out, total = [], 0
    while total < tokens:
        l = max(1, int(round(draw(math.log(median), 1.0))))
        l = min(l, tokens - total)
        out.append(l)
        total += l
    return out
